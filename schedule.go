package qwenedit

import (
	"slices"
	"sync"
	"time"
)

// The poll schedule. Without knowledge of the workload it is the default
// one: the first poll one minimum interval after the submit, then an
// interval growing by half each time (±10 % jitter) up to the maximum.
//
// A Client also learns. It keeps how long its last historySize successful
// tasks took, as it saw them (see Client.learn). When those durations are
// steady (the longest at most steadySpread × the shortest, ignoring the
// extremes once the history is full) they give a window [lo, hi] in which
// the next task very likely finishes, and the schedule aims its polls
// there. It may do so only within one rule, which holds by construction
// whatever the history: every poll of the default schedule (same jitter
// draws) is matched by a learned poll at most lateSlack after it. So a
// task the default schedule would notice at D is noticed by D + lateSlack
// at the latest, even when the history is wrong (a regime change, an
// outlier, a server with broken timestamps).
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
// WithMaxPollInterval turns learning off for that wait: the caller's
// schedule is followed as given.
const (
	historySize  = 16
	submitMemory = 1024                    // submit times kept, so WaitForResult after Submit plans like Edit
	minSamples   = 4                       // finished tasks before the window is trusted
	steadySpread = 1.3                     // hi/lo beyond which a workload is mixed
	windowMargin = 0.02                    // widening of the window on each side
	windowStep   = 1800 * time.Millisecond // poll spacing inside the window
	lateSlack    = 2 * time.Second         // the most a learned poll may trail the default one it replaces
	minLearned   = time.Second             // shorter tasks are not worth learning
	maxBracket   = 0.25                    // widest poll bracket learned from without timestamps, as a share of its middle
)

// taskLog is what a Client remembers of its tasks, safe for concurrent use.
type taskLog struct {
	mu        sync.Mutex
	durations []time.Duration // the last historySize, oldest first
	submits   map[string]time.Time
	order     []string // submit IDs, oldest first, at most submitMemory
}

func newTaskLog() *taskLog { return &taskLog{submits: make(map[string]time.Time)} }

// submitted remembers when the task id was created by this Client.
func (l *taskLog) submitted(id string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.submits[id]; ok {
		return
	}
	if len(l.order) >= submitMemory {
		delete(l.submits, l.order[0])
		l.order = l.order[1:]
	}
	l.submits[id] = at
	l.order = append(l.order, id)
}

// submittedAt is when this Client created the task id, if it did lately.
func (l *taskLog) submittedAt(id string) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	at, ok := l.submits[id]
	return at, ok
}

// finished records how long a successful task took.
func (l *taskLog) finished(d time.Duration) {
	if d <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.durations) == historySize {
		l.durations = l.durations[1:]
	}
	l.durations = append(l.durations, d)
}

// window is where the next task very likely finishes, measured from its
// submit; ok is false while the history is short or not steady.
func (l *taskLog) window() (lo, hi time.Duration, ok bool) {
	l.mu.Lock()
	sorted := slices.Clone(l.durations)
	l.mu.Unlock()
	if len(sorted) < minSamples {
		return 0, 0, false
	}
	slices.Sort(sorted)
	trim := len(sorted) / 16 // with a full history, one outlier at each end is forgiven
	lo = time.Duration(float64(sorted[trim]) * (1 - windowMargin))
	hi = time.Duration(float64(sorted[len(sorted)-1-trim]) * (1 + windowMargin))
	return lo, hi, lo >= minLearned && float64(hi) <= steadySpread*float64(lo)
}

// schedule plans the waits between the polls of one task. Times are
// offsets from the submit (or from the start of the wait, for a task this
// Client did not submit).
type schedule struct {
	pc       pollConfig
	jitter   func() float64
	learned  bool
	lo, hi   time.Duration
	interval time.Duration // the default schedule's next interval
	ref      time.Duration // learned: the default schedule's next poll not yet matched
}

// newSchedule plans one wait; learn is false for a task whose age is not
// known, and an explicit poll interval turns learning off too.
func (c *Client) newSchedule(pc pollConfig, learn bool) *schedule {
	s := &schedule{pc: pc, jitter: c.cfg.jitter, interval: pc.minInterval}
	if learn && !pc.custom {
		s.lo, s.hi, s.learned = c.tasks.window()
	}
	return s
}

// first is the wait before the first poll of a task submitted elapsed ago.
func (s *schedule) first(elapsed time.Duration) time.Duration {
	if !s.learned {
		return max(s.pc.minInterval-elapsed, 0)
	}
	s.ref = max(s.pc.minInterval, elapsed) // where the default polls first
	return s.plan(elapsed) - elapsed
}

// next is the wait before the next poll, elapsed after the origin; a poll
// was just made.
func (s *schedule) next(elapsed time.Duration) time.Duration {
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
func (s *schedule) defaultInterval() time.Duration {
	f := 1 - pollJitter + 2*pollJitter*s.jitter()
	d := max(s.pc.minInterval, min(s.pc.maxInterval, time.Duration(float64(s.interval)*f)))
	s.interval = min(time.Duration(float64(s.interval)*pollGrowth), s.pc.maxInterval)
	return d
}

// plan is the time of the next learned poll after a poll (or the start of
// the wait) at elapsed: the next window poll, unless the default poll
// s.ref, moved at most lateSlack, comes first. Never later than
// s.ref+lateSlack: that is the bound of the file comment.
func (s *schedule) plan(elapsed time.Duration) time.Duration {
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
func (s *schedule) matchRef() time.Duration {
	if s.ref > s.hi || s.ref+lateSlack < s.lo {
		return s.ref
	}
	return max(s.ref, min(s.ref+lateSlack, s.hi))
}

// windowPoll is the next poll inside the window after elapsed: windowStep
// after elapsed or lo, whichever is later, and at most hi; ok is false
// once the window is over.
func (s *schedule) windowPoll(elapsed time.Duration) (at time.Duration, ok bool) {
	if elapsed >= s.hi {
		return 0, false
	}
	return min(max(elapsed, s.lo)+windowStep, s.hi), true
}
