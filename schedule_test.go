package qwenedit

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/seed-b62e15c8/qwenedit/internal/schedcsv"
	"github.com/seed-b62e15c8/qwenedit/internal/seeded"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// This file checks the claim behind the poll defaults (see poll.go and the
// README): for tasks of 5 s to 10 min, Edit's growing interval sends fewer
// GETs than the vendor example's fixed 5 s loop and notices a finished task
// sooner, on average, than the official CLI's fixed 20 s loop. It drives the
// real poller on a fake clock, and writes the table behind the docs' chart.
//
// Method, so that the numbers mean what they say:
//
//   - A task "of 30 s" does not finish at exactly 30.000 s. Were it to, the
//     20 s loop would poll at the very instant it finishes at 2 and 10 min
//     (notice delay 0), an artefact of round numbers. So every nominal
//     duration D stands for phaseSamples completion times spread evenly (cell
//     midpoints) over a window centred on D: one period of the slowest
//     baseline (20 s), narrowed to D itself for tasks shorter than that so no
//     task is shorter than D/2. Over such windows the baselines' means are
//     exact: half their interval (2.5 s and 10 s), or 20 s − D before the
//     20 s loop's first poll; TestPollScheduleBaselinesAreExact checks it.
//   - The SDK's ±10 % jitter is fed by jitterSeeds seeded deterministic
//     streams (splitmix64), one Edit run each, and the table holds the mean
//     over every run and completion time. The table is therefore
//     deterministic, and the committed CSV is compared with it (within
//     printing precision).
//   - Requests are GETs (the one POST is the same for every schedule).
//     Notice delay is the fake time of the GET that first saw "completed"
//     minus the time the task completed.

// update makes the tests that derive committed files rewrite them.
var update = flag.Bool("update", false, "rewrite committed data files (docs/data/*.csv) from what the tests compute")

// scheduleCSV is the table the docs' chart is drawn from.
var scheduleCSV = filepath.Join("docs", "data", "poll-schedule.csv")

// The schedules compared, as named in the CSV.
const (
	schedSDK     = "sdk-default"
	schedFixed5  = "fixed-5s"
	schedFixed20 = "fixed-20s"
)

// scheduleDurations are the task lengths the schedule is judged on.
var scheduleDurations = []time.Duration{5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute}

const (
	phaseSamples = 40               // completion times per nominal duration
	phaseWindow  = 20 * time.Second // one period of the slowest baseline
	jitterSeeds  = 100              // jitter streams (SDK runs) per nominal duration
)

// scheduleRow is one line of the table (the docs' CSV row): means over
// every run of one schedule for one nominal duration.
type scheduleRow = schedcsv.Row

// TestPollSchedule computes the table, rewrites the committed CSV with
// -update, checks the committed CSV is current (so the docs cannot go stale)
// and asserts the two targets at every duration.
func TestPollSchedule(t *testing.T) {
	rows := pollScheduleTable(t)
	logScheduleTable(t, rows)
	if *update {
		require.NoError(t, schedcsv.Write(scheduleCSV, rows))
	}
	t.Run("committed CSV is current", func(t *testing.T) {
		committed, err := schedcsv.Read(scheduleCSV)
		require.NoError(t, err, "run: go test -run TestPollSchedule -update .")
		require.Len(t, committed, len(rows), "run: go test -run TestPollSchedule -update .")
		for i, want := range rows {
			got := committed[i]
			assert.Equal(t, want.Schedule, got.Schedule, "row %d", i)
			assert.Equal(t, want.Duration, got.Duration, "row %d", i)
			// The file holds 3 decimals; allow for that rounding only.
			assert.InDelta(t, want.Requests, got.Requests, 1e-3, "row %d requests: run go test -run TestPollSchedule -update .", i)
			assert.InDelta(t, want.NoticeDelay, got.NoticeDelay, 1e-3, "row %d notice delay: run go test -run TestPollSchedule -update .", i)
		}
	})
	byKey := map[string]scheduleRow{}
	for _, r := range rows {
		byKey[r.Schedule+"/"+r.Duration.String()] = r
	}
	for _, d := range scheduleDurations {
		sdk, f5, f20 := byKey[schedSDK+"/"+d.String()], byKey[schedFixed5+"/"+d.String()], byKey[schedFixed20+"/"+d.String()]
		t.Run("targets/"+d.String(), func(t *testing.T) {
			assert.Less(t, sdk.Requests, f5.Requests, "a %s task: the SDK must send fewer GETs than the fixed 5 s loop", d)
			assert.Less(t, sdk.NoticeDelay, f20.NoticeDelay, "a %s task: the SDK must notice completion sooner (mean, s) than the fixed 20 s loop", d)
		})
	}
}

// TestPollScheduleDriver checks the harness itself: on a schedule worked out
// by hand, and on the shortcut sdkRow takes.
func TestPollScheduleDriver(t *testing.T) {
	req := validRequest(t)
	s := time.Second
	// No jitter, a task finishing at 30 s: Edit sleeps 3 s, then follows
	// WaitForResult's 3, 4.5, 6.75, 10, 10 ...
	noJitter := func() float64 { return 0.5 }
	assert.Equal(t, []time.Duration{3 * s, 6 * s, 10500 * time.Millisecond, 17250 * time.Millisecond, 27250 * time.Millisecond, 37250 * time.Millisecond},
		sdkPollTimes(t, req, 30*s, noJitter))
	assert.Equal(t, []time.Duration{0, 5 * s, 10 * s, 15 * s, 20 * s, 25 * s, 30 * s}, fixedLoopPollTimes(5*s, 30*s))
	assert.Equal(t, []time.Duration{0, 20 * s, 40 * s}, fixedLoopPollTimes(20*s, 30*s))
	assert.Equal(t, scheduleRow{Requests: 6, NoticeDelay: 7.25}, meanOverCompletions(sdkPollTimes(t, req, 30*s, noJitter), []time.Duration{30 * s}))

	// A run whose task completes late polls like a run whose task completes
	// earlier, up to the GET that sees the earlier completion.
	for seed := range uint64(3) {
		long := sdkPollTimes(t, req, 130*s, seeded.Jitter(99, seed))
		for _, done := range []time.Duration{time.Second, 4 * s, 31 * s, 125 * s} {
			direct := sdkPollTimes(t, req, done, seeded.Jitter(99, seed))
			require.LessOrEqual(t, len(direct), len(long))
			assert.Equal(t, long[:len(direct)], direct, "seed %d, task of %s", seed, done)
		}
	}
}

// TestPollScheduleBaselinesAreExact checks that the completion windows give
// the fixed loops their textbook mean delay, so the table has no sampling
// bias against them.
func TestPollScheduleBaselinesAreExact(t *testing.T) {
	for _, d := range scheduleDurations {
		f5 := fixedLoopRow(schedFixed5, 5*time.Second, d)
		f20 := fixedLoopRow(schedFixed20, 20*time.Second, d)
		assert.InDelta(t, 2.5, f5.NoticeDelay, 1e-9, "fixed 5 s, %s", d)
		want20 := 10.0
		if d < phaseWindow {
			want20 = (20*time.Second - d).Seconds() // before the first poll the delay falls linearly
		}
		assert.InDelta(t, want20, f20.NoticeDelay, 1e-9, "fixed 20 s, %s", d)
	}
}

// pollScheduleTable computes every row, in the CSV's order: by duration,
// then SDK, fixed 5 s, fixed 20 s.
func pollScheduleTable(t *testing.T) []scheduleRow {
	t.Helper()
	req := validRequest(t)
	var rows []scheduleRow
	for _, d := range scheduleDurations {
		rows = append(rows,
			sdkRow(t, req, d),
			fixedLoopRow(schedFixed5, 5*time.Second, d),
			fixedLoopRow(schedFixed20, 20*time.Second, d),
		)
	}
	return rows
}

// completionTimes spreads the completion of a task of nominal duration d over
// its window (see the file comment), at the midpoints of phaseSamples cells.
func completionTimes(d time.Duration) []time.Duration {
	width := min(phaseWindow, d)
	start := d - width/2
	out := make([]time.Duration, phaseSamples)
	for k := range out {
		out[k] = start + time.Duration(2*k+1)*width/(2*phaseSamples)
	}
	return out
}

// sdkRow averages Edit with the default poll options over every completion
// time and jitter seed. One run per seed is enough: until the task completes
// the poller sees the same "processing" answers whatever the completion time,
// so a run whose task completes at the end of the window polls at the very
// times that a run with any earlier completion would, up to the GET that sees
// it (TestPollScheduleDriver checks this against direct runs).
func sdkRow(t *testing.T, req *EditRequest, d time.Duration) scheduleRow {
	t.Helper()
	times := completionTimes(d)
	var sum scheduleRow
	for s := range jitterSeeds {
		polls := sdkPollTimes(t, req, times[len(times)-1], seeded.Jitter(uint64(d), uint64(s)))
		r := meanOverCompletions(polls, times)
		sum.Requests += r.Requests
		sum.NoticeDelay += r.NoticeDelay
	}
	return scheduleRow{Schedule: schedSDK, Duration: d, Requests: sum.Requests / jitterSeeds, NoticeDelay: sum.NoticeDelay / jitterSeeds}
}

// fixedLoopRow averages a fixed loop over the same completion times as the
// SDK's row.
func fixedLoopRow(name string, interval, d time.Duration) scheduleRow {
	times := completionTimes(d)
	r := meanOverCompletions(fixedLoopPollTimes(interval, times[len(times)-1]), times)
	r.Schedule, r.Duration = name, d
	return r
}

// meanOverCompletions is the mean GET count and notice delay (seconds) of a
// schedule that polls at polls (offsets from the submit, ascending, the last
// one at or after every completion time) for tasks completing at times.
func meanOverCompletions(polls, times []time.Duration) scheduleRow {
	var gets int
	var delay time.Duration
	for _, done := range times {
		i := sort.Search(len(polls), func(i int) bool { return polls[i] >= done })
		gets += i + 1
		delay += polls[i] - done
	}
	n := float64(len(times))
	return scheduleRow{Requests: float64(gets) / n, NoticeDelay: delay.Seconds() / n}
}

// sdkPollTimes drives the real Edit on a fake clock against a responder that
// says "processing" until done has passed since the submit, and "completed"
// from then on. It returns the time of every GET, as offsets from the submit.
func sdkPollTimes(t *testing.T, req *EditRequest, done time.Duration, jitter func() float64) []time.Duration {
	t.Helper()
	c, mt, clk := mockClient(t, WithJitter(jitter))
	var submitted time.Time
	mt.RegisterResponder(http.MethodPost, submitURL, func(r *http.Request) (*http.Response, error) {
		submitted = clk.Now()
		return jsonResponder(http.StatusAccepted, pendingJS)(r)
	})
	var polls []time.Duration
	mt.RegisterResponder(http.MethodGet, taskURL, func(r *http.Request) (*http.Response, error) {
		at := clk.Now().Sub(submitted)
		polls = append(polls, at)
		if at >= done {
			return jsonResponder(http.StatusOK, completeJS)(r)
		}
		return jsonResponder(http.StatusOK, runningJS)(r)
	})
	mt.RegisterNoResponder(httpmock.NewNotFoundResponder(t.Fatal))
	task, err := c.Edit(context.Background(), req)
	require.NoError(t, err)
	require.True(t, task.Status.IsSuccess())
	require.GreaterOrEqual(t, polls[len(polls)-1], done, "the poller stopped before the task completed")
	return polls
}

// fixedLoopPollTimes simulates the baselines as their code runs: poll at
// once, then sleep interval and poll again until the task is done. The
// vendor page's example is `while True: get ...; time.sleep(5)`, and the
// official CLI's task.ts also polls right after the POST and sleeps 20 s
// after each unfinished answer (shared/reference/mulerouter-protocol.md §4).
func fixedLoopPollTimes(interval, done time.Duration) []time.Duration {
	var polls []time.Duration
	for at := time.Duration(0); ; at += interval {
		polls = append(polls, at)
		if at >= done {
			return polls
		}
	}
}

// logScheduleTable prints the table (go test -v) for humans.
func logScheduleTable(t *testing.T, rows []scheduleRow) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%-12s %8s %9s %14s\n", "schedule", "task", "requests", "notice delay")
	for _, r := range rows {
		fmt.Fprintf(&b, "%-12s %8s %9.3f %13.3fs\n", r.Schedule, r.Duration, r.Requests, r.NoticeDelay)
	}
	t.Log("\n" + b.String())
}
