package qwenedit

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTaskStatusPredicates(t *testing.T) {
	cases := []struct {
		s                 TaskStatus
		terminal, success bool
	}{
		{StatusPending, false, false},
		{StatusQueued, false, false},
		{StatusProcessing, false, false},
		{StatusRunning, false, false},
		{StatusCompleted, true, true},
		{StatusSucceeded, true, true},
		{StatusFailed, true, false},
		{"COMPLETED", true, true},
		{" Failed ", true, false},
		{"mystery", false, false},
		{"", false, false},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.terminal, tc.s.IsTerminal(), "%q terminal", tc.s)
		assert.Equal(t, tc.success, tc.s.IsSuccess(), "%q success", tc.s)
	}
}

func TestDecodeTaskShapes(t *testing.T) {
	ts := time.Date(2025, 2, 9, 10, 30, 0, 0, time.UTC)
	cases := []struct {
		name    string
		body    string
		status  TaskStatus
		images  []string
		err     *TaskError
		created time.Time
	}{
		{"completed vocabulary", `{"task_info":{"id":"a","status":"completed","created_at":"2025-02-09T10:30:00Z"},"images":["u1","u2"]}`, StatusCompleted, []string{"u1", "u2"}, nil, ts},
		{"succeeded vocabulary, millis", `{"task_info":{"id":"a","status":"succeeded","created_at":"2025-02-09T10:30:00.000Z"},"images":["u1"]}`, StatusSucceeded, []string{"u1"}, nil, ts},
		{"no zone", `{"task_info":{"id":"a","status":"queued","created_at":"2025-02-09T10:30:00"}}`, StatusQueued, nil, nil, ts},
		{"offset zone", `{"task_info":{"id":"a","status":"running","created_at":"2025-02-09T11:30:00+01:00"}}`, StatusRunning, nil, nil, ts},
		{"bad timestamp is zero", `{"task_info":{"id":"a","status":"pending","created_at":"yesterday"}}`, StatusPending, nil, nil, time.Time{}},
		{"bare image string", `{"task_info":{"id":"a","status":"completed"},"images":"u1"}`, StatusCompleted, []string{"u1"}, nil, time.Time{}},
		{"failed with code", `{"task_info":{"id":"a","status":"failed","error":{"code":3001,"title":"T","detail":"D"}}}`, StatusFailed, nil, &TaskError{3001, "T", "D"}, time.Time{}},
		{"failed with error_code", `{"task_info":{"id":"a","status":"failed","error":{"error_code":4002,"title":"T","detail":"D"}}}`, StatusFailed, nil, &TaskError{4002, "T", "D"}, time.Time{}},
		{"code as string, message fallback", `{"task_info":{"id":"a","status":"failed","error":{"code":"3002","message":"M"}}}`, StatusFailed, nil, &TaskError{3002, "", "M"}, time.Time{}},
		{"bare string error", `{"task_info":{"id":"a","status":"failed","error":"boom"}}`, StatusFailed, nil, &TaskError{0, "", "boom"}, time.Time{}},
		{"error beside task_info", `{"task_info":{"id":"a","status":"failed"},"error":{"code":3003,"detail":"D"}}`, StatusFailed, nil, &TaskError{3003, "", "D"}, time.Time{}},
		{"unknown fields ignored", `{"task_info":{"id":"a","status":"mystery","progress":5},"usage":{}}`, "mystery", nil, nil, time.Time{}},
		{"numeric id", `{"task_info":{"id":42,"status":"pending"}}`, StatusPending, nil, nil, time.Time{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			task, err := decodeTask([]byte(tc.body))
			require.NoError(t, err)
			assert.Equal(t, tc.status, task.Status)
			assert.Equal(t, tc.images, task.Images)
			assert.Equal(t, tc.err, task.Error)
			assert.True(t, tc.created.Equal(task.CreatedAt), "created %v", task.CreatedAt)
		})
	}
}

func TestDecodeTaskRejectsWrongShapes(t *testing.T) {
	for _, body := range []string{``, `nope`, `[]`, `{}`, `{"task_info":"x"}`, `{"task_info":{}}`, `{"task_info":{"id":""}}`, `{"task_info":{"id":"a"},"images":[1]}`, `{"task_info":{"id":{}}}`} {
		_, err := decodeTask([]byte(body))
		assert.ErrorIs(t, err, ErrUnexpectedResponse, "%s", body)
	}
}

func FuzzDecodeTask(f *testing.F) {
	for _, s := range []string{pendingJS, runningJS, completeJS, failedJS, `{"task_info":{"id":"a","error":"x"},"images":"u"}`, `{"task_info":{"id":1e3}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		task, err := decodeTask(body)
		if err != nil {
			assert.ErrorIs(t, err, ErrUnexpectedResponse)
			return
		}
		assert.NotEmpty(t, task.ID)
		_ = task.Status.IsTerminal()
	})
}
