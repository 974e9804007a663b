// Package schedule plans the polls of a wait, and keeps the history of
// task durations it learns from. It is pure: no HTTP, no clock; times are
// durations from the submit.
//
// Without knowledge of the workload the schedule is the default one: the
// first poll one minimum interval after the submit, then an interval
// growing by half each time (±10 % jitter) up to the maximum.
//
// A Client also learns. Its History keeps how long its last HistorySize
// successful tasks took, as it saw them (see History.Learn). When those
// durations are steady (the longest at most steadySpread × the shortest,
// ignoring the extremes once the history is full) they give a window
// [lo, hi] in which the next task very likely finishes, and the schedule
// aims its polls there. It may do so only within one rule, which holds by
// construction whatever the history: every poll of the default schedule
// (same jitter draws) is matched by a learned poll at most lateSlack after
// it. So a task the default schedule would notice at D is noticed by
// D + lateSlack at the latest, even when the history is wrong (a regime
// change, an outlier, a server with broken timestamps).
//
// Within that rule the learned schedule
//   - moves a default poll up to lateSlack later when that lands it in
//     the window (a poll at 10.5 s becomes one at 12.5 s for tasks of
//     about 12 s, so it finds them finished instead of missing them by a
//     second and a half), and keeps every other default poll where it is;
//   - adds polls every windowStep inside the window, the last at hi, so
//     that a task that finishes there is noticed within windowStep/2 on
//     average. A default poll matched by one of them is not made twice.
//
// The rule costs the old savings before the window: the learned schedule
// makes at least every default poll but one (the one moved onto the
// task), plus its window polls. A workload that is not steady gets the
// default schedule exactly. An explicit WithPollInterval or
// WithMaxPollInterval turns learning off for that wait (the Client passes
// New no History): the caller's schedule is followed as given.
package schedule

import (
	"slices"
	"sync"
	"time"
)

// HistorySize is how many durations a History remembers: those of the
// last tasks it learned from.
const HistorySize = 16

const (
	growth       = 1.5                     // the default schedule's interval grows by half each time
	jitterShare  = 0.1                     // ±10 % jitter on each default interval
	submitMemory = 1024                    // submit times kept, so WaitForResult after Submit plans like Edit
	minSamples   = 4                       // finished tasks before the window is trusted
	steadySpread = 1.3                     // hi/lo beyond which a workload is mixed
	windowMargin = 0.02                    // widening of the window on each side
	windowStep   = 1800 * time.Millisecond // poll spacing inside the window
	lateSlack    = 2 * time.Second         // the most a learned poll may trail the default one it replaces
	minLearned   = time.Second             // shorter tasks are not worth learning
	maxBracket   = 0.25                    // widest poll bracket learned from without timestamps, as a share of its middle
)

// History is what a Client remembers of its tasks: when it submitted
// them, and how long the last HistorySize of them took. It is safe for
// concurrent use.
type History struct {
	mu        sync.Mutex
	durations []time.Duration // the last HistorySize, oldest first
	submits   map[string]time.Time
	order     []string // submit IDs, oldest first, at most submitMemory
}

// NewHistory is an empty History.
func NewHistory() *History { return &History{submits: make(map[string]time.Time)} }

// Submitted remembers when the task id was created by this Client. The
// first time given for an id stands; only the latest submitMemory ids
// are kept.
func (h *History) Submitted(id string, at time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.submits[id]; ok {
		return
	}
	if len(h.order) >= submitMemory {
		delete(h.submits, h.order[0])
		h.order = h.order[1:]
	}
	h.submits[id] = at
	h.order = append(h.order, id)
}

// SubmittedAt is when this Client created the task id, if it did lately.
func (h *History) SubmittedAt(id string) (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	at, ok := h.submits[id]
	return at, ok
}

// finished records how long a successful task took; d ≤ 0 is ignored.
func (h *History) finished(d time.Duration) {
	if d <= 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.durations) == HistorySize {
		h.durations = h.durations[1:]
	}
	h.durations = append(h.durations, d)
}

// Learn records how long a successful task took, as far as its Client saw
// it: last seen unfinished by the GET sent lo after the submit and seen
// finished by one sent hi after it, it took between lo and hi. server,
// the server's updated_at − created_at, refines the value inside that
// bracket and is clamped to it: a server's clock or zone label can be
// wrong (a -05:00 on UTC text made 5-hour tasks of 0.3 s ones), what the
// Client saw cannot. server ≤ 0 means the server gave no usable
// duration (a timestamp missing, or updated_at not after created_at);
// then the middle of the bracket is recorded, if the bracket is narrow
// enough (maxBracket of its middle) to say something.
//
// A task the Client did not submit is not to be learned: nothing bounds
// how long it took.
func (h *History) Learn(lo, hi, server time.Duration) {
	if server > 0 {
		h.finished(min(max(server, lo), hi))
		return
	}
	if mid := lo + (hi-lo)/2; float64(hi-lo) <= maxBracket*float64(mid) {
		h.finished(mid)
	}
}

// Durations is a copy of the remembered durations, oldest first.
func (h *History) Durations() []time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.durations)
}

// window is where the next task very likely finishes, measured from its
// submit; ok is false while the history is short or not steady.
func (h *History) window() (lo, hi time.Duration, ok bool) {
	sorted := h.Durations()
	if len(sorted) < minSamples {
		return 0, 0, false
	}
	slices.Sort(sorted)
	trim := len(sorted) / 16 // with a full history, one outlier at each end is forgiven
	lo = time.Duration(float64(sorted[trim]) * (1 - windowMargin))
	hi = time.Duration(float64(sorted[len(sorted)-1-trim]) * (1 + windowMargin))
	return lo, hi, lo >= minLearned && float64(hi) <= steadySpread*float64(lo)
}

// Schedule plans the waits between the polls of one task. Times are
// offsets from the submit (or from the start of the wait, for a task the
// Client did not submit). A Schedule is used by one wait at a time.
type Schedule struct {
	minInterval time.Duration
	maxInterval time.Duration
	jitter      func() float64
	learned     bool // aims at a window learned from the history, not the default schedule
	lo, hi      time.Duration
	interval    time.Duration // the default schedule's next interval
	ref         time.Duration // learned: the default schedule's next poll not yet matched
}

// New plans one wait: the default schedule between minInterval and
// maxInterval, with jitter drawing uniformly from [0, 1), learned from h
// when h's history is steady. A nil h is the default schedule: pass nil
// for a task whose age is not known, or when the caller set the poll
// intervals.
func New(minInterval, maxInterval time.Duration, jitter func() float64, h *History) *Schedule {
	s := &Schedule{minInterval: minInterval, maxInterval: maxInterval, jitter: jitter, interval: minInterval}
	if h != nil {
		s.lo, s.hi, s.learned = h.window()
	}
	return s
}

// First is the wait before the first poll of a task submitted elapsed ago.
func (s *Schedule) First(elapsed time.Duration) time.Duration {
	if !s.learned {
		return max(s.minInterval-elapsed, 0)
	}
	s.ref = max(s.minInterval, elapsed) // where the default polls first
	return s.plan(elapsed) - elapsed
}

// Next is the wait before the next poll, elapsed after the origin; a poll
// was just made.
func (s *Schedule) Next(elapsed time.Duration) time.Duration {
	if !s.learned {
		return s.defaultInterval()
	}
	// plan never goes past ref+lateSlack, so a poll at or after ref has
	// matched it. (A poll made later than planned, after a Retry-After,
	// delays the default schedule just as much.)
	for s.ref <= elapsed {
		s.ref += s.defaultInterval()
	}
	return s.plan(elapsed) - elapsed
}

// defaultInterval is the default schedule's next wait; it draws the jitter
// once, so a learned schedule sees the same default polls as an unlearned
// one with the same draws.
func (s *Schedule) defaultInterval() time.Duration {
	f := 1 - jitterShare + 2*jitterShare*s.jitter()
	d := max(s.minInterval, min(s.maxInterval, time.Duration(float64(s.interval)*f)))
	s.interval = min(time.Duration(float64(s.interval)*growth), s.maxInterval)
	return d
}

// plan is the time of the next learned poll after a poll (or the start of
// the wait) at elapsed: the next window poll, unless the default poll
// s.ref, moved at most lateSlack, comes first. Never later than
// s.ref+lateSlack: that is the bound of the package comment.
func (s *Schedule) plan(elapsed time.Duration) time.Duration {
	at := s.matchRef()
	if w, ok := s.windowPoll(elapsed); ok && w < at {
		at = w
	}
	return at
}

// matchRef is where the learned schedule makes the default poll s.ref: as
// late as lateSlack allows, up to hi, when that reaches the window; else
// where the default makes it, since moving it would only notice a task
// that finishes outside the window later.
func (s *Schedule) matchRef() time.Duration {
	if s.ref > s.hi || s.ref+lateSlack < s.lo {
		return s.ref
	}
	return max(s.ref, min(s.ref+lateSlack, s.hi))
}

// windowPoll is the next poll inside the window after elapsed: windowStep
// after elapsed or lo, whichever is later, and at most hi; ok is false
// once the window is over.
func (s *Schedule) windowPoll(elapsed time.Duration) (at time.Duration, ok bool) {
	if elapsed >= s.hi {
		return 0, false
	}
	return min(max(elapsed, s.lo)+windowStep, s.hi), true
}
