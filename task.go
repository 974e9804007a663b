package qwenedit

import (
	"bytes"
	"context"
	"encoding/json"
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
	StatusPending    TaskStatus = "pending"
	StatusQueued     TaskStatus = "queued"
	StatusProcessing TaskStatus = "processing"
	StatusRunning    TaskStatus = "running"
	StatusCompleted  TaskStatus = "completed"
	StatusSucceeded  TaskStatus = "succeeded"
	StatusFailed     TaskStatus = "failed"
)

// IsTerminal reports whether the task has finished: completed, succeeded or failed.
func (s TaskStatus) IsTerminal() bool { return s.IsSuccess() || s.is(StatusFailed) }

// IsSuccess reports whether the task finished with results: completed or succeeded.
func (s TaskStatus) IsSuccess() bool { return s.is(StatusCompleted) || s.is(StatusSucceeded) }

// IsFailure reports whether the task finished without results.
func (s TaskStatus) IsFailure() bool { return s.is(StatusFailed) }

func (s TaskStatus) is(t TaskStatus) bool {
	return strings.EqualFold(strings.TrimSpace(string(s)), string(t))
}

// TaskInfo is the task envelope both endpoints return.
type TaskInfo struct {
	ID     string     `json:"id"`
	Status TaskStatus `json:"status"`
	// CreatedAt and UpdatedAt are zero when absent or unparseable.
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Error is set when Status is failed.
	Error *TaskError `json:"error,omitempty"`
}

// UnmarshalJSON accepts RFC 3339 timestamps with or without fractional
// seconds or a zone; a timestamp it cannot read becomes the zero time rather
// than losing the task (and its result URLs) over a cosmetic field.
func (t *TaskInfo) UnmarshalJSON(b []byte) error {
	var w wireTaskInfo
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*t = w.info()
	return nil
}

// wireTaskInfo is task_info as sent. decodeTask reads it in the same pass
// as the envelope, rather than through TaskInfo.UnmarshalJSON, which would
// scan the object a second time.
type wireTaskInfo struct {
	ID        taskID     `json:"id"`
	Status    string     `json:"status"`
	CreatedAt string     `json:"created_at"`
	UpdatedAt string     `json:"updated_at"`
	Error     *TaskError `json:"error"`
}

func (w *wireTaskInfo) info() TaskInfo {
	return TaskInfo{
		ID:        string(w.ID),
		Status:    TaskStatus(w.Status),
		CreatedAt: parseTimestamp(w.CreatedAt),
		UpdatedAt: parseTimestamp(w.UpdatedAt),
		Error:     w.Error,
	}
}

// taskID accepts the documented string ID and, defensively, a number.
type taskID string

func (id *taskID) UnmarshalJSON(raw []byte) error {
	if string(raw) == "null" {
		*id = ""
		return nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		*id = taskID(s)
		return nil
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		*id = taskID(n.String())
		return nil
	}
	return fmt.Errorf("task id: want a string, got %s", raw)
}

var timestampLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
}

func parseTimestamp(s string) time.Time {
	s = strings.TrimSpace(s)
	for _, layout := range timestampLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return time.Time{}
}

// TaskError is why a task failed: task_info.error.
type TaskError struct {
	// Code is the numeric code, from "code" or "error_code" (0 when absent).
	Code   int    `json:"code"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
}

// UnmarshalJSON reads "code" or "error_code" (a number or a numeric string),
// "message" as a fallback for "detail", and a bare string as the detail.
func (e *TaskError) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*e = TaskError{Detail: s}
		return nil
	}
	var raw struct {
		Code      json.RawMessage `json:"code"`
		ErrorCode json.RawMessage `json:"error_code"`
		Title     json.RawMessage `json:"title"`
		Detail    json.RawMessage `json:"detail"`
		Message   json.RawMessage `json:"message"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("task error: %w", err)
	}
	code, ok := jsonInt(raw.ErrorCode)
	if !ok {
		code, _ = jsonInt(raw.Code)
	}
	*e = TaskError{
		Code:   code,
		Title:  messageFrom(raw.Title),
		Detail: firstNonEmpty(messageFrom(raw.Detail), messageFrom(raw.Message)),
	}
	return nil
}

// Task is a task with its results.
type Task struct {
	TaskInfo
	// Images are the result URLs once the task succeeded. They are valid for
	// 24 hours: download them (Download, SaveImages) rather than storing them.
	Images []string
}

// taskEnvelope is the wire shape of both answers.
type taskEnvelope struct {
	TaskInfo *wireTaskInfo   `json:"task_info"`
	Images   resultURLs      `json:"images"`
	Error    json.RawMessage `json:"error"`
}

// resultURLs accepts an array of URLs or a single URL string.
type resultURLs []string

func (r *resultURLs) UnmarshalJSON(b []byte) error {
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '"' {
		var one string
		if err := json.Unmarshal(t, &one); err != nil {
			return fmt.Errorf("images: %w", err)
		}
		if one != "" {
			*r = resultURLs{one}
		}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("images: want a list of URLs: %w", err)
	}
	*r = many
	return nil
}

// decodeTask parses a task answer; anything but the documented shape is
// ErrUnexpectedResponse.
func decodeTask(body []byte) (*Task, error) {
	var env taskEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnexpectedResponse, err)
	}
	if env.TaskInfo == nil {
		return nil, fmt.Errorf("%w: no task_info in the answer", ErrUnexpectedResponse)
	}
	if strings.TrimSpace(string(env.TaskInfo.ID)) == "" {
		return nil, fmt.Errorf("%w: task_info has no id", ErrUnexpectedResponse)
	}
	t := &Task{TaskInfo: env.TaskInfo.info(), Images: env.Images}
	if t.Status.IsFailure() && t.Error == nil && len(env.Error) > 0 {
		// Tolerate an error object beside task_info instead of inside it.
		var te TaskError
		if json.Unmarshal(env.Error, &te) == nil {
			t.Error = &te
		}
	}
	return t, nil
}

// Submit validates req (every documented limit, local images included) and
// creates the task. It returns as soon as the server accepted it; use
// WaitForResult with the returned ID, or Edit to do both.
//
// A submit is retried only when no task can have been created (429, or a
// connection that failed before the request was sent). When the outcome is
// unknown it returns an *AmbiguousSubmitError: a task may exist and be charged.
func (c *Client) Submit(ctx context.Context, req *EditRequest) (*TaskInfo, error) {
	body, err := c.buildBody(req)
	if err != nil {
		return nil, err
	}
	resp, err := c.call(ctx, apiCall{method: http.MethodPost, path: c.submitPath, body: body})
	if err != nil {
		return nil, err
	}
	t, err := decodeTask(resp.body)
	if err != nil {
		// A 2xx means the task exists; without its ID the caller must look it up.
		return nil, &AmbiguousSubmitError{Err: fmt.Errorf("qwenedit: POST %s: %w", c.submitPath, err)}
	}
	info := t.TaskInfo
	return &info, nil
}

// buildBody validates req and builds the streaming JSON body.
func (c *Client) buildBody(req *EditRequest) (*streambody.Body, error) {
	images, err := req.check(c.cfg.pixelCheck)
	if err != nil {
		return nil, err
	}
	fields, err := req.wireFields()
	if err != nil {
		return nil, fmt.Errorf("qwenedit: encoding the request: %w", err)
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
	path, err := c.taskPath(taskID)
	if err != nil {
		return nil, err
	}
	resp, err := c.call(ctx, apiCall{method: http.MethodGet, path: path})
	if err != nil {
		return nil, err
	}
	t, err := decodeTask(resp.body)
	if err != nil {
		return nil, fmt.Errorf("qwenedit: GET %s: %w", path, err)
	}
	return t, nil
}

// taskPath is the submit path plus the escaped ID; an ID that could change
// the path's meaning is refused before any request.
func (c *Client) taskPath(taskID string) (string, error) {
	id := strings.TrimSpace(taskID)
	if id == "" || id == "." || id == ".." {
		return "", &ValidationError{Problems: []FieldError{{Field: "task_id", Message: fmt.Sprintf("%q is not a task ID", taskID)}}}
	}
	return c.submitPath + "/" + url.PathEscape(id), nil
}
