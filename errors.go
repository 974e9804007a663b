package qwenedit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Sentinel errors. Match them with errors.Is; the typed errors below carry the details.
var (
	// ErrNoAPIKey: NewClient found no key in WithAPIKey or MULEROUTER_API_KEY.
	ErrNoAPIKey = errors.New("qwenedit: no API key (use WithAPIKey or set MULEROUTER_API_KEY)")
	// ErrInvalidRequest: the request broke a documented constraint, found either by
	// Validate before any network call (*ValidationError) or by the server (400/422 *APIError).
	ErrInvalidRequest = errors.New("qwenedit: invalid request")
	// ErrUnauthorized: HTTP 401, the key is missing, malformed, expired or revoked.
	ErrUnauthorized = errors.New("qwenedit: unauthorized")
	// ErrPaymentRequired: HTTP 402, the account balance or subscription does not cover the call.
	ErrPaymentRequired = errors.New("qwenedit: payment required")
	// ErrForbidden: HTTP 403.
	ErrForbidden = errors.New("qwenedit: forbidden")
	// ErrNotFound: HTTP 404, a wrong path or an unknown (or expired) task ID.
	ErrNotFound = errors.New("qwenedit: not found")
	// ErrRateLimited: HTTP 429, a rate limit, quota or daily spend limit.
	ErrRateLimited = errors.New("qwenedit: rate limited")
	// ErrTaskFailed: the task reached the status "failed" (*TaskFailedError).
	ErrTaskFailed = errors.New("qwenedit: task failed")
	// ErrWaitTimeout: WaitForResult gave up before the task finished (*WaitTimeoutError).
	ErrWaitTimeout = errors.New("qwenedit: timed out waiting for task")
	// ErrUnexpectedResponse: a 2xx answer whose body is not the documented JSON.
	ErrUnexpectedResponse = errors.New("qwenedit: unexpected response")
	// ErrResponseTooLarge: an answer exceeded the size limit for its kind.
	ErrResponseTooLarge = errors.New("qwenedit: response too large")
	// ErrAttemptTimeout: one HTTP attempt got no (complete) answer within
	// the per-attempt timeout (WithAttemptTimeout), while the caller's
	// context was still live. The error also matches
	// context.DeadlineExceeded; check your own ctx.Err() to tell the two
	// apart.
	ErrAttemptTimeout = errors.New("qwenedit: no answer within the per-attempt timeout")
	// ErrImageSource: a local image (ImageFile, most often) changed, vanished
	// or could not be read after it was checked, while its request was being
	// sent. The body was cut short, so the server cannot have made a task;
	// the call is not retried (the file would fail again). Fix the file and
	// submit again.
	ErrImageSource = errors.New("qwenedit: a local image failed while it was being sent")
	// ErrResultExpired: a result URL answered 403 or 404; result URLs live 24 hours.
	ErrResultExpired = errors.New("qwenedit: result URL expired or unknown (result URLs are valid for 24 hours after the task finished)")
)

// APIError is a non-2xx answer from the API.
type APIError struct {
	// StatusCode is the HTTP status code.
	StatusCode int
	// Message is the server's explanation: the first message in the body's
	// detail, error, message or msg, else task_info.error's detail or title,
	// else the body's title; each may be a string, an object with such
	// fields, or a list (FastAPI's 422 detail, "loc: msg; ..."). A body
	// that is not JSON but short plain text is the message. Else "HTTP <code>".
	Message string
	// Code is the numeric error_code (or code) of the body, else of its
	// task_info.error, 0 when absent.
	Code int
	// TraceParent is the traceparent response header; quote it in bug reports.
	TraceParent string
	// RetryAfter is the wait the server asked for (Retry-After), 0 when absent.
	RetryAfter time.Duration
	// Method and Path identify the call that failed.
	Method, Path string
	// Body is the answer's body as it came (its first 64 KiB), for
	// debugging an answer the fields above do not explain.
	Body []byte
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "qwenedit: %s %s: HTTP %d", e.Method, e.Path, e.StatusCode)
	if e.Message != "" && e.Message != fmt.Sprintf("HTTP %d", e.StatusCode) {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Code != 0 {
		fmt.Fprintf(&b, " (code %d)", e.Code)
	}
	if e.TraceParent != "" {
		fmt.Fprintf(&b, " [traceparent %s]", e.TraceParent)
	}
	return b.String()
}

// Is maps the status code to the sentinel errors, so errors.Is(err, ErrNotFound) works.
func (e *APIError) Is(target error) bool {
	switch e.StatusCode {
	case http.StatusUnauthorized:
		return target == ErrUnauthorized
	case http.StatusPaymentRequired:
		return target == ErrPaymentRequired
	case http.StatusForbidden:
		return target == ErrForbidden
	case http.StatusNotFound:
		return target == ErrNotFound
	case http.StatusTooManyRequests:
		return target == ErrRateLimited
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return target == ErrInvalidRequest
	}
	return false
}

// FieldError is one violated constraint of a request.
type FieldError struct {
	// Field is the wire name: "prompt", "n", "size", "images", "images[1]", ...
	Field string
	// Message says what is wrong and what the limit is.
	Message string
	// Err is the underlying error where there is one (a file that cannot be
	// opened: errors.Is(err, fs.ErrNotExist) works through the
	// *ValidationError), else nil.
	Err error
}

func (f FieldError) String() string { return f.Field + ": " + f.Message }

// ValidationError lists every problem found in a request before it was sent.
type ValidationError struct {
	Problems []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return "qwenedit: invalid request: " + strings.Join(parts, "; ")
}

// Is makes errors.Is(err, ErrInvalidRequest) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidRequest }

// Unwrap returns the underlying errors of the problems that have one, so
// that errors.Is and errors.As reach them (say, fs.ErrNotExist).
func (e *ValidationError) Unwrap() []error {
	var errs []error
	for _, p := range e.Problems {
		if p.Err != nil {
			errs = append(errs, p.Err)
		}
	}
	return errs
}

// TaskFailedError is a task that ended with the status "failed".
type TaskFailedError struct {
	TaskID string
	// Code, Title and Detail come from task_info.error; Code is 0 when the server sent none.
	Code          int
	Title, Detail string
	// Task is the last state the server reported.
	Task *Task
}

func (e *TaskFailedError) Error() string {
	msg := fmt.Sprintf("qwenedit: task %s failed", e.TaskID)
	if e.Code != 0 {
		msg += fmt.Sprintf(" (code %d)", e.Code)
	}
	switch {
	case e.Title != "" && e.Detail != "":
		msg += ": " + e.Title + ": " + e.Detail
	case e.Title != "" || e.Detail != "":
		msg += ": " + e.Title + e.Detail
	}
	return msg
}

// Is makes errors.Is(err, ErrTaskFailed) true.
func (e *TaskFailedError) Is(target error) bool { return target == ErrTaskFailed }

func newTaskFailedError(t *Task) *TaskFailedError {
	e := &TaskFailedError{TaskID: t.ID, Task: t}
	if t.Error != nil {
		e.Code, e.Title, e.Detail = t.Error.Code, t.Error.Title, t.Error.Detail
	}
	return e
}

// WaitTimeoutError means WaitForResult stopped waiting (its maximum wait or the
// context's deadline passed) while the task was still running on the server.
// The task is not cancelled: resume with WaitForResult(ctx, e.TaskID).
type WaitTimeoutError struct {
	TaskID string
	// LastStatus is the last status seen, "" if no poll succeeded.
	LastStatus TaskStatus
	// Waited is how long WaitForResult waited.
	Waited time.Duration
	// LastErr is the last transient polling error, if the last poll failed.
	LastErr error
}

func (e *WaitTimeoutError) Error() string {
	msg := fmt.Sprintf("qwenedit: gave up waiting for task %s after %s", e.TaskID, e.Waited.Round(time.Millisecond))
	if e.LastStatus != "" {
		msg += fmt.Sprintf(" (last status %q)", e.LastStatus)
	}
	if e.LastErr != nil {
		msg += fmt.Sprintf(" (last poll failed: %v)", e.LastErr)
	}
	return msg + "; the task may still finish: resume with WaitForResult"
}

// Is makes errors.Is work for ErrWaitTimeout and context.DeadlineExceeded.
func (e *WaitTimeoutError) Is(target error) bool {
	return target == ErrWaitTimeout || target == context.DeadlineExceeded
}

// Unwrap returns the last poll's error, if the last poll failed, so that
// errors.As can reach its *APIError (say, a 429 and its RetryAfter).
func (e *WaitTimeoutError) Unwrap() error { return e.LastErr }

// WaitError is how WaitForResult and Edit report an error that ended the
// wait after the task was created, other than a failed task
// (*TaskFailedError) or a timeout (*WaitTimeoutError): the caller's context
// was cancelled, or a poll failed for good (401, 403, 404, an answer that is
// not the documented JSON). The task may still run and be charged; TaskID
// says which one, to look at or to resume with WaitForResult.
type WaitError struct {
	TaskID string
	// LastStatus is the last status seen, "" if no poll succeeded.
	LastStatus TaskStatus
	// Err is what ended the wait: context.Canceled, an *APIError, ...
	Err error
}

func (e *WaitError) Error() string {
	msg := "qwenedit: stopped waiting for task " + e.TaskID
	if e.LastStatus != "" {
		msg += fmt.Sprintf(" (last status %q)", e.LastStatus)
	}
	return msg + ": " + e.Err.Error()
}

// Unwrap returns Err, so errors.Is(err, context.Canceled) and
// errors.As(err, &apiErr) see through it.
func (e *WaitError) Unwrap() error { return e.Err }

// AmbiguousSubmitError is a Submit whose outcome is unknown: the request was sent
// in full but no usable answer came back (a timeout, a reset connection, a 5xx).
// A task may have been created and may be charged. Do not blindly resubmit: check
// your MuleRouter dashboard or wait for a task you can identify first.
//
// Cancelling the context of a Submit (or Edit) after its body went out also
// gives this error: the server may have created the task all the same. The
// API takes no idempotency key, so the SDK cannot find such a task for you.
type AmbiguousSubmitError struct {
	// Err is what went wrong; errors.As still finds an *APIError or a net error inside.
	Err error
}

func (e *AmbiguousSubmitError) Error() string {
	return fmt.Sprintf("qwenedit: submit outcome unknown, a task may have been created (check before resubmitting): %v", e.Err)
}

func (e *AmbiguousSubmitError) Unwrap() error { return e.Err }

// newAPIError reads (a bounded part of) resp's body and builds the error.
func newAPIError(method, path string, resp *http.Response, now time.Time) *APIError {
	e := &APIError{
		StatusCode:  resp.StatusCode,
		TraceParent: resp.Header.Get("Traceparent"),
		RetryAfter:  parseRetryAfter(resp.Header, now),
		Method:      method,
		Path:        path,
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	drain(resp.Body)
	e.Body = body
	e.Message, e.Code = parseErrorBody(body)
	if e.Message == "" {
		e.Message = fmt.Sprintf("HTTP %d", resp.StatusCode)
	}
	return e
}
