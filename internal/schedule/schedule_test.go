package schedule

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/seed-b62e15c8/qwenedit/internal/seeded"
)

// The root package's poll defaults (poll.go), the intervals the property
// test plans with, as a Client with no poll option does.
const (
	defaultPollInterval    = 3 * time.Second
	defaultMaxPollInterval = 10 * time.Second
)

// lateSlackWanted is issue 17's bound: a learned schedule polls no more
// than this after the default schedule would (checked here rather than
// with the package's constant, so the test states the promise).
const lateSlackWanted = 2 * time.Second

// scheduledPolls are the poll times (from the submit) a schedule plans for
// a task that is still running at horizon, when the wait starts start
// after the submit.
func scheduledPolls(s *Schedule, start, horizon time.Duration) []time.Duration {
	at := start + s.First(start)
	polls := []time.Duration{at}
	for at < horizon {
		at += s.Next(at)
		polls = append(polls, at)
	}
	return polls
}

// randomHistory is a history of 4 to 16 durations from one of several
// workloads: steady around a length from 1 s to 20 min (spread up to
// ±15 %), steady with outliers, or mixed.
func randomHistory(rng func() float64) []time.Duration {
	length := func() time.Duration { return time.Duration(math.Exp(rng()*math.Log(1200)) * float64(time.Second)) }
	d, spread := length(), 0.3*rng()
	n := minSamples + int(rng()*float64(HistorySize-minSamples+1))
	kind := int(rng() * 3)
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(float64(d) * (1 - spread/2 + spread*rng()))
		if kind == 1 && rng() < 0.15 || kind == 2 {
			out[i] = length()
		}
	}
	return out
}

// TestLearnedScheduleBoundProperty checks the bound on the schedule itself,
// over many random histories, jitter streams and wait starts: for every
// poll D of the default schedule, the learned schedule polls within
// [D, D + lateSlackWanted]. That is the bound for every completion time d:
// the default notices a task at its first poll D ≥ d, and the learned
// schedule's first poll at or after d is then at most D + lateSlackWanted.
func TestLearnedScheduleBoundProperty(t *testing.T) {
	rng := seeded.Jitter(17, 4)
	learnedSome := 0
	for trial := range 3000 {
		h := NewHistory()
		history := randomHistory(rng)
		for _, d := range history {
			h.finished(d)
		}
		start := time.Duration(0)
		if rng() < 0.3 { // Submit, then WaitForResult a while later
			start = time.Duration(rng() * float64(2*time.Minute))
		}
		horizon := 2*slices.Max(history) + time.Minute
		def := New(defaultPollInterval, defaultMaxPollInterval, seeded.Jitter(uint64(trial)), nil)
		learned := New(defaultPollInterval, defaultMaxPollInterval, seeded.Jitter(uint64(trial)), h)
		if learned.learned {
			learnedSome++
		}
		defPolls := scheduledPolls(def, start, horizon)
		polls := scheduledPolls(learned, start, horizon+lateSlackWanted)
		for _, d := range defPolls {
			i, _ := slices.BinarySearch(polls, d)
			if !assert.LessOrEqual(t, polls[i], d+lateSlackWanted, "trial %d, history %v, wait from %s: the default polls at %s, the learned schedule not until %s", trial, history, start, d, polls[i]) {
				return
			}
		}
	}
	assert.Greater(t, learnedSome, 500, "too few trials had a learned schedule to say anything")
}

// TestScheduleLearnClamp checks History.Learn alone: a server's duration
// is clamped to the bracket the Client saw; without one, the middle of a
// narrow bracket is recorded and a wide bracket records nothing. (The
// root's TestLearnKeepsToWhatTheClientSaw checks the same through a
// Client, from the server's timestamps.)
func TestScheduleLearnClamp(t *testing.T) {
	s := time.Second
	cases := []struct {
		lo, hi, server time.Duration
		want           []time.Duration
	}{
		{10 * s, 20 * s, 15 * s, []time.Duration{15 * s}},          // inside the bracket
		{3 * s, 6 * s, time.Hour, []time.Duration{6 * s}},          // after it: hi
		{10 * s, 12 * s, 2 * s, []time.Duration{10 * s}},           // before it: lo
		{100 * s, 110 * s, 0, []time.Duration{105 * s}},            // none, narrow bracket: its middle
		{100 * s, 110 * s, -time.Minute, []time.Duration{105 * s}}, // out of order, narrow bracket: its middle
		{3 * s, 6 * s, -time.Minute, nil},                          // out of order, wide bracket: nothing
		{3 * s, 6 * s, 0, nil},                                     // none, wide bracket: nothing
		{0, 0, 0, nil},                                             // a zero duration is not recorded
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("[%s,%s] server %s", tc.lo, tc.hi, tc.server), func(t *testing.T) {
			h := NewHistory()
			h.Learn(tc.lo, tc.hi, tc.server)
			assert.Equal(t, tc.want, h.Durations())
		})
	}
}
