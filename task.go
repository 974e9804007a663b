package qwenedit

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/seed-b62e15c8/qwenedit/internal/streambody"
)

// TaskStatus is a task's state. MuleRouter's pages use two vocabularies
// (pending, processing, completed and queued, running, succeeded) plus
// failed; values are compared case-insensitively and unknown values are kept
// as they came and treated as still running.
type TaskStatus string

// Known statuses.
const (
	statusPending    TaskStatus = "pending"
	statusQueued     TaskStatus = "queued"
	statusProcessing TaskStatus = "processing"
	statusRunning    TaskStatus = "running"
	statusCompleted  TaskStatus = "completed"
	statusSucceeded  TaskStatus = "succeeded"
	statusFailed     TaskStatus = "failed"
)

// IsTerminal reports whether the task has finished: completed, succeeded or failed.
func (s TaskStatus) IsTerminal() bool { return s.IsSuccess() || s.is(statusFailed) }

// IsSuccess reports whether the task finished with results: completed or succeeded.
func (s TaskStatus) IsSuccess() bool { return s.is(statusCompleted) || s.is(statusSucceeded) }

// IsFailure reports whether the task finished without results.
func (s TaskStatus) IsFailure() bool { return s.is(statusFailed) }

func (s TaskStatus) is(t TaskStatus) bool {
	return strings.EqualFold(strings.TrimSpace(string(s)), string(t))
}

// TaskInfo is the task_info object both endpoints return. It marshals as
// that object, with zero times left out.
type TaskInfo struct {
	ID     string     `json:"id"`
	Status TaskStatus `json:"status"`
	// CreatedAt and UpdatedAt are read from RFC 3339 times, with or without
	// fractional seconds (without a zone: UTC); they are zero when absent
	// or in another form.
	CreatedAt time.Time `json:"created_at,omitzero"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
	// Error is set when Status is failed.
	Error *TaskError `json:"error,omitempty"`
}

// TaskError is the error object of a failed task: task_info.error.
type TaskError struct {
	// Code is the numeric code, from "error_code" or "code" (0 when absent).
	Code int `json:"code,omitempty"`
	// Title is the short description, Detail the explanation.
	Title  string `json:"title,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// Task is a task with its results. It marshals as the API's answer,
// {"task_info": {...}, "images": [...]}, and unmarshals from it: a Task
// survives json.Marshal and json.Unmarshal whole.
type Task struct {
	TaskInfo `json:"task_info"`
	// Images are the result URLs once the task succeeded. They are valid for
	// 24 hours: download them (Download, SaveImages) rather than storing them.
	Images []string `json:"images,omitempty"`
}

// UnmarshalJSON reads a task answer as leniently as Get does: a stored
// API answer as well as a Task's own JSON. A status that is not a string
// is "", a time in another form is zero, an error that is neither an
// object nor a string is nil, and the error's code is read from "code" or
// "error_code". Only a value that is not a JSON object with a task_info
// object is an error.
func (t *Task) UnmarshalJSON(b []byte) error {
	if string(bytes.TrimSpace(b)) == "null" {
		return nil
	}
	task, err := readTask(b)
	if err != nil {
		return fmt.Errorf("qwenedit: task: %w", err)
	}
	*t = *task
	return nil
}

// Submit validates req (every documented limit, local images included) and
// creates the task. It returns as soon as the server accepted it; use
// WaitForResult with the returned ID, or Edit to do both.
//
// A submit is retried only when no task can have been created (429, or a
// connection that failed before the request was sent). It returns:
//   - a *ValidationError (errors.Is ErrInvalidRequest) when req breaks a
//     documented limit: nothing was sent;
//   - an *APIError for a refusal (401, 402, 403, 400/422, a 429 after the
//     retries, ...): no task was created;
//   - an error matching ErrImageSource when a local image failed while it
//     was being sent: no task was created;
//   - an *AmbiguousSubmitError when the outcome is unknown (the answer was
//     lost, a 5xx or 3xx, a reset after the body went out, a cancelled ctx
//     after that): a task may exist and be charged;
//   - ctx's error, wrapped, when ctx had ended before anything was sent.
func (c *Client) Submit(ctx context.Context, req *EditRequest) (*TaskInfo, error) {
	body, err := c.buildBody(ctx, req)
	if err != nil {
		return nil, err
	}
	t, err := c.callTask(ctx, apiCall{method: http.MethodPost, path: c.submitPath, body: body, paid: true})
	if err != nil {
		return nil, err
	}
	// Remembered so that WaitForResult on this ID plans its polls like Edit
	// (see internal/schedule) instead of starting with an immediate GET.
	c.tasks.Submitted(t.ID, c.cfg.clock.Now())
	info := t.TaskInfo
	return &info, nil
}

// buildBody validates req and builds the streaming JSON body.
func (c *Client) buildBody(ctx context.Context, req *EditRequest) (*streambody.Body, error) {
	if err := c.ready(); err != nil {
		return nil, err
	}
	if err := req.readImages(ctx); err != nil {
		return nil, err
	}
	images, err := req.check(c.cfg.pixelCheck)
	if err != nil {
		return nil, err
	}
	fields, err := req.fieldsJSON()
	if err != nil {
		return nil, err
	}
	parts := make([]streambody.Part, len(images))
	for i, img := range images {
		parts[i] = img.part
	}
	return streambody.New(fields, parts)
}

// Get fetches a task's current state. A failed task is returned without an
// error (inspect task.Status and task.Error); WaitForResult turns it into a
// *TaskFailedError. An unknown task ID gives an *APIError matching ErrNotFound.
func (c *Client) Get(ctx context.Context, taskID string) (*Task, error) {
	return c.get(ctx, taskID, false)
}

// get is Get for the poller and for Get itself. once turns off the call's
// own retries: the poller has its own schedule, and two layers would
// multiply requests. An answer about another task than the one asked for
// is never taken for it.
func (c *Client) get(ctx context.Context, taskID string, once bool) (*Task, error) {
	path, err := c.taskPath(taskID)
	if err != nil {
		return nil, err
	}
	t, err := c.callTask(ctx, apiCall{method: http.MethodGet, path: path, once: once})
	if err != nil {
		return nil, err
	}
	if want := strings.TrimSpace(taskID); t.ID != want {
		return nil, fmt.Errorf("qwenedit: GET %s: %w: the answer is about task %q, not %q", path, ErrUnexpectedResponse, t.ID, want)
	}
	return t, nil
}

// taskPath is the submit path plus the escaped ID; an ID that could change
// the path's meaning is refused before any request.
func (c *Client) taskPath(taskID string) (string, error) {
	if err := c.ready(); err != nil {
		return "", err
	}
	id := strings.TrimSpace(taskID)
	if id == "" || id == "." || id == ".." {
		return "", &ValidationError{Problems: []FieldError{{Field: "task_id", Message: fmt.Sprintf("%q is not a task ID", taskID)}}}
	}
	return c.submitPath + "/" + url.PathEscape(id), nil
}
