package main

import (
	"context"
	"sync"
	"time"
)

// slots bounds how many of a batch's tasks run on the server at once, and
// learns the account's limit from its 429 answers. MuleRouter refuses a
// submit with 429 while an account runs as many tasks as it may; a batch
// that kept -concurrency submits going would see most of them refused.
//
// A file takes a slot before its submit (or before waiting for a task of
// an earlier run, which runs on the server too) and gives it back once its
// task has finished. A submit refused with 429 gives its slot back at
// once, since it created nothing, and lowers the limit to the tasks still
// holding slots: what the server just said it runs. Then no slot is handed
// out before the server's Retry-After, or before one of the tasks running
// finishes, which is what it waits for. Every limit-many submits the server
// accepts raise the limit by one, up to -concurrency, so that a limit
// raised on the account (or a 429 for another reason) is found again; a
// probe too many costs one more 429, which creates nothing.
//
// It is safe for concurrent use.
type slots struct {
	now func() time.Time

	mu        sync.Mutex
	max       int           // -concurrency
	limit     int           // slots handed out at most now
	held      int           // slots handed out
	waiting   int           // files waiting for a slot
	notBefore time.Time     // no slot before this (the server's Retry-After)
	accepted  int           // submits accepted since the limit last changed
	idle      int           // 429s in a row while none of the batch's tasks ran
	limited   bool          // a 429 has set the limit
	changed   chan struct{} // closed and replaced when a slot may have freed
}

func newSlots(concurrency int, now func() time.Time) *slots {
	return &slots{now: now, max: concurrency, limit: concurrency, changed: make(chan struct{})}
}

// acquire waits for a slot, or for ctx to end.
func (s *slots) acquire(ctx context.Context) error {
	s.mu.Lock()
	s.waiting++
	defer func() { s.mu.Lock(); s.waiting--; s.mu.Unlock() }()
	for {
		wait := s.notBefore.Sub(s.now())
		if s.held < s.limit && wait <= 0 {
			s.held++
			s.mu.Unlock()
			return nil
		}
		changed := s.changed
		s.mu.Unlock()
		if err := waitFor(ctx, changed, wait); err != nil {
			return err
		}
		s.mu.Lock()
	}
}

// waitFor waits until changed is closed, d has passed (if positive) or ctx
// ends; only the last is an error.
func waitFor(ctx context.Context, changed <-chan struct{}, d time.Duration) error {
	var timer <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-changed:
	case <-timer:
	}
	return nil
}

// release gives back the slot of a submit that created nothing.
func (s *slots) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held--
	s.wake()
}

// finished gives back the slot of a task that has finished, or is no
// longer waited for. The server runs one task fewer: that is what its
// Retry-After was waiting for, so the slot is handed out at once.
func (s *slots) finished() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held--
	s.notBefore = time.Time{}
	s.wake()
}

// accept counts a submit the server accepted, and raises the limit by one
// after limit-many of them.
func (s *slots) accept() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.idle = 0
	if s.accepted++; s.accepted >= s.limit && s.limit < s.max {
		s.limit++
		s.accepted = 0
		s.wake()
	}
}

// refused records a submit refused with 429, whose slot has been given
// back: the server runs the tasks still holding slots and no more, and
// asks for retryAfter (0: none) before the next submit. It returns the
// limit, and whether it changed.
//
// A 429 while none of the batch's tasks hold a slot is not the limit of
// running tasks (a quota, a spend limit, someone else's tasks): nothing of
// the batch's will finish to free the server, so the next submit waits at
// least 1 s, doubling up to idleMax while such 429s go on; idleWait is
// that wait, 0 for a 429 of the running limit.
func (s *slots) refused(retryAfter time.Duration) (limit int, changed bool, idleWait time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.limit
	s.limit, s.accepted, s.limited = max(1, min(s.limit, s.held)), 0, true
	wait := retryAfter
	if s.held == 0 {
		s.idle++
		idleWait = min(idleMax, time.Second<<min(s.idle-1, 6))
		wait = max(wait, idleWait)
	}
	if until := s.now().Add(wait); until.After(s.notBefore) {
		s.notBefore = until
	}
	return s.limit, s.limit != old, idleWait
}

// idleMax is the longest wait after a 429 that no running task explains.
const idleMax = time.Minute

// wake tells the waiters that a slot may have freed. s.mu is held.
func (s *slots) wake() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// state is what the progress line says: whether a 429 has set the limit,
// the limit, and the files waiting for a slot.
func (s *slots) state() (limited bool, limit, waiting int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.limited, s.limit, s.waiting
}
