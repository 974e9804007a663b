package httpmockexample_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-b62e15c8/qwenedit"
)

const (
	base      = "https://api.mulerouter.ai" // https: see TestThePlainHTTPRule
	submitURL = base + "/vendors/alibaba/v1/qwen-image-edit-max/generation"
	taskURL   = submitURL + "/task-1"
	resultURL = "https://cdn.example.com/task-1/result_0.png"
)

// pngBytes is a blank w×h PNG.
func pngBytes(t *testing.T, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, image.NewGray(image.Rect(0, 0, w, h))))
	return buf.Bytes()
}

// respond answers with status, a body and a content type.
func respond(status int, contentType string, body []byte) httpmock.Responder {
	return func(*http.Request) (*http.Response, error) {
		resp := httpmock.NewBytesResponse(status, body)
		resp.Header.Set("Content-Type", contentType)
		return resp, nil
	}
}

func TestEditAgainstHTTPMock(t *testing.T) {
	mock := httpmock.NewMockTransport()
	input, result := pngBytes(t, 400, 400), pngBytes(t, 512, 512)

	// Submit: check the documented body, answer 202 with the task.
	mock.RegisterResponder(http.MethodPost, submitURL, func(req *http.Request) (*http.Response, error) {
		assert.Equal(t, "Bearer test-key", req.Header.Get("Authorization"))
		var body struct {
			Images []string `json:"images"`
			Prompt string   `json:"prompt"`
			N      int      `json:"n"`
		}
		if err := json.NewDecoder(req.Body).Decode(&body); err != nil {
			return nil, err
		}
		assert.Equal(t, "Turn the sky purple", body.Prompt)
		assert.Equal(t, 1, body.N)
		require.Len(t, body.Images, 1)
		assert.True(t, strings.HasPrefix(body.Images[0], "data:image/png;base64,"), "a local image travels as a data URI")
		return respond(http.StatusAccepted, "application/json",
			[]byte(`{"task_info":{"id":"task-1","status":"pending","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}}`))(req)
	})
	// Poll: first still running, then done with its result URL.
	mock.RegisterResponder(http.MethodGet, taskURL, httpmock.ResponderFromMultipleResponses([]*http.Response{
		jsonResponse(`{"task_info":{"id":"task-1","status":"processing","created_at":"2026-01-01T00:00:00Z"}}`),
		jsonResponse(`{"task_info":{"id":"task-1","status":"completed","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:09Z"},"images":["` + resultURL + `"]}`),
	}))
	// The result: an image, from another host, which must not see the key.
	mock.RegisterResponder(http.MethodGet, resultURL, func(req *http.Request) (*http.Response, error) {
		assert.Empty(t, req.Header.Get("Authorization"), "the key goes to the API only")
		return respond(http.StatusOK, "image/png", result)(req)
	})

	client, err := qwenedit.NewClient(
		qwenedit.WithAPIKey("test-key"),
		qwenedit.WithBaseURL(base),
		qwenedit.WithHTTPClient(&http.Client{Transport: mock}),
	)
	require.NoError(t, err)
	ctx := context.Background()
	task, err := client.Edit(ctx, &qwenedit.EditRequest{
		Images: []qwenedit.Image{qwenedit.ImageBytes(input)},
		Prompt: "Turn the sky purple",
		N:      1,
	}, qwenedit.WithPollInterval(time.Millisecond))
	require.NoError(t, err)
	assert.Equal(t, "task-1", task.ID)
	assert.Equal(t, []string{resultURL}, task.Images)

	var got bytes.Buffer
	_, err = client.Download(ctx, task.Images[0], &got)
	require.NoError(t, err)
	assert.Equal(t, result, got.Bytes())

	calls := mock.GetCallCountInfo()
	assert.Equal(t, 1, calls["POST "+submitURL], "one paid task")
	assert.Equal(t, 2, calls["GET "+taskURL])
}

// jsonResponse is a 200 JSON answer that can be given once.
func jsonResponse(body string) *http.Response {
	resp := httpmock.NewStringResponse(http.StatusOK, body)
	resp.Header.Set("Content-Type", "application/json")
	return resp
}

func TestAFailedTaskIsATaskFailedError(t *testing.T) {
	mock := httpmock.NewMockTransport()
	mock.RegisterResponder(http.MethodGet, taskURL, respond(http.StatusOK, "application/json",
		[]byte(`{"task_info":{"id":"task-1","status":"failed","error":{"code":3001,"title":"Invalid Request","detail":"The prompt contains prohibited content"}}}`)))
	client, err := qwenedit.NewClient(qwenedit.WithAPIKey("test-key"), qwenedit.WithBaseURL(base), qwenedit.WithHTTPClient(&http.Client{Transport: mock}))
	require.NoError(t, err)

	_, err = client.WaitForResult(context.Background(), "task-1")
	var failed *qwenedit.TaskFailedError
	require.ErrorAs(t, err, &failed)
	assert.Equal(t, 3001, failed.Code)
	assert.Equal(t, "The prompt contains prohibited content", failed.Detail)
}

func TestThePlainHTTPRule(t *testing.T) {
	mock := &http.Client{Transport: httpmock.NewMockTransport()}

	// A made-up http:// host is refused: the key would travel in clear text.
	_, err := qwenedit.NewClient(qwenedit.WithAPIKey("test-key"), qwenedit.WithBaseURL("http://api.example.test"), qwenedit.WithHTTPClient(mock))
	require.Error(t, err)

	// https://, or plain http to loopback, is fine.
	for _, u := range []string{"https://api.example.test", "http://127.0.0.1:8080"} {
		_, err := qwenedit.NewClient(qwenedit.WithAPIKey("test-key"), qwenedit.WithBaseURL(u), qwenedit.WithHTTPClient(mock))
		require.NoError(t, err, u)
	}
}
