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
// tasks took: the server's updated_at − created_at when both are there,
// else the middle of the bracket between the last unfinished answer and
// the first finished one, counted from the submit, when that bracket is
// at most maxBracket of its middle (the default schedule's brackets are
// that narrow for tasks of about 45 s and more). When those durations are
// steady (the longest at most steadySpread × the shortest, ignoring the
// extremes once the history is full) they give a window [lo, hi] in which the
// next task very likely finishes. The schedule then skips the polls that
// cannot find it finished (before the window none for tasks under
// directJumpMax, else one every max(maxInterval, lo/4)), and polls every
// windowStep inside the window, so a finished task is noticed within
// windowStep/2 on average. A task that outlives the window, and any
// workload that is not steady, falls back to the default schedule. An
// explicit WithPollInterval or WithMaxPollInterval turns learning off for
// that wait: the caller's schedule is followed as given.
const (
	historySize   = 16
	submitMemory  = 1024                    // submit times kept, so WaitForResult after Submit plans like Edit
	minSamples    = 4                       // finished tasks before the window is trusted
	steadySpread  = 1.3                     // hi/lo beyond which a workload is mixed
	windowMargin  = 0.03                    // widening of the window on each side
	windowStep    = 1200 * time.Millisecond // poll spacing inside the window
	directJumpMax = time.Minute             // windows starting sooner get no earlier polls
	minLearned    = time.Second             // shorter tasks are not worth learning
	minWindowWait = 100 * time.Millisecond  // the shortest wait the window plans
	maxBracket    = 0.25                    // widest poll bracket learned from, as a share of its middle
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

// schedule plans the waits between the polls of one task.
type schedule struct {
	pc       pollConfig
	jitter   func() float64
	learned  bool
	lo, hi   time.Duration
	interval time.Duration // the default schedule's next interval
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
	if s.learned {
		return s.learnedWait(elapsed)
	}
	return max(s.pc.minInterval-elapsed, 0)
}

// next is the wait before the next poll, elapsed after the submit (or
// after the start of the wait, for a task this Client did not submit).
func (s *schedule) next(elapsed time.Duration) time.Duration {
	if s.learned && elapsed < s.hi {
		return s.learnedWait(elapsed)
	}
	f := 1 - pollJitter + 2*pollJitter*s.jitter()
	d := max(s.pc.minInterval, min(s.pc.maxInterval, time.Duration(float64(s.interval)*f)))
	s.interval = min(time.Duration(float64(s.interval)*pollGrowth), s.pc.maxInterval)
	return d
}

// learnedWait plans by the window: see the comment at the top of the file.
func (s *schedule) learnedWait(elapsed time.Duration) time.Duration {
	first := min(s.lo+windowStep, s.hi)
	if elapsed < s.lo {
		if s.lo <= directJumpMax {
			return first - elapsed
		}
		return min(max(s.pc.maxInterval, s.lo/4), first-elapsed)
	}
	k := (elapsed-s.lo)/windowStep + 1
	return max(min(s.lo+k*windowStep, s.hi)-elapsed, minWindowWait)
}
