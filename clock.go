package qwenedit

import (
	"context"
	"time"
)

// clock is the time source of retries and polling; tests swap in a fake one
// so that schedules are checked without sleeping.
type clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx ends, whichever comes first, and returns ctx.Err() in the latter case.
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
