package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/seed-b62e15c8/qwenedit"
)

// failure is a command's error worded for the user: one line, printed after
// "qwenedit <command>: ", with the exit status and, for -json, its kind and
// task.
type failure struct {
	msg    string
	code   int    // exitFailure or exitUsage
	kind   string // for -json: usage, invalid_request, unauthorized, task_failed, ...
	taskID string // the task the error is about, if any
	help   bool   // a bad command line: point at -h
	err    error  // the SDK's error, for errors.Is and errors.As
}

func (f *failure) Error() string { return f.msg }

// Unwrap returns the SDK's error.
func (f *failure) Unwrap() error { return f.err }

// usagef is a bad command line: exit status 2, and nothing was sent.
func usagef(format string, args ...any) *failure {
	return &failure{msg: fmt.Sprintf(format, args...), code: exitUsage, kind: "usage", help: true}
}

// configf is a bad environment: exit status 2 too, and nothing was sent.
func configf(format string, args ...any) *failure {
	return &failure{msg: fmt.Sprintf(format, args...), code: exitUsage, kind: "config"}
}

// asFailure returns err as a *failure, worded without knowledge of the call
// if it is not one already.
func asFailure(err error) *failure {
	var f *failure
	if errors.As(err, &f) {
		return f
	}
	return (&explainer{}).explain(err)
}

// explainer words the SDK's errors for one command, with what it knows of
// the call: where it went, the -image values, where to resume.
type explainer struct {
	base       string   // the API base URL
	model      string   // -model
	fake       bool     // the built-in fake: its tasks end with the run
	images     []string // the -image values, by their number
	out        string   // -out, for the resume command; "" suggests none
	oneImage   bool     // batch: each request has one image, named by its file already
	jsonFields bool     // batch -manifest: fields named as a manifest line names them, not by their flags
}

// explain wraps err in a *failure. A request refused before sending is a
// usage error (exit status 2): nothing was sent.
func (x *explainer) explain(err error) *failure {
	f := &failure{msg: x.message(err), code: exitFailure, kind: kindOf(err), taskID: taskIDOf(err), err: err}
	if errors.As(err, new(*qwenedit.ValidationError)) {
		f.code = exitUsage
	}
	return f
}

// message is err in one line, without the SDK's "qwenedit: " prefixes, with
// images counted from 1 as prompts count them, and with what to do next.
func (x *explainer) message(err error) string {
	var (
		verr    *qwenedit.ValidationError
		amb     *qwenedit.AmbiguousSubmitError
		failed  *qwenedit.TaskFailedError
		timeout *qwenedit.WaitTimeoutError
		waitErr *qwenedit.WaitError
		apiErr  *qwenedit.APIError
	)
	switch {
	case errors.As(err, &verr):
		parts := make([]string, len(verr.Problems))
		for i, p := range verr.Problems {
			parts[i] = x.problem(p)
		}
		return strings.Join(parts, "; ")
	case errors.As(err, &amb):
		return "the submit's outcome is unknown (" + x.message(amb.Err) + "): a task may have been created and charged; " +
			"check your MuleRouter dashboard before submitting again"
	case errors.As(err, &failed):
		msg := "task " + failed.TaskID + " failed"
		if failed.Code != 0 {
			msg += fmt.Sprintf(" (code %d)", failed.Code)
		}
		for _, s := range []string{failed.Title, failed.Detail} {
			if s != "" {
				msg += ": " + s
			}
		}
		return msg
	case errors.As(err, &timeout):
		msg := fmt.Sprintf("gave up waiting for task %s after %s", timeout.TaskID, timeout.Waited.Round(time.Millisecond))
		if timeout.LastStatus != "" {
			msg += fmt.Sprintf(" (last status %s)", timeout.LastStatus)
		}
		if timeout.LastErr != nil {
			msg += " (last poll: " + x.message(timeout.LastErr) + ")"
		}
		return msg + x.resumeHint(timeout.TaskID)
	case errors.As(err, &waitErr):
		switch {
		case errors.Is(waitErr.Err, context.Canceled):
			return "interrupted while waiting for task " + waitErr.TaskID + x.resumeHint(waitErr.TaskID)
		case errors.Is(waitErr.Err, qwenedit.ErrNotFound):
			return x.message(waitErr.Err) // it names the task
		}
		return "stopped waiting for task " + waitErr.TaskID + ": " + x.message(waitErr.Err)
	case errors.Is(err, qwenedit.ErrResultExpired) && errors.As(err, &apiErr):
		return fmt.Sprintf("result %s is expired or unknown (%s): result URLs are valid for 24 hours after the task finished",
			apiErr.Path, apiDetail(apiErr, false))
	case errors.As(err, &apiErr):
		return x.apiMessage(apiErr)
	case errors.Is(err, context.Canceled):
		return "interrupted"
	case errors.As(err, new(*tls.CertificateVerificationError)):
		return clean(err.Error()) + "; for examples/fakeserver -tls: start it with -cert-out FILE and run this command with SSL_CERT_FILE=FILE"
	}
	return clean(err.Error())
}

// problem words one problem of a request: images as "image 1" to "image 3",
// the other fields by their flag.
func (x *explainer) problem(p qwenedit.FieldError) string {
	msg := clean(p.Message)
	if i, ok := imageIndex(p.Field); ok {
		name := fmt.Sprintf("image %d", i+1)
		if x.oneImage {
			name = "image"
		}
		if errors.Is(p.Err, fs.ErrNotExist) && i < len(x.images) {
			return fmt.Sprintf("%s: no such file %q", name, x.images[i])
		}
		return name + ": " + msg
	}
	if x.jsonFields {
		return p.Field + " " + msg
	}
	if flag, ok := fieldFlags[p.Field]; ok {
		return flag + " " + msg
	}
	return p.Field + ": " + msg
}

// fieldFlags are the command's flags for the request's wire fields.
var fieldFlags = map[string]string{"prompt": "-prompt", "negative_prompt": "-negative-prompt", "n": "-n",
	"seed": "-seed", "size": "-size", "images": "-image", "prompt_extend": "-prompt-extend", "safety_filter": "-safety-filter"}

// wireName is the wire field of one of fieldFlags' flags.
func wireName(flag string) string {
	for field, f := range fieldFlags {
		if f == flag {
			return field
		}
	}
	return ""
}

// imageIndex reads the index of "images[i]".
func imageIndex(field string) (int, bool) {
	s, ok := strings.CutPrefix(field, "images[")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, "]")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	return i, err == nil && i >= 0
}

// apiDetail is the status, message and code of an answer, and its
// traceparent (for a bug report) if withTrace.
func apiDetail(e *qwenedit.APIError, withTrace bool) string {
	detail := fmt.Sprintf("HTTP %d", e.StatusCode)
	if e.Message != "" && e.Message != detail {
		detail += ": " + clean(e.Message)
	}
	if e.Code != 0 {
		detail += fmt.Sprintf(", code %d", e.Code)
	}
	if withTrace && e.TraceParent != "" {
		detail += ", traceparent " + e.TraceParent
	}
	return detail
}

// apiMessage words a non-2xx answer by what the user can do about it.
func (x *explainer) apiMessage(e *qwenedit.APIError) string {
	detail, host := apiDetail(e, false), x.base
	switch {
	case strings.HasPrefix(e.Path, "http://") || strings.HasPrefix(e.Path, "https://"):
		return fmt.Sprintf("%s %s: %s", e.Method, e.Path, apiDetail(e, true)) // a result URL, on its own host
	case x.fake:
		host = "the built-in fake server"
	case host == "":
		host = e.Method + " " + e.Path
	}
	switch e.StatusCode {
	case http.StatusUnauthorized:
		return fmt.Sprintf("%s refused the API key (%s): check MULEROUTER_API_KEY", host, detail)
	case http.StatusPaymentRequired:
		return fmt.Sprintf("%s asks for payment (%s): top up your MuleRouter balance", host, detail)
	case http.StatusForbidden:
		return fmt.Sprintf("%s refused access (%s): check that your MULEROUTER_API_KEY may use %s", host, detail, x.model)
	case http.StatusNotFound:
		if e.Method == http.MethodPost {
			return fmt.Sprintf("model %q not found at %s (%s); -model takes %s (the default) or qwen-image-edit-plus",
				x.model, host, detail, qwenedit.DefaultModel)
		}
		return fmt.Sprintf("task %s not found at %s (%s): check the ID and -model; tasks are kept for 24 hours", path.Base(e.Path), host, detail)
	case http.StatusTooManyRequests:
		msg := fmt.Sprintf("%s is rate limiting (%s)", host, detail)
		if e.RetryAfter > 0 {
			msg += fmt.Sprintf(": try again in %s", e.RetryAfter)
		}
		return msg
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return fmt.Sprintf("%s refused the request (%s)", host, detail)
	}
	return fmt.Sprintf("%s answered %s", host, apiDetail(e, true)) // 5xx and the unexpected: worth a bug report
}

// resumeHint says how to pick up a task that is still running, after a
// "; ", or nothing where the command has its own way (batch).
func (x *explainer) resumeHint(taskID string) string {
	switch {
	case x.fake:
		return "; the built-in fake server ends with this run, and its task with it"
	case x.out == "":
		return ""
	}
	return "; the task goes on and is charged: resume with " + waitCommandLine(taskID, x.model, x.out)
}

// waitCommandLine is the command that resumes the wait for a task.
func waitCommandLine(taskID, model, out string) string {
	cmd := "qwenedit wait " + shellQuote(taskID)
	if model != "" && model != qwenedit.DefaultModel {
		cmd += " -model " + shellQuote(model)
	}
	return cmd + " -out " + shellQuote(out)
}

// saveCause is a SaveImages error without the SDK's "SaveImages: image i
// of task ..." prefix, which counts from 0: the command words its own.
func saveCause(err error) error {
	if inner := errors.Unwrap(err); inner != nil && strings.Contains(err.Error(), "SaveImages") {
		return inner
	}
	return err
}

// saveMessage words a SaveImages error: saved results came before it.
func (x *explainer) saveMessage(taskID string, saved int, err error) string {
	err = saveCause(err)
	msg := fmt.Sprintf("task %s is done, but saving its result %d into %s failed: %s", taskID, saved+1, x.out, x.message(err))
	if errors.Is(err, qwenedit.ErrResultExpired) || x.fake {
		return msg
	}
	return msg + "; its results can be downloaded for 24 hours: qwenedit download " + shellQuote(taskID) + " -out " + shellQuote(x.out)
}

// sdkWording turns the SDK's advice for programmers into advice for the
// command line.
var sdkWording = strings.NewReplacer(
	"qwenedit: ", "",
	"use https or WithInsecureHTTP", "use an https:// URL",
	"; use WithAPIKey", "; put the key in MULEROUTER_API_KEY",
	"resume with WaitForResult", "resume with qwenedit wait",
)

// clean removes the SDK's prefixes and its advice to call options a
// command-line user cannot pass, and keeps the message on one line.
func clean(msg string) string {
	return strings.Join(strings.Fields(sdkWording.Replace(msg)), " ")
}

// kindOf classifies err for -json.
func kindOf(err error) string {
	var f *failure
	switch {
	case errors.As(err, &f):
		return f.kind
	case errors.As(err, new(*qwenedit.ValidationError)):
		return "invalid_request"
	case errors.As(err, new(*qwenedit.AmbiguousSubmitError)):
		return "ambiguous_submit"
	case errors.As(err, new(*qwenedit.TaskFailedError)):
		return "task_failed"
	case errors.As(err, new(*qwenedit.WaitTimeoutError)):
		return "wait_timeout"
	case errors.Is(err, context.Canceled):
		return "interrupted"
	case errors.Is(err, qwenedit.ErrUnauthorized):
		return "unauthorized"
	case errors.Is(err, qwenedit.ErrPaymentRequired):
		return "payment_required"
	case errors.Is(err, qwenedit.ErrForbidden):
		return "forbidden"
	case errors.Is(err, qwenedit.ErrResultExpired):
		return "result_expired"
	case errors.Is(err, qwenedit.ErrNotFound):
		return "not_found"
	case errors.Is(err, qwenedit.ErrRateLimited):
		return "rate_limited"
	case errors.As(err, new(*qwenedit.APIError)):
		return "api_error"
	}
	return "error"
}

// taskIDOf is the task an error of the SDK names, if any.
func taskIDOf(err error) string {
	var (
		failed  *qwenedit.TaskFailedError
		timeout *qwenedit.WaitTimeoutError
		waitErr *qwenedit.WaitError
	)
	switch {
	case errors.As(err, &failed):
		return failed.TaskID
	case errors.As(err, &timeout):
		return timeout.TaskID
	case errors.As(err, &waitErr):
		return waitErr.TaskID
	}
	return ""
}

// lastStatusOf is the last status of the task an error of the SDK names, if known.
func lastStatusOf(err error) qwenedit.TaskStatus {
	var (
		timeout *qwenedit.WaitTimeoutError
		waitErr *qwenedit.WaitError
	)
	switch {
	case errors.As(err, new(*qwenedit.TaskFailedError)):
		return qwenedit.TaskStatus("failed")
	case errors.As(err, &timeout):
		return timeout.LastStatus
	case errors.As(err, &waitErr):
		return waitErr.LastStatus
	}
	return ""
}
