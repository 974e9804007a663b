package qwenedit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseErrorBody(t *testing.T) {
	cases := []struct {
		body string
		msg  string
		code int
	}{
		{`{"detail":"Invalid prompt"}`, "Invalid prompt", 0},
		{`{"error_code":2005,"detail":"Task x does not exist"}`, "Task x does not exist", 2005},
		{`{"error":"Bad request"}`, "Bad request", 0},
		{`{"message":"Validation failed"}`, "Validation failed", 0},
		{`{"detail":"d","error":"e","message":"m"}`, "d", 0},
		{`{"detail":"","error":"e"}`, "e", 0},
		{`{"error":{"message":"nested","code":"x"}}`, "nested", 0},
		{`{"detail":[{"loc":["body","prompt"],"msg":"field required"},{"loc":["body","n"],"msg":"too big"}]}`, `["body","prompt"]: field required; ["body","n"]: too big`, 0},
		{`{"task_info":{"error":{"code":3001,"title":"T","detail":"D"}}}`, "D", 3001},
		{`{"task_info":{"error":{"title":"Only title"}}}`, "Only title", 0},
		{`{"code":"401","message":"Invalid API-key provided."}`, "Invalid API-key provided.", 401},
		{`upstream timed out`, "upstream timed out", 0},
		{`<html><body>502</body></html>`, "", 0},
		{``, "", 0},
		{`{"detail":null}`, "", 0},
	}
	for _, tc := range cases {
		msg, code := parseErrorBody([]byte(tc.body))
		assert.Equal(t, tc.msg, msg, tc.body)
		assert.Equal(t, tc.code, code, tc.body)
	}
}

func TestAPIErrorIs(t *testing.T) {
	sentinels := []error{ErrUnauthorized, ErrPaymentRequired, ErrForbidden, ErrNotFound, ErrRateLimited, ErrInvalidRequest}
	want := map[int]error{401: ErrUnauthorized, 402: ErrPaymentRequired, 403: ErrForbidden, 404: ErrNotFound, 429: ErrRateLimited, 400: ErrInvalidRequest, 422: ErrInvalidRequest, 500: nil}
	for status, sentinel := range want {
		err := fmt.Errorf("wrapped: %w", &APIError{StatusCode: status})
		for _, s := range sentinels {
			same := s == sentinel //nolint:errorlint // identity of two sentinels, not matching an error
			assert.Equal(t, same, errors.Is(err, s), "status %d vs %v", status, s)
		}
	}
}

func TestErrorMessages(t *testing.T) {
	e := &APIError{StatusCode: 404, Message: "Task x does not exist", Code: 2005, TraceParent: "00-1-2-01", Method: "GET", Path: "/p"}
	assert.Equal(t, "qwenedit: GET /p: HTTP 404: Task x does not exist (code 2005) [traceparent 00-1-2-01]", e.Error())
	assert.Equal(t, "qwenedit: GET /p: HTTP 503", (&APIError{StatusCode: 503, Message: "HTTP 503", Method: "GET", Path: "/p"}).Error())

	v := &ValidationError{Problems: []FieldError{{Field: "prompt", Message: "is required"}, {Field: "images[1]", Message: "is empty", Err: fs.ErrNotExist}}}
	assert.Equal(t, "qwenedit: invalid request: prompt: is required; images[1]: is empty", v.Error())
	assert.ErrorIs(t, v, ErrInvalidRequest)
	assert.ErrorIs(t, v, fs.ErrNotExist, "a problem's underlying error is reachable")

	f := &TaskFailedError{TaskID: "t", Code: 3001, Title: "Invalid Request", Detail: "prohibited"}
	assert.Equal(t, "qwenedit: task t failed (code 3001): Invalid Request: prohibited", f.Error())
	assert.ErrorIs(t, f, ErrTaskFailed)

	w := &WaitTimeoutError{TaskID: "t", LastStatus: statusRunning}
	assert.ErrorIs(t, w, ErrWaitTimeout)
	assert.ErrorIs(t, w, context.DeadlineExceeded)
	assert.Contains(t, w.Error(), "resume with WaitForResult")

	a := &AmbiguousSubmitError{Err: &APIError{StatusCode: 502}}
	assert.True(t, strings.Contains(a.Error(), "check before resubmitting"))
	var apiErr *APIError
	assert.ErrorAs(t, a, &apiErr)
	assert.False(t, errors.Is(a, ErrNotFound))
}

func FuzzParseErrorBody(f *testing.F) {
	for _, s := range []string{`{"detail":"x"}`, `{"detail":[{"msg":"m"}]}`, `{"error_code":"12"}`, `{"task_info":{"error":"x"}}`, `plain`, `"s"`, `[[{"loc":["a"],"msg":"m"}]]`, `{"detail":"\u00e9\ud800"}`, `{"task_info":[{"error":"x"}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		msg, _ := parseErrorBody(body)
		assert.Equal(t, strings.TrimSpace(msg), msg)
		assert.True(t, utf8.ValidString(msg), "%q", msg)

		// The same parser reads task_info.error: whatever JSON value the
		// error holds, the task decodes and keeps its id. (That it reads
		// any bytes, JSON or not, without panicking: internal/wire's
		// FuzzReadError.)
		task := []byte(`{"task_info":{"id":"a","status":"failed","error":` + string(body) + `}}`)
		if json.Valid(task) {
			got, err := decodeTask(task)
			require.NoError(t, err, "%s", task)
			assert.Equal(t, "a", got.ID)
			if got.Error != nil {
				assert.Equal(t, strings.TrimSpace(got.Error.Detail), got.Error.Detail)
			}
		}
	})
}

// TestTheRawAnswerIsKept: an answer the SDK cannot explain is kept for
// whoever debugs it: an error answer's body in APIError.Body, the start
// of an unreadable 2xx answer in the error's message.
func TestTheRawAnswerIsKept(t *testing.T) {
	c, mt, _ := mockClient(t)
	odd := `{"oops":{"nested":"not the documented shape"}}`
	mt.RegisterResponder(http.MethodGet, submitURL+"/t-1", jsonResponder(400, odd))
	_, err := c.Get(context.Background(), "t-1")
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, odd, string(apiErr.Body))

	mt.RegisterResponder(http.MethodGet, submitURL+"/t-2", jsonResponder(200, odd))
	_, err = c.Get(context.Background(), "t-2")
	require.ErrorIs(t, err, ErrUnexpectedResponse)
	assert.Contains(t, err.Error(), `the answer began "{\"oops\"`)

	long := `{"task_info":7,"pad":"` + strings.Repeat("x", 1000) + `"}`
	_, err = decodeTask([]byte(long))
	require.Error(t, err)
	assert.Less(t, len(err.Error()), 400, "a long answer is cut in the message")
}
