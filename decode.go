package qwenedit

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// This file reads the API's JSON: task answers and error values. A body is
// checked once with validJSON (jsonscan.go); then objects are read into the raw values
// of the members asked for (jsonFields), interpreted only when needed: a
// member of an unexpected type is ignored, never an error. Reading goes
// down a bounded number of levels and skips the rest in one loop, so any
// body is read in linear time. (json.Unmarshal into json.RawMessage at
// each level would be linear too, but scans each level's bytes twice more
// at encoding/json's speed: 3 to 6 times slower on 4 MiB bodies.)

const (
	maxErrorDepth   = 4    // objects and lists searched for a message; deeper ones are ignored
	maxMessageItems = 10   // items of a list (FastAPI's 422 detail) read for messages
	maxResultURLs   = 1000 // items of a result list read (the API makes at most 6 images)
)

var (
	errNotObject  = errors.New("not a JSON object")
	errNoTaskInfo = errors.New("no task_info object")
	errNoTaskID   = errors.New("task_info has no usable id")
)

// decodeTask parses the answer of a submit or a poll. Only a body that is
// not a JSON object, has no task_info object, or no usable id (a string,
// or a number kept as written) is ErrUnexpectedResponse: a task the server
// created must not be lost over a cosmetic field.
func decodeTask(body []byte) (*Task, error) {
	t, err := readTask(body)
	if err == nil && strings.TrimSpace(t.ID) == "" {
		err = errNoTaskID
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnexpectedResponse, err)
	}
	return t, nil
}

// readTask reads {"task_info":{...},"images":[...]}, the API's answers and
// a Task's JSON, without requiring an id.
func readTask(body []byte) (*Task, error) {
	body = bytes.TrimSpace(body)
	if jsonKind(body) != '{' || !validJSON(body) {
		return nil, errNotObject
	}
	top := jsonFields(body, "task_info", "images", "image", "error")
	if jsonKind(top[0]) != '{' {
		return nil, errNoTaskInfo
	}
	info, f := readInfo(top[0])
	t := &Task{TaskInfo: info, Images: resultURLs(top[1], top[2], f[5], f[6])}
	if t.Error == nil {
		t.Error = taskError(top[3]) // an error beside task_info
	}
	return t, nil
}

// readInfo reads a task_info object; f holds its raw members, "images"
// and "image" (f[5], f[6]) included.
func readInfo(v []byte) (info TaskInfo, f [][]byte) {
	f = jsonFields(v, "id", "status", "created_at", "updated_at", "error", "images", "image")
	id := jsonString(f[0])
	if k := jsonKind(f[0]); k == '-' || k >= '0' && k <= '9' {
		id = string(f[0])
	}
	info = TaskInfo{
		ID: id, Status: TaskStatus(jsonString(f[1])), Error: taskError(f[4]),
		CreatedAt: timestamp(f[2]), UpdatedAt: timestamp(f[3]),
	}
	return info, f
}

// timestamp reads an RFC 3339 time, with or without fractional seconds;
// one without a zone is UTC. Anything else is the zero time.
func timestamp(v []byte) time.Time {
	if len(v) > 64 { // longer than any RFC 3339 time
		return time.Time{}
	}
	s := jsonString(v)
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t, _ = time.Parse("2006-01-02T15:04:05", s) // the zero time on error
	}
	return t
}

// taskError reads task_info.error (or the error beside task_info): an
// object, or a non-blank string as the detail; anything else is no error.
func taskError(v []byte) *TaskError {
	if k := jsonKind(v); k != '{' && k != '"' {
		return nil // the common case, a task without error: nothing to allocate
	}
	e := readError(v, 0)
	if jsonKind(v) == '"' && e.Detail == "" {
		return nil
	}
	return &e
}

// resultURLs returns the result URLs of the first of vals that has any.
// The official clients look at "images", then "image", each a list of
// URLs or of {"url": ...} objects, or one URL; the SDK then tries the same
// two inside task_info.
func resultURLs(vals ...[]byte) []string {
	var urls []string
	for _, v := range vals {
		items := jsonItems(v, maxResultURLs)
		if jsonKind(v) == '"' {
			items = [][]byte{v}
		}
		for _, item := range items {
			if jsonKind(item) == '{' {
				item = jsonFields(item, "url")[0]
			}
			if u := strings.TrimSpace(jsonString(item)); u != "" {
				urls = append(urls, u)
			}
		}
		if len(urls) > 0 {
			return urls
		}
	}
	return nil
}

// readError is the one reader of error values: task_info.error, the error
// beside task_info, an error answer's body, and (depth > 0) the values
// inside them. A string is the detail. A list (FastAPI's 422 detail) joins
// its items' messages with "; ". An object gives its code ("error_code",
// else "code": a number or a numeric string), its title, and as detail the
// first message of "detail", "error", "message" and "msg", else of its
// task_info.error; in a list, an item's "loc" prefixes its message.
func readError(v []byte, depth int) (e TaskError) {
	switch k := jsonKind(v); {
	case k == '"':
		e.Detail = strings.TrimSpace(jsonString(v))
	case k == '[' && depth < maxErrorDepth:
		var msgs []string
		for _, item := range jsonItems(v, maxMessageItems) {
			if m := readError(item, depth+1).message(); m != "" {
				msgs = append(msgs, m)
			}
		}
		e.Detail = strings.Join(msgs, "; ")
	case k == '{' && depth < maxErrorDepth:
		f := jsonFields(v, "detail", "error", "message", "msg", "title", "error_code", "code", "loc", "task_info")
		for i := 0; i < 4 && e.Detail == ""; i++ {
			e.Detail = readError(f[i], depth+1).message()
		}
		e.Title = readError(f[4], depth+1).message()
		var ok bool
		if e.Code, ok = jsonInt(f[5]); !ok {
			e.Code, _ = jsonInt(f[6])
		}
		if e.Detail == "" || e.Code == 0 {
			inner := readError(jsonFields(f[8], "error")[0], depth+1)
			e.Detail = cmp.Or(e.Detail, inner.message())
			e.Code = cmp.Or(e.Code, inner.Code)
		}
		if loc := jsonKind(f[7]); depth > 0 && (loc == '[' || loc == '"') && e.message() != "" {
			e.Detail = strings.ToValidUTF8(string(f[7]), "\uFFFD") + ": " + e.message()
		}
	}
	return e
}

// message is the detail, else the title.
func (e TaskError) message() string { return cmp.Or(e.Detail, e.Title) }

// parseErrorBody reads an error answer's body: its message and numeric
// code (see readError). A body that is not JSON but short plain text is
// the message.
func parseErrorBody(body []byte) (string, int) {
	if !validJSON(body) {
		s := strings.TrimSpace(string(body))
		if len(s) > 200 || !utf8.ValidString(s) || strings.ContainsAny(s, "<{[") {
			s = ""
		}
		return s, 0
	}
	e := readError(bytes.TrimSpace(body), 0)
	return e.message(), e.Code
}

// jsonInt reads an integer written as a JSON number or a numeric string.
func jsonInt(v []byte) (int, bool) {
	s := string(v)
	if jsonKind(v) == '"' {
		s = strings.TrimSpace(jsonString(v))
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}
