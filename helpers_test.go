package qwenedit

import (
	"net/http"
	"testing"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/require"

	"github.com/seed-b62e15c8/qwenedit/internal/imageinfo"
	"github.com/seed-b62e15c8/qwenedit/internal/imagetest"
)

const (
	testKey    = "test-key-not-a-secret"
	testBase   = "https://mulerouter.test"
	submitURL  = testBase + "/vendors/alibaba/v1/qwen-image-edit-max/generation"
	taskURL    = submitURL + "/task-1"
	pendingJS  = `{"task_info":{"id":"task-1","status":"pending","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}}`
	runningJS  = `{"task_info":{"id":"task-1","status":"processing","created_at":"2026-01-01T00:00:00Z"}}`
	completeJS = `{"task_info":{"id":"task-1","status":"completed","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:45Z"},"images":["https://assets.test/r/task-1/0.png"]}`
	failedJS   = `{"task_info":{"id":"task-1","status":"failed","error":{"code":3001,"title":"Invalid Request","detail":"The prompt contains prohibited content"}}}`
)

// mockClient is a Client on an httpmock transport with a fake clock and
// mid-range jitter, so schedules and retries are exact and nothing sleeps.
func mockClient(t *testing.T, opts ...Option) (*Client, *httpmock.MockTransport, *FakeClock) {
	t.Helper()
	mt := httpmock.NewMockTransport()
	clk := NewFakeClock()
	base := []Option{
		WithAPIKey(testKey),
		WithBaseURL(testBase),
		WithHTTPClient(&http.Client{Transport: mt}),
		WithClock(clk),
		WithJitter(func() float64 { return 0.5 }),
	}
	c, err := NewClient(append(base, opts...)...)
	require.NoError(t, err)
	return c, mt, clk
}

// pngBytes is a valid PNG of the given size.
func pngBytes(t testing.TB, w, h int) []byte {
	return imagetest.MustEncode(t, imageinfo.PNG, w, h)
}

// validRequest is the smallest request that passes validation.
func validRequest(t testing.TB) *EditRequest {
	return &EditRequest{Images: []Image{ImageBytes(pngBytes(t, 400, 400))}, Prompt: "make it blue"}
}

// jsonResponder answers status with a JSON body and optional headers.
func jsonResponder(status int, body string, headers ...string) httpmock.Responder {
	return func(req *http.Request) (*http.Response, error) {
		resp := httpmock.NewStringResponse(status, body)
		resp.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(headers); i += 2 {
			resp.Header.Set(headers[i], headers[i+1])
		}
		resp.Request = req
		return resp, nil
	}
}
