package qwenedit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

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
	// CreatedAt and UpdatedAt are read from RFC 3339 strings or Unix times
	// (in seconds, milliseconds, microseconds or nanoseconds, told apart by
	// magnitude); they are zero when absent or unreadable.
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Error is set when Status is failed.
	Error *TaskError `json:"error,omitempty"`
}

// UnmarshalJSON reads task_info as leniently as decodeTask does: only the
// id must be readable. A status that is not a string becomes "", a
// timestamp that is neither an RFC 3339 string nor a Unix time becomes
// the zero time, and an error that is neither an
// object nor a string becomes nil, rather than losing the task (and its
// result URLs) over a cosmetic field.
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
// scan the object a second time. Every field but the id is of a lenient
// type whose UnmarshalJSON never fails: an unexpected JSON type in a
// cosmetic field must not cost the caller the task's ID (after a Submit,
// that is a paid task nobody can find).
type wireTaskInfo struct {
	ID        taskID        `json:"id"`
	Status    lenientString `json:"status"`
	CreatedAt lenientTime   `json:"created_at"`
	UpdatedAt lenientTime   `json:"updated_at"`
	Error     lenientError  `json:"error"`
}

func (w *wireTaskInfo) info() TaskInfo {
	return TaskInfo{
		ID:        string(w.ID),
		Status:    TaskStatus(w.Status),
		CreatedAt: w.CreatedAt.t,
		UpdatedAt: w.UpdatedAt.t,
		Error:     w.Error.e,
	}
}

// taskID accepts the documented string ID and, defensively, a number.
// Anything else fails the decoding: without its ID a task is lost.
type taskID string

func (id *taskID) UnmarshalJSON(raw []byte) error {
	if s, ok := jsonStringValue(raw); ok {
		*id = taskID(s)
		return nil
	}
	switch jsonKind(raw) {
	case 'n':
		*id = ""
		return nil
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		// encoding/json has checked the syntax: the literal is the number.
		*id = taskID(bytes.TrimSpace(raw))
		return nil
	}
	return fmt.Errorf("task id: want a string, got %s", raw)
}

// lenientString is a string field that is "" when the value is not a string.
type lenientString string

func (s *lenientString) UnmarshalJSON(raw []byte) error {
	v, _ := jsonStringValue(raw)
	*s = lenientString(v)
	return nil
}

// lenientTime is a timestamp: an RFC 3339 string (with or without
// fractional seconds or a zone, "T" or a space), or a Unix time as a
// number (or numeric string) of seconds, milliseconds, microseconds or
// nanoseconds, told apart by magnitude. Anything else, and 0, is the zero
// time.
type lenientTime struct{ t time.Time }

func (lt *lenientTime) UnmarshalJSON(raw []byte) error {
	lt.t = time.Time{}
	if s, ok := jsonStringValue(raw); ok {
		if t, ok := parseTimestamp(s); ok {
			lt.t = t
			return nil
		}
		raw = []byte(strings.TrimSpace(s))
	}
	lt.t = unixTimestamp(raw)
	return nil
}

var timestampLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
}

func parseTimestamp(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" || s[0] < '0' || s[0] > '9' {
		return time.Time{}, false
	}
	for _, layout := range timestampLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// unixTimestamp reads a Unix time from a JSON number. Its unit is guessed
// from its magnitude: below 1e11 seconds (until the year 5138), below 1e14
// milliseconds, below 1e17 microseconds, else nanoseconds. Zero, negative
// and unreadable values give the zero time.
func unixTimestamp(num []byte) time.Time {
	f, err := strconv.ParseFloat(string(num), 64)
	if err != nil || !(f > 0 && f < 9.2e18) { // also NaN and ±Inf
		return time.Time{}
	}
	var ns float64
	switch {
	case f < 1e11:
		ns = f * 1e9
	case f < 1e14:
		ns = f * 1e6
	case f < 1e17:
		ns = f * 1e3
	default:
		ns = f
	}
	if ns >= math.MaxInt64 {
		return time.Time{}
	}
	if i, err := strconv.ParseInt(string(num), 10, 64); err == nil && f >= 1e17 {
		return time.Unix(0, i).UTC() // exact, beyond float64's 53 bits
	}
	return time.Unix(0, int64(ns)).UTC()
}

// lenientError is task_info.error (or the envelope's error): an object
// (see TaskError.UnmarshalJSON) or a bare string, the detail. Any other
// value, an empty string and null are no error.
type lenientError struct{ e *TaskError }

func (le *lenientError) UnmarshalJSON(raw []byte) error {
	le.e = nil
	switch jsonKind(raw) {
	case '{':
		var te TaskError
		if te.UnmarshalJSON(raw) == nil {
			le.e = &te
		}
	case '"':
		if s, ok := jsonStringValue(raw); ok && strings.TrimSpace(s) != "" {
			le.e = &TaskError{Detail: strings.TrimSpace(s)}
		}
	}
	return nil
}

// jsonKind is the first byte of a JSON value: '"', '{', '[', 't', 'f', 'n',
// '-' or a digit; 0 for nothing.
func jsonKind(raw []byte) byte {
	for _, c := range raw {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c
	}
	return 0
}

// jsonStringValue decodes a JSON string value; ok is false for any other
// value. A string without escapes or non-ASCII bytes, the usual case, is
// taken as it is, without a second scan.
func jsonStringValue(raw []byte) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	inner := raw[1 : len(raw)-1]
	plain := true
	for _, c := range inner {
		if c == '\\' || c == '"' || c < ' ' || c >= utf8.RuneSelf {
			plain = false
			break
		}
	}
	if plain {
		return string(inner), true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
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
	if s, ok := jsonStringValue(b); ok {
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

// taskEnvelope is the wire shape of both answers. Only task_info (an
// object) and its id are required; the other fields are lenient and never
// fail the decoding.
type taskEnvelope struct {
	TaskInfo *wireTaskInfo `json:"task_info"`
	Images   resultURLs    `json:"images"`
	Error    lenientError  `json:"error"`
}

// resultURLs accepts a list of URLs, a single URL string, or a list of
// objects with a "url" field (mixed lists too). Items it cannot read (other
// types, objects without a url, empty strings in a mixed list) are skipped;
// any other value is no images.
type resultURLs []string

func (r *resultURLs) UnmarshalJSON(b []byte) error {
	*r = nil
	switch jsonKind(b) {
	case '"':
		if one, ok := jsonStringValue(b); ok && one != "" {
			*r = resultURLs{one}
		}
	case '[':
		var many []string
		if json.Unmarshal(b, &many) == nil {
			*r = many
			return nil
		}
		var items []json.RawMessage
		if json.Unmarshal(b, &items) != nil {
			return nil
		}
		for _, item := range items {
			if u := resultURL(item); u != "" {
				*r = append(*r, u)
			}
		}
	}
	return nil
}

// resultURL reads one item of a mixed images list: a string or {"url": "..."}.
func resultURL(item json.RawMessage) string {
	if s, ok := jsonStringValue(item); ok {
		return s
	}
	if jsonKind(item) != '{' {
		return ""
	}
	var obj struct {
		URL json.RawMessage `json:"url"`
	}
	if json.Unmarshal(item, &obj) != nil {
		return ""
	}
	s, _ := jsonStringValue(obj.URL)
	return s
}

// decodeTask parses a task answer in one pass. Only a body that is not a
// JSON object, has no task_info object, or no usable task id is
// ErrUnexpectedResponse; any other field of an unexpected type is dropped
// (see wireTaskInfo), so that a task the server created is never lost.
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
	if t.Status.IsFailure() && t.Error == nil {
		// Tolerate an error object beside task_info instead of inside it.
		t.Error = env.Error.e
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
	if err := c.ready(); err != nil {
		return nil, err
	}
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
	return c.get(ctx, taskID, false)
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
