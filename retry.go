package qwenedit

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// retryPolicy holds the knobs of the retry engine shared by every HTTP call.
type retryPolicy struct {
	maxRetries     int
	baseDelay      time.Duration
	maxDelay       time.Duration // cap of one backoff delay
	maxRetryAfter  time.Duration // longest Retry-After honoured; longer ones end the retries
	budget         time.Duration // cap of the total sleep of one call
	attemptTimeout time.Duration
}

func defaultRetryPolicy() retryPolicy {
	return retryPolicy{
		maxRetries:     3,
		baseDelay:      500 * time.Millisecond,
		maxDelay:       20 * time.Second,
		maxRetryAfter:  time.Minute,
		budget:         time.Minute,
		attemptTimeout: 2 * time.Minute,
	}
}

// backoff is the full-jitter delay before retry number n (0-based):
// uniform in [0, min(maxDelay, base·2^n)).
func (p retryPolicy) backoff(n int, jitter func() float64) time.Duration {
	ceiling := p.maxDelay
	if n < 30 && p.baseDelay<<n < p.maxDelay && p.baseDelay<<n > 0 {
		ceiling = p.baseDelay << n
	}
	return time.Duration(jitter() * float64(ceiling))
}

// outcome is what one attempt tells the retry engine.
type outcome struct {
	err        error
	retry      bool          // the same attempt may succeed later and repeating it is safe
	retryAfter time.Duration // the server's requested wait, 0 if none
	reason     string        // short cause for the log: "status 503", "network", ...
}

// attemptFunc performs one attempt; n counts from 0.
type attemptFunc func(ctx context.Context, n int) outcome

// withRetries runs attempt until it succeeds, fails for good, the retries or
// the budget are used up, or ctx ends. Each attempt gets its own timeout.
// The last attempt's error is returned, so callers see the real cause.
func (c *Client) withRetries(ctx context.Context, ev event, timeout time.Duration, attempt attemptFunc) error {
	p := c.cfg.retry
	var slept time.Duration
	for n := 0; ; n++ {
		o := c.runAttempt(ctx, timeout, n, attempt)
		ev.attempt = n + 1
		if o.err == nil {
			return nil
		}
		if !o.retry || ctx.Err() != nil {
			c.logFailure(ctx, ev, o)
			return o.err
		}
		if n >= p.maxRetries {
			c.logFailure(ctx, ev, o)
			return fmt.Errorf("%w (gave up after %d attempts)", o.err, n+1)
		}
		delay, why := c.nextDelay(ctx, n, o, slept)
		if why != "" {
			c.logFailure(ctx, ev, o)
			return fmt.Errorf("%w (not retried: %s)", o.err, why)
		}
		c.logRetry(ctx, ev, o, delay)
		if err := c.cfg.clock.Sleep(ctx, delay); err != nil {
			return fmt.Errorf("%w (stopped waiting to retry: %w)", o.err, err)
		}
		slept += delay
	}
}

func (c *Client) runAttempt(ctx context.Context, timeout time.Duration, n int, attempt attemptFunc) outcome {
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return attempt(actx, n)
}

// nextDelay picks the wait before the next attempt, or says why there is none.
func (c *Client) nextDelay(ctx context.Context, n int, o outcome, slept time.Duration) (time.Duration, string) {
	p := c.cfg.retry
	delay := p.backoff(n, c.cfg.jitter)
	if o.retryAfter > 0 {
		if o.retryAfter > p.maxRetryAfter {
			return 0, fmt.Sprintf("server asked to wait %s, more than the %s cap", o.retryAfter, p.maxRetryAfter)
		}
		delay = o.retryAfter
	}
	if slept+delay > p.budget {
		return 0, fmt.Sprintf("the retry budget of %s is used up", p.budget)
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < delay {
		return 0, fmt.Sprintf("the context ends before the next retry in %s", delay.Round(time.Millisecond))
	}
	return delay, ""
}

// isRetryableStatus lists the statuses after which the same call may succeed.
func isRetryableStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooManyRequests,
		http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// parseRetryAfter reads Retry-After-Ms (milliseconds), else Retry-After in
// seconds or as an HTTP date. Unparseable or past values give 0.
func parseRetryAfter(h http.Header, now time.Time) time.Duration {
	if ms := strings.TrimSpace(h.Get("Retry-After-Ms")); ms != "" {
		if v, err := strconv.ParseFloat(ms, 64); err == nil && v > 0 && v < 1e12 {
			return time.Duration(v * float64(time.Millisecond))
		}
	}
	ra := strings.TrimSpace(h.Get("Retry-After"))
	if ra == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(ra, 10, 64); err == nil {
		if secs <= 0 || secs > 1e9 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(ra); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func (c *Client) logRetry(ctx context.Context, ev event, o outcome, delay time.Duration) {
	c.log(ctx, slog.LevelInfo, "qwenedit: retrying", ev.attrs(
		slog.String("reason", o.reason),
		slog.Duration("delay", delay),
		slog.String("error", o.err.Error()),
	)...)
}

func (c *Client) logFailure(ctx context.Context, ev event, o outcome) {
	c.log(ctx, slog.LevelWarn, "qwenedit: call failed", ev.attrs(
		slog.String("reason", o.reason),
		slog.String("error", o.err.Error()),
	)...)
}
