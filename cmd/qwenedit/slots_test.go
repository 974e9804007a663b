package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tryAcquire reports whether a slot is free now, taking it if so.
func tryAcquire(s *slots) bool {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s.mu.Lock()
	free := s.held < s.limit && !s.notBefore.After(s.now())
	s.mu.Unlock()
	if !free {
		return false
	}
	return s.acquire(ctx) == nil
}

// tryAcquireAfter moves the clock d on and tries again.
func tryAcquireAfter(s *slots, now *time.Time, d time.Duration) bool {
	*now = now.Add(d)
	return tryAcquire(s)
}

func TestSlotsLearnTheLimitFromA429(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newSlots(8, func() time.Time { return now })
	for range 4 {
		require.True(t, tryAcquire(s))
	}
	// Three were accepted; the fourth is refused: the server runs three.
	s.accept()
	s.accept()
	s.accept()
	s.release()
	limit, changed, _ := s.refused(5 * time.Second)
	assert.True(t, changed)
	assert.Equal(t, 3, limit, "the tasks still holding slots")
	limited, _, _ := s.state()
	assert.True(t, limited)
	assert.False(t, tryAcquire(s), "no slot: three run")
	assert.False(t, tryAcquireAfter(s, &now, 5*time.Second), "three still run after the Retry-After")

	// A task finished: the server runs one fewer, which is what a
	// Retry-After waits for, so its slot is free at once.
	_, _, _ = s.refused(5 * time.Second)
	s.finished()
	assert.True(t, tryAcquire(s))
	assert.False(t, tryAcquire(s))
}

// TestSlotsHonourRetryAfter: a slot given back by a submit that created
// nothing is not handed out before the server's Retry-After.
func TestSlotsHonourRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newSlots(3, func() time.Time { return now })
	for range 3 {
		require.True(t, tryAcquire(s))
	}
	s.release() // refused with 429
	limit, _, _ := s.refused(5 * time.Second)
	require.Equal(t, 2, limit)
	s.release() // another submit failed before it was sent
	assert.False(t, tryAcquire(s), "a slot is free, but not before the Retry-After")
	assert.False(t, tryAcquireAfter(s, &now, 4*time.Second))
	assert.True(t, tryAcquireAfter(s, &now, time.Second))
}

func TestSlotsGrowAgainAfterAcceptedSubmits(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newSlots(4, func() time.Time { return now })
	require.True(t, tryAcquire(s))
	require.True(t, tryAcquire(s))
	s.release()
	_, _, _ = s.refused(0) // one holds a slot: the limit is 1
	_, limit, _ := s.state()
	require.Equal(t, 1, limit)
	s.accept() // limit-many (1) accepted: the limit grows
	_, limit, _ = s.state()
	assert.Equal(t, 2, limit)
	s.accept()
	s.accept()
	_, limit, _ = s.state()
	assert.Equal(t, 3, limit)
	for range 10 {
		s.accept()
	}
	_, limit, _ = s.state()
	assert.Equal(t, 4, limit, "never above -concurrency")
}

// TestSlotsWakeAWaiterWhenOneFrees: a file waiting for a slot gets it as
// soon as a task finishes, and one whose context ends stops waiting.
func TestSlotsWakeAWaiterWhenOneFrees(t *testing.T) {
	s := newSlots(1, time.Now)
	require.NoError(t, s.acquire(context.Background()))
	got := make(chan error, 1)
	go func() { got <- s.acquire(context.Background()) }()
	for {
		if _, _, waiting := s.state(); waiting == 1 {
			break
		}
		time.Sleep(time.Millisecond) // a guard poll for the goroutine to block, not a measurement
	}
	s.release()
	require.NoError(t, <-got)

	ctx, cancel := context.WithCancel(context.Background())
	go func() { got <- s.acquire(ctx) }()
	cancel()
	assert.ErrorIs(t, <-got, context.Canceled)
}

// TestSlotsBackOffWhenNothingRuns: a 429 while none of the batch's tasks
// run is no limit of running tasks; the next submit waits 1 s, then 2 s,
// 4 s, ... up to a minute, never in a hot loop, and an accepted submit
// ends the backing off.
func TestSlotsBackOffWhenNothingRuns(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newSlots(2, func() time.Time { return now })
	var waits []time.Duration
	for range 9 {
		require.True(t, tryAcquireAfter(s, &now, 61*time.Second))
		s.release()
		_, _, idle := s.refused(0)
		waits = append(waits, idle)
		assert.False(t, tryAcquire(s), "not at once")
	}
	assert.Equal(t, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second,
		16 * time.Second, 32 * time.Second, time.Minute, time.Minute, time.Minute}, waits)

	require.True(t, tryAcquireAfter(s, &now, time.Minute))
	s.accept()
	s.release()
	_, _, idle := s.refused(0)
	assert.Equal(t, time.Second, idle, "an accepted submit starts the backing off again")
}
