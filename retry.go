package qwenedit

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math"
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
	attemptTimeout time.Duration
}

func defaultRetryPolicy() retryPolicy {
	return retryPolicy{
		maxRetries:     3,
		baseDelay:      500 * time.Millisecond,
		maxDelay:       20 * time.Second,
		maxRetryAfter:  time.Minute,
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

// outcome is what one attempt tells the retry policy: facts, not a verdict.
type outcome struct {
	err        error
	status     int           // HTTP status of a non-2xx answer, else 0
	network    bool          // a network or body-read failure that may pass
	sent       bool          // the request may have reached the server in full
	retryAfter time.Duration // the server's requested wait, 0 if none
	reason     string        // short cause for the log: "status 503", "network", ...
}

// retryable is the one retry rule of every HTTP call. A paid call (a
// submit) is repeated only when no task can have been made: a 429, or a
// network failure before the request was sent in full. Other calls are
// repeated after a network failure or a retryableStatus.
func retryable(paid bool, o outcome) bool {
	switch {
	case o.status != 0 && paid:
		return o.status == http.StatusTooManyRequests
	case o.status != 0:
		return retryableStatus(o.status)
	case paid:
		return o.network && !o.sent
	}
	return o.network
}

// permanentCause explains a transport failure that no retry can mend and
// the caller must fix, or returns "": the server's TLS certificate is not
// trusted, or the server does not speak TLS where the base URL says
// https. Such a call fails at once, and a wait stops, with this advice.
// A DNS "no such host" is left transient: resolvers report it during
// network changes too.
func permanentCause(err error) string {
	var (
		verify    *tls.CertificateVerificationError
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		record    tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &verify), errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &invalid):
		return "this machine does not trust the server's TLS certificate; for a server of your own " +
			"(a test server), trust its certificate: point SSL_CERT_FILE at it (Linux), add it to the " +
			"system's roots, or pass WithHTTPClient a client whose tls.Config trusts it"
	case errors.Is(err, http.ErrSchemeMismatch), errors.As(err, &record):
		return "the server does not speak TLS: use an http:// base URL for it (with WithInsecureHTTP for a non-loopback host)"
	}
	return ""
}

// retryableStatus lists the answers after which the same GET may succeed:
// 408, 425, 429 and every 5xx. Polls, downloads and the retries of one
// call share it.
func retryableStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests:
		return true
	}
	return code >= 500
}

// ambiguous is the one rule of "a task may exist": a paid call that may
// have reached the server in full, and no answer says that it made no task
// (a lost, unreadable or undecodable answer, a 5xx from a gateway, or a
// redirect, which is never followed for a submit).
func ambiguous(paid bool, o outcome) bool {
	if !paid || !o.sent {
		return false
	}
	return o.status == 0 || o.status >= 500 || (o.status >= 300 && o.status < 400)
}

// withRetries runs attempt until it succeeds, fails for good, the retries
// are used up, or ctx ends. The last attempt's error is
// returned, so callers see the real cause; a submit that may have made a
// task is an *AmbiguousSubmitError.
func (c *Client) withRetries(ctx context.Context, ev event, maxRetries int, attempt func(n int) outcome) error {
	for n := 0; ; n++ {
		o := attempt(n)
		ev.attempt = n + 1
		if o.err == nil {
			return nil
		}
		if ambiguous(ev.paid, o) {
			o.err = &AmbiguousSubmitError{Err: o.err}
		}
		if !retryable(ev.paid, o) || ctx.Err() != nil {
			c.logFailure(ctx, ev, o)
			return o.err
		}
		if n >= maxRetries {
			c.logFailure(ctx, ev, o)
			if maxRetries == 0 {
				return transientError{o.err}
			}
			return transientError{fmt.Errorf("%w (gave up after %d attempts)", o.err, n+1)}
		}
		delay, why := c.nextDelay(ctx, n, o)
		if why != "" {
			c.logFailure(ctx, ev, o)
			return fmt.Errorf("%w (not retried: %s)", o.err, why)
		}
		c.logRetry(ctx, ev, o, delay)
		if err := c.cfg.clock.Sleep(ctx, delay); err != nil {
			return fmt.Errorf("%w (stopped waiting to retry: %w)", o.err, err)
		}
	}
}

// transientError marks a failure the retry rule would have retried, had
// the call any retries left: the poller, whose calls have none of their
// own, polls again after it. It adds nothing to the message.
type transientError struct{ err error }

func (e transientError) Error() string { return e.err.Error() }
func (e transientError) Unwrap() error { return e.err }

// isTransient reports a failure that retryable found worth another try.
func isTransient(err error) bool {
	var t transientError
	return errors.As(err, &t)
}

// nextDelay picks the wait before the next attempt, or says why there is none.
func (c *Client) nextDelay(ctx context.Context, n int, o outcome) (time.Duration, string) {
	p := c.cfg.retry
	delay := p.backoff(n, c.cfg.jitter)
	if o.retryAfter > 0 {
		if o.retryAfter > p.maxRetryAfter {
			return 0, fmt.Sprintf("server asked to wait %s, more than the %s cap", o.retryAfter, p.maxRetryAfter)
		}
		delay = o.retryAfter
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < delay {
		return 0, fmt.Sprintf("the context ends before the next retry in %s", delay.Round(time.Millisecond))
	}
	return delay, ""
}

// addSat is a+b for non-negative durations or sizes, saturating at the
// largest value instead of overflowing: a setting that means "no limit"
// (say, math.MaxInt64) plus anything is still no limit.
func addSat[T ~int64](a, b T) T {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// durationSat is v units as a Duration, saturating at the largest one.
func durationSat(v float64, unit time.Duration) time.Duration {
	if d := v * float64(unit); d < math.MaxInt64 {
		return time.Duration(d)
	}
	return math.MaxInt64
}

// parseRetryAfter reads Retry-After-Ms (milliseconds), else Retry-After in
// seconds or as an HTTP date. Unparseable or past values give 0.
func parseRetryAfter(h http.Header, now time.Time) time.Duration {
	if ms := strings.TrimSpace(h.Get("Retry-After-Ms")); ms != "" {
		if v, err := strconv.ParseFloat(ms, 64); err == nil && v > 0 {
			return durationSat(v, time.Millisecond)
		}
	}
	ra := strings.TrimSpace(h.Get("Retry-After"))
	if ra == "" {
		return 0
	}
	// Delay-seconds: digits only. A huge value (ErrRange, secs at the
	// maximum) is a real, if odd, request to wait a long time: it
	// saturates, and so ends the retries with RetryAfter set, rather than
	// being dropped and retried at once.
	if secs, err := strconv.ParseUint(ra, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		return durationSat(float64(secs), time.Second)
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
