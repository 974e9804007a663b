package wire

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The reader is tested end to end through the SDK's decodeTask,
// parseErrorBody and Task.UnmarshalJSON (decode_test.go, task_test.go,
// errors_test.go in the root package); the tests here reach what only
// this package sees.

// TestResultURLsCap: at most maxResultURLs items of a result list are read.
func TestResultURLsCap(t *testing.T) {
	many := `{"task_info":{"id":"a"},"images":[` + strings.Repeat(`"u",`, 2*maxResultURLs) + `"u"]}`
	task, err := ReadTask([]byte(many))
	require.NoError(t, err)
	assert.Len(t, task.Images, maxResultURLs)
}

// TestReadTaskErrors: only a body that is no object, or has no task_info
// object, is an error; an id is not required.
func TestReadTaskErrors(t *testing.T) {
	for _, tc := range []struct {
		body string
		want error
	}{
		{``, errNotObject},
		{`[]`, errNotObject},
		{`{"task_info":{"id":"a"}} x`, errNotObject},
		{`{}`, errNoTaskInfo},
		{`{"task_info":null}`, errNoTaskInfo},
		{`{"task_info":[]}`, errNoTaskInfo},
	} {
		_, err := ReadTask([]byte(tc.body))
		assert.ErrorIs(t, err, tc.want, tc.body)
	}
	task, err := ReadTask([]byte(`{"task_info":{"status":"pending"}}`))
	require.NoError(t, err)
	assert.Equal(t, Task{Status: "pending"}, task)
}

// TestErrorDepth: a string in maxErrorDepth nested lists is read, one in
// a list more is ignored.
func TestErrorDepth(t *testing.T) {
	nested := func(depth int) []byte {
		return []byte(strings.Repeat("[", depth) + `"x"` + strings.Repeat("]", depth))
	}
	assert.Equal(t, Error{Detail: "x"}, readError(nested(maxErrorDepth), 0))
	assert.Equal(t, Error{}, readError(nested(maxErrorDepth+1), 0))
}

// FuzzReadError: readError reads any bytes, JSON or not, without
// panicking (it was a line of the SDK's FuzzParseErrorBody, whose seed
// corpus testdata/fuzz/FuzzReadError copies).
func FuzzReadError(f *testing.F) {
	for _, s := range []string{`{"detail":"x"}`, `{"detail":[{"msg":"m"}]}`, `{"error_code":"12"}`, `{"task_info":{"error":"x"}}`, `plain`, `"s"`, `[[{"loc":["a"],"msg":"m"}]]`, `{"detail":"\u00e9\ud800"}`, `{"task_info":[{"error":"x"}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_ = readError(body, 0) // any bytes, JSON or not: no panic

		msg, _ := ErrorBody(body)
		assert.Equal(t, strings.TrimSpace(msg), msg)
		assert.True(t, utf8.ValidString(msg), "%q", msg)
	})
}
