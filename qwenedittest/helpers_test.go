package qwenedittest

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seed-b62e15c8/qwenedit/internal/datauri"
	"github.com/seed-b62e15c8/qwenedit/internal/imageinfo"
	"github.com/seed-b62e15c8/qwenedit/internal/imagetest"
)

const submitPath = "/vendors/alibaba/v1/qwen-image-edit-max/generation"

// fakeClock is a settable clock; tasks move only when a test says so.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 678_000_000, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// withMaxBody lowers the largest request body the API reads.
func withMaxBody(n int64) Option { return func(s *Server) { s.maxBody = n } }

func newTestServer(t *testing.T, opts ...Option) *Server {
	t.Helper()
	s := NewServer(opts...)
	t.Cleanup(s.Close)
	return s
}

// call sends one request with the server's key; body may be nil, a string
// or []byte (sent as is) or anything else (JSON-encoded).
func call(t *testing.T, s *Server, method, path string, body any) (*http.Response, []byte) {
	t.Helper()
	return callKey(t, s, method, path, body, "Bearer "+s.APIKey())
}

func callKey(t *testing.T, s *Server, method, path string, body any, auth string) (*http.Response, []byte) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		require.NoError(t, err)
		r = bytes.NewReader(data)
	}
	url := path
	if strings.HasPrefix(path, "/") {
		url = s.URL() + path
	}
	req, err := http.NewRequest(method, url, r)
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := s.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, data
}

// taskBody is the shape of a submit or poll answer.
type taskBody struct {
	TaskInfo struct {
		ID        string         `json:"id"`
		Status    string         `json:"status"`
		CreatedAt string         `json:"created_at"`
		UpdatedAt string         `json:"updated_at"`
		Error     map[string]any `json:"error"`
	} `json:"task_info"`
	Images []string `json:"images"`
}

func decodeTask(t *testing.T, data []byte) taskBody {
	t.Helper()
	var tb taskBody
	require.NoError(t, json.Unmarshal(data, &tb), string(data))
	return tb
}

// submit creates a task and returns its id.
func submit(t *testing.T, s *Server, body map[string]any) string {
	t.Helper()
	resp, data := call(t, s, http.MethodPost, submitPath, body)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, string(data))
	return decodeTask(t, data).TaskInfo.ID
}

func poll(t *testing.T, s *Server, id string) taskBody {
	t.Helper()
	resp, data := call(t, s, http.MethodGet, submitPath+"/"+id, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(data))
	return decodeTask(t, data)
}

func dataURI(t testing.TB, f imageinfo.Format, w, h int) string {
	t.Helper()
	return datauri.URI{MediaType: f.MIME(), Data: imagetest.MustEncode(t, f, w, h)}.String()
}

// validBody is a minimal valid submit body with a URL image.
func validBody() map[string]any {
	return map[string]any{"images": []any{"https://example.com/cat.png"}, "prompt": "Give the cat a hat"}
}

// fetch downloads a result URL without a key.
func fetch(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, data
}

func decodePNG(t *testing.T, data []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	require.NoError(t, err)
	return img
}

// eventually polls cond, yielding the processor between tries, until it
// holds or a generous deadline passes; it never sleeps.
func eventually(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met in time: %s", msg)
		}
		runtime.Gosched()
	}
}

// recorded reports whether the server has received n requests.
func recorded(s *Server, n int) func() bool {
	return func() bool { return len(s.Requests()) >= n }
}
