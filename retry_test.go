package qwenedit

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func statusThen(status int, headers []string, final httpmock.Responder, failures int) httpmock.Responder {
	n := 0
	return func(r *http.Request) (*http.Response, error) {
		n++
		if n <= failures {
			return jsonResponder(status, `{"detail":"try later"}`, headers...)(r)
		}
		return final(r)
	}
}

func TestGetRetriesTransientStatuses(t *testing.T) {
	for _, status := range []int{408, 429, 500, 502, 503, 504} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			c, mt, clk := mockClient(t)
			mt.RegisterResponder(http.MethodGet, taskURL, statusThen(status, nil, jsonResponder(200, runningJS), 2))
			task, err := c.Get(context.Background(), "task-1")
			require.NoError(t, err)
			assert.Equal(t, "task-1", task.ID)
			assert.Equal(t, 3, mt.GetTotalCallCount())
			// Full jitter at 0.5: half of 500ms, then half of 1s.
			assert.Equal(t, []time.Duration{250 * time.Millisecond, 500 * time.Millisecond}, clk.Sleeps())
		})
	}
}

func TestGetDoesNotRetryClientErrors(t *testing.T) {
	for status, sentinel := range map[int]error{400: ErrInvalidRequest, 401: ErrUnauthorized, 402: ErrPaymentRequired, 403: ErrForbidden, 404: ErrNotFound, 422: ErrInvalidRequest} {
		c, mt, _ := mockClient(t)
		mt.RegisterResponder(http.MethodGet, taskURL, jsonResponder(status, `{"detail":"no"}`, "Traceparent", "00-abc-def-01"))
		_, err := c.Get(context.Background(), "task-1")
		assert.ErrorIs(t, err, sentinel, "status %d", status)
		var apiErr *APIError
		require.ErrorAs(t, err, &apiErr)
		assert.Equal(t, status, apiErr.StatusCode)
		assert.Equal(t, "no", apiErr.Message)
		assert.Equal(t, "00-abc-def-01", apiErr.TraceParent)
		assert.Equal(t, 1, mt.GetTotalCallCount(), "status %d must not be retried", status)
	}
}

func TestRetriesExhausted(t *testing.T) {
	c, mt, clk := mockClient(t, WithMaxRetries(2))
	mt.RegisterResponder(http.MethodGet, taskURL, jsonResponder(503, `{"detail":"down"}`))
	_, err := c.Get(context.Background(), "task-1")
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 503, apiErr.StatusCode)
	assert.ErrorContains(t, err, "gave up after 3 attempts")
	assert.Equal(t, 3, mt.GetTotalCallCount())
	assert.Len(t, clk.Sleeps(), 2)

	c, mt, _ = mockClient(t, WithMaxRetries(0))
	mt.RegisterResponder(http.MethodGet, taskURL, jsonResponder(503, `{}`))
	_, err = c.Get(context.Background(), "task-1")
	require.Error(t, err)
	assert.Equal(t, 1, mt.GetTotalCallCount(), "WithMaxRetries(0) disables retries")
}

func TestRetryAfterIsHonoured(t *testing.T) {
	c, mt, clk := mockClient(t)
	mt.RegisterResponder(http.MethodGet, taskURL, statusThen(429, []string{"Retry-After", "7"}, jsonResponder(200, runningJS), 1))
	_, err := c.Get(context.Background(), "task-1")
	require.NoError(t, err)
	assert.Equal(t, []time.Duration{7 * time.Second}, clk.Sleeps())

	c, mt, clk = mockClient(t)
	date := clk.Now().Add(4 * time.Second).UTC().Format(http.TimeFormat)
	mt.RegisterResponder(http.MethodGet, taskURL, statusThen(503, []string{"Retry-After", date}, jsonResponder(200, runningJS), 1))
	_, err = c.Get(context.Background(), "task-1")
	require.NoError(t, err)
	assert.Equal(t, []time.Duration{4 * time.Second}, clk.Sleeps())

	c, mt, clk = mockClient(t)
	mt.RegisterResponder(http.MethodGet, taskURL, statusThen(429, []string{"Retry-After", "9", "Retry-After-Ms", "1500"}, jsonResponder(200, runningJS), 1))
	_, err = c.Get(context.Background(), "task-1")
	require.NoError(t, err)
	assert.Equal(t, []time.Duration{1500 * time.Millisecond}, clk.Sleeps(), "Retry-After-Ms is the more precise")
}

func TestRetryAfterBeyondCapEndsRetries(t *testing.T) {
	c, mt, clk := mockClient(t)
	mt.RegisterResponder(http.MethodGet, taskURL, jsonResponder(429, `{"detail":"daily limit"}`, "Retry-After", "3600"))
	_, err := c.Get(context.Background(), "task-1")
	assert.ErrorIs(t, err, ErrRateLimited)
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, time.Hour, apiErr.RetryAfter, "the caller sees how long the server asked for")
	assert.Equal(t, 1, mt.GetTotalCallCount())
	assert.Empty(t, clk.Sleeps())
}

// TestRetriesEndAtMaxRetries: without a budget, the retries of one call
// stop at WithMaxRetries, each honouring the server's Retry-After.
func TestRetriesEndAtMaxRetries(t *testing.T) {
	c, mt, clk := mockClient(t, WithMaxRetries(2))
	mt.RegisterResponder(http.MethodGet, taskURL, jsonResponder(429, `{}`, "Retry-After", "4"))
	_, err := c.Get(context.Background(), "task-1")
	assert.ErrorContains(t, err, "gave up after 3 attempts")
	assert.Equal(t, []time.Duration{4 * time.Second, 4 * time.Second}, clk.Sleeps())
	assert.Equal(t, 3, mt.GetTotalCallCount())
}

func TestContextDeadlineBeforeNextRetry(t *testing.T) {
	c, mt, clk := mockClient(t)
	mt.RegisterResponder(http.MethodGet, taskURL, jsonResponder(503, `{}`, "Retry-After", "30"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := c.Get(ctx, "task-1")
	assert.ErrorContains(t, err, "context ends before the next retry")
	assert.Empty(t, clk.Sleeps(), "no pointless sleep past the deadline")
}

func TestBackoffIsCappedFullJitter(t *testing.T) {
	p := defaultRetryPolicy()
	one := func() float64 { return 0.999999 }
	assert.InDelta(t, float64(500*time.Millisecond), float64(p.backoff(0, one)), float64(time.Millisecond))
	assert.InDelta(t, float64(4*time.Second), float64(p.backoff(3, one)), float64(time.Millisecond))
	assert.InDelta(t, float64(p.maxDelay), float64(p.backoff(10, one)), float64(time.Millisecond))
	assert.InDelta(t, float64(p.maxDelay), float64(p.backoff(200, one)), float64(time.Millisecond), "no overflow")
	assert.Equal(t, time.Duration(0), p.backoff(5, func() float64 { return 0 }))
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		h    http.Header
		want time.Duration
	}{
		{http.Header{}, 0},
		{http.Header{"Retry-After": {"3"}}, 3 * time.Second},
		{http.Header{"Retry-After": {" 3 "}}, 3 * time.Second},
		{http.Header{"Retry-After": {"-3"}}, 0},
		{http.Header{"Retry-After": {"soon"}}, 0},
		{http.Header{"Retry-After": {now.Add(10 * time.Second).Format(http.TimeFormat)}}, 10 * time.Second},
		{http.Header{"Retry-After": {now.Add(-10 * time.Second).Format(http.TimeFormat)}}, 0},
		{http.Header{"Retry-After-Ms": {"250"}}, 250 * time.Millisecond},
		{http.Header{"Retry-After-Ms": {"x"}, "Retry-After": {"2"}}, 2 * time.Second},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, parseRetryAfter(tc.h, now), "%v", tc.h)
	}
}

func TestSubmitRetriesOnlyWhenNoTaskCanExist(t *testing.T) {
	t.Run("429 is retried", func(t *testing.T) {
		c, mt, _ := mockClient(t)
		mt.RegisterResponder(http.MethodPost, submitURL, statusThen(429, []string{"Retry-After", "1"}, jsonResponder(202, pendingJS), 2))
		info, err := c.Submit(context.Background(), validRequest(t))
		require.NoError(t, err)
		assert.Equal(t, "task-1", info.ID)
		assert.Equal(t, 3, mt.GetTotalCallCount())
	})
	for _, status := range []int{500, 502, 503, 504} {
		t.Run("5xx is ambiguous", func(t *testing.T) {
			c, mt, _ := mockClient(t)
			mt.RegisterResponder(http.MethodPost, submitURL, jsonResponder(status, `{"detail":"upstream"}`))
			_, err := c.Submit(context.Background(), validRequest(t))
			var amb *AmbiguousSubmitError
			require.ErrorAs(t, err, &amb)
			var apiErr *APIError
			require.ErrorAs(t, err, &apiErr, "the APIError stays reachable")
			assert.Equal(t, status, apiErr.StatusCode)
			assert.Equal(t, 1, mt.GetTotalCallCount(), "never a second paid task")
		})
	}
	t.Run("4xx is returned, not ambiguous", func(t *testing.T) {
		c, mt, _ := mockClient(t)
		mt.RegisterResponder(http.MethodPost, submitURL, jsonResponder(402, `{"detail":"Insufficient balance"}`))
		_, err := c.Submit(context.Background(), validRequest(t))
		assert.ErrorIs(t, err, ErrPaymentRequired)
		var amb *AmbiguousSubmitError
		assert.False(t, errors.As(err, &amb))
		assert.Equal(t, 1, mt.GetTotalCallCount())
	})
	t.Run("network error after the body was taken, without other evidence, is ambiguous", func(t *testing.T) {
		c, mt, _ := mockClient(t)
		mt.RegisterResponder(http.MethodPost, submitURL, func(r *http.Request) (*http.Response, error) {
			_, _ = io.Copy(io.Discard, r.Body) // a transport that fires no trace events
			return nil, errors.New("connection reset by peer")
		})
		_, err := c.Submit(context.Background(), validRequest(t))
		var amb *AmbiguousSubmitError
		require.ErrorAs(t, err, &amb)
		assert.ErrorContains(t, err, "connection reset by peer")
		assert.Equal(t, 1, mt.GetTotalCallCount())
	})
	t.Run("network error before the body was taken is retried", func(t *testing.T) {
		// Whatever the transport, a streamed body it never read cannot
		// have reached the server.
		c, mt, _ := mockClient(t, WithMaxRetries(1))
		mt.RegisterResponder(http.MethodPost, submitURL, httpmock.NewErrorResponder(errors.New("connection reset by peer")))
		big := &EditRequest{Images: []Image{ImageBytes(noisyPNG(t, 400, 400))}, Prompt: "p"} // streamed: its reads are counted
		_, err := c.Submit(context.Background(), big)
		var amb *AmbiguousSubmitError
		assert.False(t, errors.As(err, &amb), "%v", err)
		assert.ErrorContains(t, err, "gave up after 2 attempts")
		assert.Equal(t, 2, mt.GetTotalCallCount())
	})
	t.Run("dial error is retried", func(t *testing.T) {
		c, mt, _ := mockClient(t)
		dialErr := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
		n := 0
		mt.RegisterResponder(http.MethodPost, submitURL, func(r *http.Request) (*http.Response, error) {
			n++
			if n == 1 {
				return nil, dialErr
			}
			return jsonResponder(202, pendingJS)(r)
		})
		info, err := c.Submit(context.Background(), validRequest(t))
		require.NoError(t, err)
		assert.Equal(t, "task-1", info.ID)
		assert.Equal(t, 2, mt.GetTotalCallCount())
	})
	t.Run("2xx with a broken body is ambiguous", func(t *testing.T) {
		c, mt, _ := mockClient(t)
		mt.RegisterResponder(http.MethodPost, submitURL, jsonResponder(202, `{"task_info":`))
		_, err := c.Submit(context.Background(), validRequest(t))
		var amb *AmbiguousSubmitError
		require.ErrorAs(t, err, &amb)
		assert.ErrorIs(t, err, ErrUnexpectedResponse)
		assert.Equal(t, 1, mt.GetTotalCallCount())
	})
}

func TestGetRetriesNetworkErrors(t *testing.T) {
	c, mt, _ := mockClient(t)
	n := 0
	mt.RegisterResponder(http.MethodGet, taskURL, func(r *http.Request) (*http.Response, error) {
		n++
		if n < 3 {
			return nil, errors.New("connection reset by peer")
		}
		return jsonResponder(200, runningJS)(r)
	})
	_, err := c.Get(context.Background(), "task-1")
	require.NoError(t, err)
	assert.Equal(t, 3, n)
}

func TestCancelledContextStopsRetrying(t *testing.T) {
	c, mt, _ := mockClient(t)
	ctx, cancel := context.WithCancel(context.Background())
	mt.RegisterResponder(http.MethodGet, taskURL, func(*http.Request) (*http.Response, error) {
		cancel()
		return nil, errors.New("boom")
	})
	_, err := c.Get(ctx, "task-1")
	require.Error(t, err)
	assert.Equal(t, 1, mt.GetTotalCallCount())
}

func TestSubmitToClosedPortIsRetriedAndNotAmbiguous(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now: every dial is refused

	clk := NewFakeClock()
	c, err := NewClient(WithAPIKey(testKey), WithBaseURL("http://"+addr), WithClock(clk), WithMaxRetries(2))
	require.NoError(t, err)
	_, err = c.Submit(context.Background(), validRequest(t))
	require.Error(t, err)
	var amb *AmbiguousSubmitError
	assert.False(t, errors.As(err, &amb), "a refused connection cannot have created a task: %v", err)
	assert.ErrorContains(t, err, "gave up after 3 attempts")
	assert.Len(t, clk.Sleeps(), 2)
}

// TestRedirectedSubmitIsAmbiguousAndNeverRepeated guards against a
// duplicate paid task: a server that creates the task and answers with a
// redirect to a dead host. Following it would turn the submit into a GET
// whose dial error looks like "never sent", and the submit would be
// retried. The redirect must not be followed, and the submit is ambiguous.
func TestRedirectedSubmitIsAmbiguousAndNeverRepeated(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := ln.Addr().String()
	require.NoError(t, ln.Close())

	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect} {
		var posts atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost {
				posts.Add(1) // the task is created here
			}
			http.Redirect(w, r, "http://"+dead+"/tasks/t-1", status)
		}))
		c, err := NewClient(WithAPIKey(testKey), WithBaseURL(srv.URL), WithClock(NewFakeClock()))
		require.NoError(t, err)
		_, err = c.Submit(context.Background(), validRequest(t))
		var amb *AmbiguousSubmitError
		require.ErrorAs(t, err, &amb, "status %d", status)
		var apiErr *APIError
		require.ErrorAs(t, err, &apiErr)
		assert.Equal(t, status, apiErr.StatusCode)
		assert.Equal(t, int32(1), posts.Load(), "status %d: exactly one POST", status)
		srv.Close()
	}
}

// TestSubmitWithADoneContextSendsNothing checks that a caller who already
// gave up gets a plain context error, not "a task may exist", and that
// nothing reaches the server.
func TestSubmitWithADoneContextSendsNothing(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { requests.Add(1) }))
	defer srv.Close()
	c, err := NewClient(WithAPIKey(testKey), WithBaseURL(srv.URL))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = c.Submit(ctx, validRequest(t))
	require.ErrorIs(t, err, context.Canceled)
	var amb *AmbiguousSubmitError
	assert.False(t, errors.As(err, &amb), "%v", err)
	assert.Zero(t, requests.Load())
}

// TestRetryRuleTable is the one retry rule and the one "a task may exist"
// rule on the facts of an attempt, for a paid call (a submit) and a free
// one (a poll, a download); the poller's "poll again" is the same rule
// (isTransient), read from the error of a call without retries.
func TestRetryRuleTable(t *testing.T) {
	for _, tc := range []struct {
		name                     string
		o                        outcome
		paidRetry, paidAmbiguous bool
		freeRetry                bool
	}{
		{"429", outcome{status: 429, sent: true}, true, false, true},
		{"503", outcome{status: 503, sent: true}, false, true, true},
		{"408", outcome{status: 408, sent: true}, false, false, true},
		{"425", outcome{status: 425, sent: true}, false, false, true},
		{"400", outcome{status: 400, sent: true}, false, false, false},
		{"404", outcome{status: 404, sent: true}, false, false, false},
		{"302", outcome{status: 302, sent: true}, false, true, false},
		{"network before the body went out", outcome{network: true}, true, false, true},
		{"network after the body went out", outcome{network: true, sent: true}, false, true, true},
		{"an undecodable 2xx answer", outcome{sent: true}, false, true, false},
		{"a permanent failure, nothing sent", outcome{}, false, false, false},
	} {
		assert.Equal(t, tc.paidRetry, retryable(true, tc.o), "%s: paid, retried", tc.name)
		assert.Equal(t, tc.paidAmbiguous, ambiguous(true, tc.o), "%s: paid, a task may exist", tc.name)
		assert.Equal(t, tc.freeRetry, retryable(false, tc.o), "%s: free, retried", tc.name)
		assert.False(t, ambiguous(false, tc.o), "%s: a free call makes no task", tc.name)

		c, _, _ := mockClient(t)
		o := tc.o
		o.err = errors.New("boom")
		err := c.withRetries(context.Background(), event{}, 0, func(int) outcome { return o })
		assert.Equal(t, tc.freeRetry, isTransient(err), "%s: the poller polls again", tc.name)
		assert.EqualError(t, err, "boom", "%s: the mark adds nothing to the message", tc.name)
	}
}
