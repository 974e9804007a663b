package qwenedit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"time"

	"github.com/seed-b62e15c8/qwenedit/internal/sendtrace"
	"github.com/seed-b62e15c8/qwenedit/internal/streambody"
)

// This file is the one request path: every HTTP call of the SDK (submit,
// poll, download) is an apiCall run by send, which builds the request,
// sends it, classifies the answer (classify*) and lets the retry policy
// (retry.go) decide what happens next.

// Limits on what the client reads from a response.
const (
	maxSuccessBody = 4 << 20  // a task JSON is a few hundred bytes; 4 MiB is generous
	maxErrorBody   = 64 << 10 // error bodies are parsed from at most this much
	maxDrain       = 64 << 10
)

// maxInMemoryBody is the largest request body sent from memory rather than
// streamed: small enough to be no memory concern, big enough for a prompt
// and a small image.
const maxInMemoryBody = 64 << 10

// apiCall is one logical HTTP call. Its body can be rebuilt for each
// attempt, but never by net/http (see newRequest).
type apiCall struct {
	method string
	path   string           // absolute path on the API origin, or "" when url is set
	url    *url.URL         // a download's absolute URL; nil for API calls
	body   *streambody.Body // nil for GET
	// paid marks a submit: a request the server takes in full may create a
	// paid task, so the retry policy (retry.go) treats it apart.
	paid bool
	// once turns the call's own retries off: the poller retries by its
	// own schedule, and two layers would multiply the requests.
	once bool
	// read consumes a 2xx answer (callTask sets it to read a task). Its
	// error ends the attempt.
	read func(resp *http.Response) error
}

// target is the URL the call goes to.
func (ac apiCall) target(c *Client) string {
	if ac.url != nil {
		return ac.url.String()
	}
	return c.origin + ac.path
}

// shownPath is the path errors and logs show: the API path, or a result
// URL without its query (its signature).
func (ac apiCall) shownPath() string {
	if ac.url != nil {
		return redactURL(ac.url)
	}
	return ac.path
}

// name is how errors name the call: method and shown path.
func (ac apiCall) name() string { return ac.method + " " + ac.shownPath() }

// callTask runs ac with retries and decodes its 2xx answer, a task: a JSON
// body of at most maxSuccessBody bytes. An answer that is no task is an
// ErrUnexpectedResponse, which the retry policy reads like any other
// failure after the request went out (after a submit: a task may exist).
func (c *Client) callTask(ctx context.Context, ac apiCall) (*Task, error) {
	var task *Task
	ac.read = func(r *http.Response) error {
		body, err := readLimited(r.Body, r.ContentLength, maxSuccessBody)
		if err != nil {
			return err
		}
		if task, err = decodeTask(body); err != nil {
			return finalError{err} // the same answer would come again
		}
		return nil
	}
	if err := c.send(ctx, ac); err != nil {
		return nil, err
	}
	return task, nil
}

// send runs ac, retrying as the policy allows; ac.read consumes the answer.
func (c *Client) send(ctx context.Context, ac apiCall) error {
	maxRetries := c.cfg.retry.maxRetries
	if ac.once {
		maxRetries = 0
	}
	timeout := c.attemptTimeout(ac)
	return c.withRetries(ctx, event{method: ac.method, path: ac.shownPath(), paid: ac.paid}, maxRetries, func(n int) outcome {
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= timeout {
			// The caller's deadline comes first: a timer of our own
			// could never fire.
			return c.attempt(ctx, ctx, ac, n)
		}
		actx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return c.attempt(actx, ctx, ac, n)
	})
}

// attemptTimeout is the time one attempt may take: the per-attempt
// timeout, plus 1 s per 256 KiB of the body to upload or, for a download,
// of the download cap, so that the largest request or image still gets
// through at 256 KiB/s. Sums saturate: a huge setting means "no limit",
// never an overflow into the past.
func (c *Client) attemptTimeout(ac apiCall) time.Duration {
	var bytes int64
	switch {
	case ac.body != nil:
		bytes = ac.body.Len()
	case ac.url != nil:
		bytes = c.cfg.maxDownload
	}
	return addSat(c.cfg.retry.attemptTimeout, time.Duration(bytes/(256<<10))*time.Second)
}

// attempt performs one HTTP exchange. actx carries the per-attempt timeout;
// parent is the caller's context, used to tell our timeout from theirs.
func (c *Client) attempt(actx, parent context.Context, ac apiCall, n int) outcome {
	if err := parent.Err(); err != nil {
		// Nothing goes out for a caller who already gave up: a plain
		// context error, never "a task may exist".
		return outcome{err: fmt.Errorf("qwenedit: %s: %w", ac.name(), err)}
	}
	var trace *sendtrace.Trace // nil for calls that are not paid
	rctx := actx
	if ac.paid {
		// Only a submit needs to know how far the request got: the events
		// of the connection, and how much of the body net/http took.
		trace = &sendtrace.Trace{}
		rctx = httptrace.WithClientTrace(actx, trace.Hooks())
	}
	req, err := c.newRequest(rctx, ac, trace)
	if err != nil {
		return outcome{err: err}
	}
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		return classifyTransport(parent, ac, err, trace)
	}
	defer resp.Body.Close()
	if c.logs(actx, slog.LevelDebug) {
		c.log(actx, slog.LevelDebug, "qwenedit: attempt", event{method: ac.method, path: ac.shownPath(), attempt: n + 1}.attrs(
			slog.Int("status", resp.StatusCode),
			slog.Duration("elapsed", time.Since(start)),
			slog.String("traceparent", resp.Header.Get("Traceparent")),
		)...)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return classifyStatus(ac, resp, c.cfg.clock.Now())
	}
	if trace != nil && req.Header.Get("Expect") != "" && !trace.Continued() {
		c.expectIgnored.Store(true)
	}
	if err := ac.read(resp); err != nil {
		return classifyRead(parent, ac, err)
	}
	return outcome{}
}

// newRequest builds the request of one attempt: the one place that sets
// headers and the key. A streamed body is counted in trace, if not nil.
func (c *Client) newRequest(ctx context.Context, ac apiCall, trace *sendtrace.Trace) (*http.Request, error) {
	body, err := requestBody(ac, trace)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, ac.method, ac.target(c), body)
	if err != nil {
		if rc, ok := body.(io.Closer); ok {
			_ = rc.Close() // nothing was read from it: it opened nothing yet
		}
		return nil, fmt.Errorf("qwenedit: %s: %w", ac.name(), err)
	}
	req.Header.Set("User-Agent", c.userAgent)
	if ac.url == nil {
		req.Header.Set("Accept", "application/json")
	}
	if ac.url == nil || originOf(ac.url) == c.keyOrigin {
		// Only the API's own origin gets the key, never a result host; the
		// transport also strips it from a redirect that leaves the origin.
		req.Header.Set("Authorization", c.auth())
	}
	if ac.body != nil {
		req.Header.Set("Content-Type", "application/json")
		req.ContentLength = ac.body.Len()
		// A paid POST must never be rewindable: with a GetBody, net/http's
		// HTTP/2 transport replays it after a RST_STREAM(PROTOCOL_ERROR) or
		// REFUSED_STREAM, even when the server has read it all and made a
		// task. The SDK retries a submit itself, and only when no task can
		// exist (retry.go).
		req.GetBody = nil
		if c.expectContinue(ac) {
			req.Header.Set("Expect", "100-continue")
		}
	}
	return req, nil
}

// requestBody is a fresh body for one attempt (net/http may read a body
// until it is closed, so attempts share none): small ones built in memory,
// larger ones streamed and counted in trace (a paid call's), whose events
// tell the progress of the others.
func requestBody(ac apiCall, trace *sendtrace.Trace) (io.Reader, error) {
	switch {
	case ac.body == nil:
		return nil, nil
	case ac.body.Len() <= maxInMemoryBody:
		// A *bytes.Reader: net/http sends it in one write with the
		// headers, where it flushes the headers of any other body first.
		b, err := ac.body.AppendTo(nil)
		if err != nil {
			return nil, imageSourceErr(ac, err)
		}
		return bytes.NewReader(b), nil
	}
	rc, err := ac.body.Open()
	if err != nil {
		return nil, fmt.Errorf("qwenedit: %s: opening body: %w", ac.name(), err)
	}
	if trace == nil {
		return rc, nil
	}
	trace.Body = &sendtrace.CountingBody{ReadCloser: rc, Size: ac.body.Len()}
	return trace.Body, nil
}

// expectContinue reports whether a request should ask the server to
// approve its body first ("Expect: 100-continue"). Bodies over a MiB do, so that
// a server refusing the call (a wrong key, no balance, a rate limit) says
// so before megabytes are sent. Without it, over HTTP/1.1, the refusal
// races the upload: the server answers and closes, the client's write
// fails, and the answer is lost, which would make a clean 401 look like a
// submit that may have created a task. Once a server has answered a large
// submit without a 100 Continue, it does not honour Expect and each
// request would wait ExpectContinueTimeout for nothing, so the Client
// stops asking.
func (c *Client) expectContinue(ac apiCall) bool {
	return ac.body.Len() > minExpectBody && !c.expectIgnored.Load()
}

// minExpectBody is the smallest body sent with "Expect: 100-continue".
// Below it the extra round trip would cost more than the upload it can
// save, and a server that refuses such a request reads the little that is
// left rather than resetting the connection under it (Go's reads up to
// 256 KiB; nginx lingers).
const minExpectBody = 1 << 20

// classifyTransport classifies an error from http.Client.Do.
func classifyTransport(parent context.Context, ac apiCall, err error, trace *sendtrace.Trace) outcome {
	if isSourceError(err) {
		// Our own image failed mid-body: the server got a truncated request
		// and can have made nothing, and a retry would fail the same way.
		return outcome{err: imageSourceErr(ac, err)}
	}
	var ue *url.Error
	if errors.As(err, &ue) && ac.url != nil {
		ue.URL = redactURLString(ue.URL) // the request's, or a redirect's
	}
	if why := permanentCause(err); why != "" {
		return outcome{err: fmt.Errorf("%w (not retried: %s)", attemptErr(parent, ac, "", err), why), reason: "permanent"}
	}
	o := outcome{err: attemptErr(parent, ac, "", err), reason: "network", network: true}
	if ac.paid {
		switch {
		case trace.NothingSent(err):
			o.reason = "network, request not sent"
		case sendtrace.Unprocessed(err):
			o.reason = "refused by the server, not processed (REFUSED_STREAM or GOAWAY)"
		default:
			o.sent, o.reason = true, "network after the request was sent"
		}
	}
	return o
}

// classifyStatus turns a non-2xx answer into an *APIError.
func classifyStatus(ac apiCall, resp *http.Response, now time.Time) outcome {
	apiErr := newAPIError(ac.method, ac.shownPath(), resp, now)
	return outcome{err: apiErr, status: resp.StatusCode, sent: true, retryAfter: apiErr.RetryAfter,
		reason: fmt.Sprintf("status %d", resp.StatusCode)}
}

// classifyRead classifies an error while reading a 2xx answer.
func classifyRead(parent context.Context, ac apiCall, err error) outcome {
	var final finalError
	if errors.As(err, &final) {
		return outcome{err: attemptErr(parent, ac, "", final.err), sent: true}
	}
	o := outcome{err: attemptErr(parent, ac, "reading response: ", err), sent: true, reason: "response body"}
	// A body too large to read will not shrink on a retry.
	o.network = !errors.Is(err, ErrResponseTooLarge)
	return o
}

// finalError is a read failure that no retry can mend (the caller's
// writer failed, or bytes already went to it); read functions wrap such
// errors in it.
type finalError struct{ err error }

func (e finalError) Error() string { return e.err.Error() }
func (e finalError) Unwrap() error { return e.err }

// isSourceError reports a failure of a local image inside the request body.
func isSourceError(err error) bool {
	var se *streambody.SourceError
	return errors.As(err, &se)
}

// imageSourceErr is the error of a call whose local image failed while its
// body was built or sent.
func imageSourceErr(ac apiCall, err error) error {
	return fmt.Errorf("qwenedit: %s: %w: %w", ac.name(), ErrImageSource, err)
}

// attemptErr is "qwenedit: <call>: <what><err>", marked with
// ErrAttemptTimeout when the deadline that ended the attempt was the
// per-attempt timeout rather than the caller's, so that the caller can
// tell them apart.
func attemptErr(parent context.Context, ac apiCall, what string, err error) error {
	if parent.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("qwenedit: %s: %s%w: %w", ac.name(), what, ErrAttemptTimeout, err)
	}
	return fmt.Errorf("qwenedit: %s: %s%w", ac.name(), what, err)
}

// readLimited reads all of r, failing with ErrResponseTooLarge past limit
// bytes; an answer announced (size, -1 if unknown) too large fails before
// a byte is read.
func readLimited(r io.Reader, size, limit int64) ([]byte, error) {
	if size > limit {
		return nil, fmt.Errorf("%w: %d bytes announced, the limit is %d", ErrResponseTooLarge, size, limit)
	}
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrResponseTooLarge, limit)
	}
	return body, nil
}

// drain reads a little of what is left so the connection can be reused, then
// gives up: a huge error body is not worth reading to keep one connection.
func drain(r io.Reader) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r, maxDrain))
}
