package qwenedit

import (
	"context"
	"encoding/json"
	"strings"
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
		{statusPending, false, false},
		{statusQueued, false, false},
		{statusProcessing, false, false},
		{statusRunning, false, false},
		{statusCompleted, true, true},
		{statusSucceeded, true, true},
		{statusFailed, true, false},
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
		{"completed vocabulary", `{"task_info":{"id":"a","status":"completed","created_at":"2025-02-09T10:30:00Z"},"images":["u1","u2"]}`, statusCompleted, []string{"u1", "u2"}, nil, ts},
		{"succeeded vocabulary, millis", `{"task_info":{"id":"a","status":"succeeded","created_at":"2025-02-09T10:30:00.000Z"},"images":["u1"]}`, statusSucceeded, []string{"u1"}, nil, ts},
		{"no zone", `{"task_info":{"id":"a","status":"queued","created_at":"2025-02-09T10:30:00"}}`, statusQueued, nil, nil, ts},
		{"offset zone", `{"task_info":{"id":"a","status":"running","created_at":"2025-02-09T11:30:00+01:00"}}`, statusRunning, nil, nil, ts},
		{"bad timestamp is zero", `{"task_info":{"id":"a","status":"pending","created_at":"yesterday"}}`, statusPending, nil, nil, time.Time{}},
		{"bare image string", `{"task_info":{"id":"a","status":"completed"},"images":"u1"}`, statusCompleted, []string{"u1"}, nil, time.Time{}},
		{"failed with code", `{"task_info":{"id":"a","status":"failed","error":{"code":3001,"title":"T","detail":"D"}}}`, statusFailed, nil, &TaskError{3001, "T", "D"}, time.Time{}},
		{"failed with error_code", `{"task_info":{"id":"a","status":"failed","error":{"error_code":4002,"title":"T","detail":"D"}}}`, statusFailed, nil, &TaskError{4002, "T", "D"}, time.Time{}},
		{"code as string, message fallback", `{"task_info":{"id":"a","status":"failed","error":{"code":"3002","message":"M"}}}`, statusFailed, nil, &TaskError{3002, "", "M"}, time.Time{}},
		{"bare string error", `{"task_info":{"id":"a","status":"failed","error":"boom"}}`, statusFailed, nil, &TaskError{0, "", "boom"}, time.Time{}},
		{"error beside task_info", `{"task_info":{"id":"a","status":"failed"},"error":{"code":3003,"detail":"D"}}`, statusFailed, nil, &TaskError{3003, "", "D"}, time.Time{}},
		{"unknown fields ignored", `{"task_info":{"id":"a","status":"mystery","progress":5},"usage":{}}`, "mystery", nil, nil, time.Time{}},
		{"numeric id", `{"task_info":{"id":42,"status":"pending"}}`, statusPending, nil, nil, time.Time{}},
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

// TestDecodeTaskKeepsTheIDDespiteOddFields: a field of an unexpected JSON
// type must not cost the task: after a Submit that would be a paid task
// nobody can find (an *AmbiguousSubmitError without its ID).
func TestDecodeTaskKeepsTheIDDespiteOddFields(t *testing.T) {
	// Numeric timestamps are not read (the API documents RFC 3339 strings
	// only; the SDK no longer guesses a Unix unit from the magnitude): the
	// time is zero, and the task is kept.
	cases := []struct {
		name    string
		body    string
		status  TaskStatus
		images  []string
		err     *TaskError
		created time.Time
	}{
		{"unix seconds", `{"task_info":{"id":"t-123","status":"pending","created_at":1767225600}}`, statusPending, nil, nil, time.Time{}},
		{"unix millis", `{"task_info":{"id":"t-123","status":"pending","created_at":1767225600000}}`, statusPending, nil, nil, time.Time{}},
		{"unix micros", `{"task_info":{"id":"t-123","status":"pending","created_at":1767225600000000}}`, statusPending, nil, nil, time.Time{}},
		{"unix nanos", `{"task_info":{"id":"t-123","status":"pending","created_at":1767225600000000001}}`, statusPending, nil, nil, time.Time{}},
		{"fractional seconds", `{"task_info":{"id":"t-123","status":"pending","created_at":1767225600.5}}`, statusPending, nil, nil, time.Time{}},
		{"unix seconds as a string", `{"task_info":{"id":"t-123","status":"pending","created_at":"1767225600"}}`, statusPending, nil, nil, time.Time{}},
		{"negative", `{"task_info":{"id":"t-123","status":"pending","created_at":-5}}`, statusPending, nil, nil, time.Time{}},
		{"huge", `{"task_info":{"id":"t-123","status":"pending","created_at":1e300}}`, statusPending, nil, nil, time.Time{}},
		{"seconds past 2262", `{"task_info":{"id":"t-123","status":"pending","created_at":99999999999}}`, statusPending, nil, nil, time.Time{}},
		{"zero timestamp", `{"task_info":{"id":"t-123","status":"pending","created_at":0}}`, statusPending, nil, nil, time.Time{}},
		{"timestamp object", `{"task_info":{"id":"t-123","status":"pending","created_at":{"s":1},"updated_at":[1]}}`, statusPending, nil, nil, time.Time{}},
		{"timestamp bool", `{"task_info":{"id":"t-123","status":"pending","created_at":true}}`, statusPending, nil, nil, time.Time{}},
		{"error 0", `{"task_info":{"id":"t-123","status":"pending","error":0}}`, statusPending, nil, nil, time.Time{}},
		{"error list", `{"task_info":{"id":"t-123","status":"failed","error":["x"]}}`, statusFailed, nil, nil, time.Time{}},
		{"error empty string", `{"task_info":{"id":"t-123","status":"failed","error":" "}}`, statusFailed, nil, nil, time.Time{}},
		{"error 0 beside a failed task_info", `{"task_info":{"id":"t-123","status":"failed"},"error":0}`, statusFailed, nil, nil, time.Time{}},
		{"status number", `{"task_info":{"id":"t-123","status":2}}`, "", nil, nil, time.Time{}},
		{"status object", `{"task_info":{"id":"t-123","status":{"name":"done"}}}`, "", nil, nil, time.Time{}},
		{"escaped status", `{"task_info":{"id":"t-123","status":"comp\u006ceted"}}`, statusCompleted, nil, nil, time.Time{}},
		{"images as objects", `{"task_info":{"id":"t-123","status":"completed"},"images":[{"url":"u1"},{"url":"u2","width":1024}]}`, statusCompleted, []string{"u1", "u2"}, nil, time.Time{}},
		{"images mixed", `{"task_info":{"id":"t-123","status":"completed"},"images":["u1",{"url":"u2"},1,{"uri":"x"},{"url":3},null]}`, statusCompleted, []string{"u1", "u2"}, nil, time.Time{}},
		{"images numbers", `{"task_info":{"id":"a"},"images":[1]}`, "", nil, nil, time.Time{}},
		{"images object", `{"task_info":{"id":"t-123","status":"completed"},"images":{"url":"u1"}}`, statusCompleted, nil, nil, time.Time{}},
		{"images number", `{"task_info":{"id":"t-123","status":"completed"},"images":7}`, statusCompleted, nil, nil, time.Time{}},
		{"images null", `{"task_info":{"id":"t-123","status":"completed"},"images":null}`, statusCompleted, nil, nil, time.Time{}},
		{"error beside, odd fields inside", `{"task_info":{"id":"t-123","status":"failed","error":false},"error":{"code":"7","detail":"D"}}`, statusFailed, nil, &TaskError{7, "", "D"}, time.Time{}},
		{"everything odd at once", `{"task_info":{"id":"t-123","status":1,"created_at":[],"updated_at":{},"error":0},"images":3,"error":1}`, "", nil, nil, time.Time{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			task, err := decodeTask([]byte(tc.body))
			require.NoError(t, err)
			assert.NotEmpty(t, task.ID)
			assert.Equal(t, tc.status, task.Status)
			assert.Equal(t, tc.images, task.Images)
			assert.Equal(t, tc.err, task.Error)
			assert.True(t, tc.created.Equal(task.CreatedAt), "created %v, want %v", task.CreatedAt, tc.created)

			var stored Task // a stored answer unmarshals as leniently
			require.NoError(t, json.Unmarshal([]byte(tc.body), &stored))
			assert.Equal(t, task, &stored)
		})
	}
}

func TestSubmitKeepsTheIDDespiteOddFields(t *testing.T) {
	for _, body := range []string{
		`{"task_info":{"id":"t-123","status":"pending","created_at":1767225600}}`,
		`{"task_info":{"id":"t-123","status":"pending","error":0}}`,
		`{"task_info":{"id":"t-123","status":7},"images":[{"url":"https://x.test/a.png"}]}`,
	} {
		c, mt, _ := mockClient(t)
		mt.RegisterResponder("POST", submitURL, jsonResponder(202, body))
		info, err := c.Submit(context.Background(), validRequest(t))
		require.NoError(t, err, body)
		assert.Equal(t, "t-123", info.ID)

		mt.RegisterResponder("GET", submitURL+"/t-123", jsonResponder(200, body))
		task, err := c.Get(context.Background(), "t-123")
		require.NoError(t, err, body)
		assert.Equal(t, "t-123", task.ID)
	}
}

func TestDecodeTaskRejectsWrongShapes(t *testing.T) {
	for _, body := range []string{``, `nope`, `[]`, `null`, `"x"`, `{}`, `{"task_info":"x"}`, `{"task_info":null}`, `{"task_info":[]}`, `{"task_info":{}}`, `{"task_info":{"id":""}}`, `{"task_info":{"id":"  "}}`, `{"task_info":{"id":null}}`, `{"task_info":{"id":{}}}`, `{"task_info":{"id":true}}`, `{"task_info":{"id":"a"}} x`, `{"task_info":{"id":"a","status":1`} {
		_, err := decodeTask([]byte(body))
		assert.ErrorIs(t, err, ErrUnexpectedResponse, "%s", body)
	}
}

func FuzzDecodeTask(f *testing.F) {
	for _, s := range []string{pendingJS, runningJS, completeJS, failedJS, `{"task_info":{"id":"a","error":"x"},"images":"u"}`, `{"task_info":{"id":1e3}}`, `{"task_info":{"id":"a","ID":" "}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		task, err := decodeTask(body)
		// Whenever the body is an object whose task_info object has a
		// non-blank string id, the task decodes, whatever its other fields
		// hold. The probe reads the id as decodeTask does, with
		// encoding/json's struct rules: keys match whatever their case,
		// and the last of repeated keys wins.
		var probe struct {
			TaskInfo *struct {
				ID json.RawMessage `json:"id"`
			} `json:"task_info"`
		}
		var id string
		if json.Unmarshal(body, &probe) == nil && probe.TaskInfo != nil &&
			json.Unmarshal(probe.TaskInfo.ID, &id) == nil && strings.TrimSpace(id) != "" {
			require.NoError(t, err, "%s", body)
			assert.Equal(t, id, task.ID)
		}
		if err != nil {
			assert.ErrorIs(t, err, ErrUnexpectedResponse)
			return
		}
		assert.NotEmpty(t, task.ID)
		_ = task.Status.IsTerminal()

		// Whatever was read survives a JSON round trip.
		data, err := json.Marshal(task)
		require.NoError(t, err)
		var back Task
		require.NoError(t, json.Unmarshal(data, &back), "%s", data)
		assertSameTask(t, task, &back)
	})
}

// BenchmarkDecodeTask is the decoding alone, the part of Get that is the
// SDK's own (BenchmarkGet is dominated by the loopback round trip).
func BenchmarkDecodeTask(b *testing.B) {
	for _, bc := range []struct{ name, body string }{
		{"pending", `{"task_info":{"id":"8e1e315e-b50d-4334-a231-be7d19a372f4","status":"pending","created_at":"2026-01-01T00:00:00.000Z","updated_at":"2026-01-01T00:00:00.000Z"}}`},
		{"completed", `{"task_info":{"id":"8e1e315e-b50d-4334-a231-be7d19a372f4","status":"completed","created_at":"2026-01-01T00:00:00.000Z","updated_at":"2026-01-01T00:00:45.000Z"},"images":["https://assets.test/r/8e1e315e/0.png?Expires=1767225600&Signature=abcdef","https://assets.test/r/8e1e315e/1.png?Expires=1767225600&Signature=abcdef"]}`},
	} {
		body := []byte(bc.body)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decodeTask(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
