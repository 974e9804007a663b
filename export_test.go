package qwenedit

import (
	"context"
	"sync"
	"time"
)

// RaceEnabled reports a build with the race detector, for the external
// tests' allocation bounds.
const RaceEnabled = raceEnabled

// FakeClock is a clock for tests: Sleep returns at once and moves time on.
type FakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

// NewFakeClock starts at a fixed, arbitrary instant.
func NewFakeClock() *FakeClock {
	return &FakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

// Now is the fake time.
func (f *FakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Sleep records d and advances the time by it, unless ctx has already ended.
func (f *FakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sleeps = append(f.sleeps, d)
	f.now = f.now.Add(d)
	return nil
}

// Sleeps returns the durations slept so far.
func (f *FakeClock) Sleeps() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.sleeps...)
}

// WithClock swaps the client's clock (tests only).
func WithClock(c clock) Option {
	return func(cfg *config) error { cfg.clock = c; return nil }
}

// WithJitter swaps the jitter source (tests only); fixed values make schedules exact.
func WithJitter(f func() float64) Option {
	return func(cfg *config) error { cfg.jitter = f; return nil }
}

// WithMaxWaitGrace shortens how long a poll may run past the maximum wait
// (tests only), so that a hanging poll ends in milliseconds.
func WithMaxWaitGrace(d time.Duration) Option {
	return func(cfg *config) error { cfg.maxWaitGrace = d; return nil }
}

// WithRetryBackoff sets the first retry delay and the cap of one delay
// (tests only: suites on a real clock retry in milliseconds).
func WithRetryBackoff(base, maxDelay time.Duration) Option {
	return func(cfg *config) error { cfg.retry.baseDelay, cfg.retry.maxDelay = base, maxDelay; return nil }
}

// WithSaveParallel sets how many downloads SaveImages runs at once (tests
// only: 1 is the sequential baseline of BenchmarkSaveImages).
func WithSaveParallel(n int) Option {
	return func(cfg *config) error { cfg.saveParallel = n; return nil }
}
