// Package wire reads the API's JSON, task answers and error values, with
// encoding/json. The API words some members in more than one way (two
// status vocabularies, "code" or "error_code", errors as strings, objects
// or FastAPI's 422 lists, results under "images" or "image"), so those
// members are kept raw (json.RawMessage) and read here; a member of an
// unexpected type is ignored, never an error. Each level decodes only its
// own value, and error values are read at most maxErrorDepth levels deep:
// the work stays linear in the body, whose size the caller caps (the
// SDK's send.go).
package wire

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

const (
	maxErrorDepth   = 4    // objects and lists searched for a message; deeper ones are ignored
	maxMessageItems = 10   // items of a list (FastAPI's 422 detail) read for messages
	maxResultURLs   = 1000 // items of a result list read (the API makes at most 6 images)
)

var (
	errNotObject  = errors.New("not a JSON object")
	errNoTaskInfo = errors.New("no task_info object")
	// ErrNoTaskID is the error of an answer whose task_info has no usable
	// id. ReadTask does not require an id; a caller that does (the SDK's
	// decodeTask) reports its absence with this error.
	ErrNoTaskID = errors.New("task_info has no usable id")
)

// Task is a task answer as read: the task_info members, the error and the
// result URLs.
type Task struct {
	ID                   string // a string id, or a number kept as written; "" when absent
	Status               string // as it came; "" when absent or not a string
	CreatedAt, UpdatedAt time.Time
	Error                *Error   // task_info.error, else the error beside task_info
	Images               []string // the result URLs (see resultURLs)
}

// Error is an error value as read: its numeric code, title and detail.
// Its fields are those of the SDK's TaskError, in the same order, so
// that a *Error converts to a *TaskError.
type Error struct {
	Code   int // from "error_code" or "code" (0 when absent)
	Title  string
	Detail string
}

// wireTask is a task answer, {"task_info":{...},"images":[...]}, as one
// json.Unmarshal reads it. A member of the wrong type is skipped by
// encoding/json (it finishes the rest and reports an UnmarshalTypeError,
// which readTask ignores), so a number for a status leaves the status "".
// The members the API words in more than one way stay raw and are read
// below. Result URLs may also be under "image", and an error beside
// task_info.
type wireTask struct {
	TaskInfo *wireInfo       `json:"task_info"`
	Images   json.RawMessage `json:"images"`
	Image    json.RawMessage `json:"image"`
	Error    json.RawMessage `json:"error"`
}

// wireInfo is a task_info object.
type wireInfo struct {
	ID        json.RawMessage `json:"id"` // a string, or a number kept as written
	Status    string          `json:"status"`
	CreatedAt string          `json:"created_at"`
	UpdatedAt string          `json:"updated_at"`
	Error     json.RawMessage `json:"error"`
	Images    json.RawMessage `json:"images"`
	Image     json.RawMessage `json:"image"`
}

// rawError is an error object with the members that may carry its message
// and code.
type rawError struct {
	Detail    json.RawMessage `json:"detail"`
	Error     json.RawMessage `json:"error"`
	Message   json.RawMessage `json:"message"`
	Msg       json.RawMessage `json:"msg"`
	Title     json.RawMessage `json:"title"`
	ErrorCode json.RawMessage `json:"error_code"`
	Code      json.RawMessage `json:"code"`
	Loc       json.RawMessage `json:"loc"`
	TaskInfo  json.RawMessage `json:"task_info"`
}

// ReadTask reads a task answer, the API's or a Task's own JSON, without
// requiring an id. Only a body that is not a JSON object or has no
// task_info object is an error. The Task is returned by value: the
// caller builds its own from it, and a pointer would cost one more
// allocation per answer.
func ReadTask(body []byte) (Task, error) {
	if kind(body) != '{' {
		return Task{}, errNotObject
	}
	var top wireTask
	var typeErr *json.UnmarshalTypeError
	switch err := json.Unmarshal(body, &top); {
	case errors.As(err, &typeErr) && typeErr.Field == "task_info":
		return Task{}, errNoTaskInfo // a task_info that is no object
	case err != nil && typeErr == nil:
		return Task{}, errNotObject
	}
	info := top.TaskInfo
	if info == nil {
		return Task{}, errNoTaskInfo
	}
	t := Task{
		ID: idOf(info.ID), Status: info.Status, Error: taskError(info.Error),
		CreatedAt: timestamp(info.CreatedAt), UpdatedAt: timestamp(info.UpdatedAt),
		Images: resultURLs(top.Images, top.Image, info.Images, info.Image),
	}
	if t.Error == nil {
		t.Error = taskError(top.Error) // an error beside task_info
	}
	return t, nil
}

// decodeObject decodes v into dst if v is a JSON object.
func decodeObject(v []byte, dst any) bool {
	return kind(v) == '{' && json.Unmarshal(v, dst) == nil
}

// kind is the first byte of a value ('"', '{', '[', 't', 'f', 'n', '-' or
// a digit), 0 for an absent one.
func kind(v []byte) byte {
	v = bytes.TrimLeft(v, " \t\r\n")
	if len(v) == 0 {
		return 0
	}
	return v[0]
}

// str is a JSON string's value; any other value is "".
func str(v []byte) string {
	var s string
	if kind(v) != '"' || json.Unmarshal(v, &s) != nil {
		return ""
	}
	return s
}

// idOf reads an id: a string, or a number kept as written.
func idOf(v json.RawMessage) string {
	if k := kind(v); k == '-' || ('0' <= k && k <= '9') {
		return string(bytes.TrimSpace(v))
	}
	return str(v)
}

// timestamp reads an RFC 3339 time, with or without fractional seconds;
// one without a zone is UTC. Anything else is the zero time.
func timestamp(s string) time.Time {
	if len(s) > 64 {
		// Longer than any RFC 3339 time; time.Parse would copy it into
		// each of its two errors.
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t, _ = time.Parse("2006-01-02T15:04:05", s) // the zero time on error
	}
	return t
}

// taskError reads task_info.error (or the error beside task_info): an
// object, or a non-blank string as the detail; anything else is no error.
func taskError(v []byte) *Error {
	k := kind(v)
	if k != '{' && k != '"' {
		return nil
	}
	e := readError(v, 0)
	if k == '"' && e.Detail == "" {
		return nil // a blank string
	}
	return &e
}

// resultURLs returns the result URLs of the first of vals that has any.
// The official clients look at "images", then "image", each a list of
// URLs or of {"url": ...} objects, or one URL; the SDK then tries the same
// two inside task_info.
func resultURLs(vals ...json.RawMessage) []string {
	for _, v := range vals {
		var urls []string
		for _, item := range itemsOf(v, maxResultURLs) {
			if kind(item) == '{' {
				var obj struct {
					URL json.RawMessage `json:"url"`
				}
				_ = json.Unmarshal(item, &obj)
				item = obj.URL
			}
			if u := strings.TrimSpace(str(item)); u != "" {
				urls = append(urls, u)
			}
		}
		if len(urls) > 0 {
			return urls
		}
	}
	return nil
}

// itemsOf is the first n items of a list, or a lone string as one item.
// The list is read item by item and left at the n-th: a 4 MiB list of a
// million items costs what its first n do.
func itemsOf(v json.RawMessage, n int) []json.RawMessage {
	switch kind(v) {
	case '"':
		return []json.RawMessage{v}
	case '[':
	default:
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(v))
	if _, err := dec.Token(); err != nil { // the '['
		return nil
	}
	var items []json.RawMessage
	for len(items) < n && dec.More() {
		var item json.RawMessage
		if dec.Decode(&item) != nil {
			break
		}
		items = append(items, item)
	}
	return items
}

// readError is the one reader of error values: task_info.error, the error
// beside task_info, an error answer's body, and (depth > 0) the values
// inside them. A string is the detail. A list (FastAPI's 422 detail) joins
// its items' messages with "; ". An object gives its code ("error_code",
// else "code": a number or a numeric string), its title, and as detail the
// first message of "detail", "error", "message" and "msg", else of its
// task_info.error; in a list, an item's "loc" prefixes its message.
func readError(v []byte, depth int) (e Error) {
	switch k := kind(v); {
	case k == '"':
		e.Detail = strings.TrimSpace(str(v))
	case k == '[' && depth < maxErrorDepth:
		var msgs []string
		for _, item := range itemsOf(v, maxMessageItems) {
			if m := readError(item, depth+1).message(); m != "" {
				msgs = append(msgs, m)
			}
		}
		e.Detail = strings.Join(msgs, "; ")
	case k == '{' && depth < maxErrorDepth:
		var f rawError
		_ = json.Unmarshal(v, &f)
		e = f.read(depth)
	}
	return e
}

// read is an error object's message and code (see readError).
func (f rawError) read(depth int) (e Error) {
	for _, v := range []json.RawMessage{f.Detail, f.Error, f.Message, f.Msg} {
		if e.Detail = readError(v, depth+1).message(); e.Detail != "" {
			break
		}
	}
	e.Title = readError(f.Title, depth+1).message()
	var ok bool
	if e.Code, ok = jsonInt(f.ErrorCode); !ok {
		e.Code, _ = jsonInt(f.Code)
	}
	if e.Detail == "" || e.Code == 0 {
		var info struct {
			Error json.RawMessage `json:"error"`
		}
		if decodeObject(f.TaskInfo, &info) {
			inner := readError(info.Error, depth+1)
			e.Detail = cmp.Or(e.Detail, inner.message())
			e.Code = cmp.Or(e.Code, inner.Code)
		}
	}
	if loc := kind(f.Loc); depth > 0 && (loc == '[' || loc == '"') && e.message() != "" {
		e.Detail = strings.ToValidUTF8(string(bytes.TrimSpace(f.Loc)), "\uFFFD") + ": " + e.message()
	}
	return e
}

// message is the detail, else the title.
func (e Error) message() string { return cmp.Or(e.Detail, e.Title) }

// ErrorBody reads an error answer's body: its message and numeric code
// (see readError). A body that is not JSON but short plain text is the
// message.
func ErrorBody(body []byte) (message string, code int) {
	if !json.Valid(body) {
		s := strings.TrimSpace(string(body))
		if len(s) > 200 || !utf8.ValidString(s) || strings.ContainsAny(s, "<{[") {
			s = ""
		}
		return s, 0
	}
	e := readError(body, 0)
	return e.message(), e.Code
}

// jsonInt reads an integer written as a JSON number or a numeric string.
func jsonInt(v []byte) (int, bool) {
	s := string(bytes.TrimSpace(v))
	if kind(v) == '"' {
		s = strings.TrimSpace(str(v))
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}
