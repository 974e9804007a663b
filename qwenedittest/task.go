package qwenedittest

import (
	"fmt"
	"sync"
	"time"

	"github.com/seed-b62e15c8/qwenedit/internal/imageinfo"
)

// SubmitRequest is a submit body as the server decoded it. Pointer fields
// are nil when the field was absent (or null, where null is allowed), so
// tests can tell "not sent" from a zero value.
type SubmitRequest struct {
	Images         []string `json:"images"`
	Prompt         string   `json:"prompt"`
	NegativePrompt *string  `json:"negative_prompt,omitempty"`
	N              *int     `json:"n,omitempty"`
	Seed           *int     `json:"seed,omitempty"`
	Size           *string  `json:"size,omitempty"`
	PromptExtend   *bool    `json:"prompt_extend,omitempty"`
	SafetyFilter   *bool    `json:"safety_filter,omitempty"`
}

// TaskRecord describes a task the server created.
type TaskRecord struct {
	ID        string
	Model     string        // the <model> path segment of the submit URL
	Request   SubmitRequest // the decoded submit body
	CreatedAt time.Time     // on the server's clock
	Deleted   bool          // DeleteTask was called for it
	// Warnings are what the server accepted but a strict server might
	// not, e.g. "images[0]: declared as image/jpeg but the data is
	// image/png; accepted as image/png" (the official clients label every
	// local file by its extension).
	Warnings []string
}

// clone is a deep copy, so callers cannot change the server's records.
func (r TaskRecord) clone() TaskRecord {
	r.Request.Images = append([]string(nil), r.Request.Images...)
	r.Request.NegativePrompt = clonePtr(r.Request.NegativePrompt)
	r.Request.N = clonePtr(r.Request.N)
	r.Request.Seed = clonePtr(r.Request.Seed)
	r.Request.Size = clonePtr(r.Request.Size)
	r.Request.PromptExtend = clonePtr(r.Request.PromptExtend)
	r.Request.SafetyFilter = clonePtr(r.Request.SafetyFilter)
	r.Warnings = append([]string(nil), r.Warnings...)
	return r
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// taskError is the error object of a failed task (task_info.error).
type taskError struct {
	code          int
	title, detail string
}

// task is the server's state for one task. rec, fail, forced and forcedAt
// are guarded by Server.mu; the other fields never change once the task is
// in the map, so result rendering reads them without the lock.
type task struct {
	rec TaskRecord

	fail      *taskError // the task ends failed with this error
	forced    string     // status set by SetTaskStatus, "" for time-based
	forcedAt  time.Time
	n         int
	outW      int // result image size
	outH      int
	source    []byte // the last input image if it was inline, else nil
	srcFormat imageinfo.Format

	decodeOnce sync.Once
	decoded    decodedSource
	results    []*resultSlot
}

// resultSlot caches one result image, generated on first request.
type resultSlot struct {
	once sync.Once
	png  []byte
	err  error
}

// Tasks returns every task created so far, in creation order, including
// deleted ones (flagged). The result is a deep copy.
func (s *Server) Tasks() []TaskRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]TaskRecord, len(s.order))
	for i, t := range s.order {
		out[i] = t.rec.clone()
	}
	return out
}

// SubmitCount is the number of tasks created so far: requests that
// returned 202, plus those a fault with AfterCreate answered otherwise.
func (s *Server) SubmitCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.order)
}

// Defaults of a failed task's error object, so that it always has a
// non-empty title and detail (the official clients print detail, else
// title, and an empty detail prints as nothing).
const (
	defaultFailTitle  = "Task Execution Error"
	defaultFailDetail = "The task failed."
)

// FailNextTask makes the next task created end failed with this error
// instead of succeeding; it still passes through the waiting statuses first.
// Each call applies to one future task, in call order. An empty title
// becomes "Task Execution Error"; an empty detail becomes the title (if
// given) or "The task failed.", because the real API's errors carry a
// detail and clients print it.
func (s *Server) FailNextTask(code int, title, detail string) {
	if detail == "" {
		detail = title
	}
	if title == "" {
		title = defaultFailTitle
	}
	if detail == "" {
		detail = defaultFailDetail
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, taskError{code: code, title: title, detail: detail})
}

// SetTaskStatus forces the status the API reports for task id, overriding
// the time-based progression. Any string is accepted, so clients can be
// tested against statuses they do not know. "completed" and "succeeded"
// come with result images; "failed" comes with the task's error, or a
// generic one. An empty status returns the task to its time-based
// progression. An unknown or deleted id yields an error.
func (s *Server) SetTaskStatus(id, status string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tasks[id]
	if !ok || t.rec.Deleted {
		return fmt.Errorf("qwenedittest: no such task: %q", id)
	}
	t.forced = status
	t.forcedAt = s.now()
	return nil
}

// DeleteTask makes the API answer 404 (error_code 2005) for task id, like a
// task whose 24-hour retention has ended. Its result URLs keep working, as
// on a CDN. Unknown ids are ignored.
func (s *Server) DeleteTask(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tasks[id]; ok {
		t.rec.Deleted = true
	}
}

// ExpireResults makes every result URL, past and future, answer 403 like an
// expired signed URL.
func (s *Server) ExpireResults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expired = true
}

// state is a task's reported status at now, with the time it last changed
// and the error when it is "failed". Called with s.mu held.
func (s *Server) state(t *task, now time.Time) (status string, updated time.Time, taskErr *taskError) {
	first, second, success := s.statuses()
	created := t.rec.CreatedAt
	if t.forced != "" {
		status, updated = t.forced, t.forcedAt
	} else {
		elapsed := now.Sub(created)
		switch {
		case elapsed < s.duration/2:
			status, updated = first, created
		case elapsed < s.duration:
			status, updated = second, created.Add(s.duration/2)
		case t.fail != nil:
			status, updated = "failed", created.Add(s.duration)
		default:
			status, updated = success, created.Add(s.duration)
		}
	}
	if status == "failed" {
		taskErr = t.fail
		if taskErr == nil {
			taskErr = &taskError{code: 3001, title: defaultFailTitle, detail: "the task failed (status set by SetTaskStatus)"}
		}
	}
	return status, updated, taskErr
}

// isSuccess reports whether status is one that comes with result images.
func isSuccess(status string) bool { return status == "completed" || status == "succeeded" }
