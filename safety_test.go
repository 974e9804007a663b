package qwenedit

import (
	"bytes"
	"context"
	"errors"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/seed-b62e15c8/qwenedit/internal/imagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Regression tests for the money-safety review: each failed before its fix.

// captureTransport records the requests it is given and answers 202.
type captureTransport struct{ reqs []*http.Request }

func (ct *captureTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	ct.reqs = append(ct.reqs, r)
	_, _ = bytes.NewBuffer(nil).ReadFrom(r.Body)
	resp := httpmock.NewStringResponse(http.StatusAccepted, pendingJS)
	resp.Request = r
	return resp, nil
}

// TestSubmitIsNeverRewindable: net/http's HTTP/2 transport replays a
// request with a GetBody after a RST_STREAM(PROTOCOL_ERROR), creating a
// second paid task. No submit, small (from memory) or large (streamed),
// may carry one.
func TestSubmitIsNeverRewindable(t *testing.T) {
	for name, img := range map[string][]byte{
		"small body": pngBytes(t, 400, 400),
		"large body": noisyPNG(t, 700, 700),
	} {
		t.Run(name, func(t *testing.T) {
			ct := &captureTransport{}
			c, err := NewClient(WithAPIKey(testKey), WithBaseURL(testBase), WithHTTPClient(&http.Client{Transport: ct}))
			require.NoError(t, err)
			_, err = c.Submit(context.Background(), &EditRequest{Images: []Image{ImageBytes(img)}, Prompt: "p"})
			require.NoError(t, err)
			require.Len(t, ct.reqs, 1)
			assert.Nil(t, ct.reqs[0].GetBody, "a submit must not be rewindable by net/http")
			large := ct.reqs[0].ContentLength > minExpectBody
			assert.Equal(t, large, ct.reqs[0].Header.Get("Expect") == "100-continue", "Expect: 100-continue exactly for bodies over a MiB")
		})
	}
}

// noisyPNG is a PNG of noise, which does not compress: 700×700 is about
// 1.5 MB, a body sent with "Expect: 100-continue".
func noisyPNG(t *testing.T, w, h int) []byte {
	img, err := imagetest.NoisePNG(w, h, 1)
	require.NoError(t, err)
	return img
}

// TestExpectContinueDroppedForServersThatIgnoreIt: a server that answers a
// large submit without a 100 Continue does not honour Expect; later large
// submits do not ask again, so that none waits ExpectContinueTimeout.
func TestExpectContinueDroppedForServersThatIgnoreIt(t *testing.T) {
	ct := &captureTransport{}
	c, err := NewClient(WithAPIKey(testKey), WithBaseURL(testBase), WithHTTPClient(&http.Client{Transport: ct}))
	require.NoError(t, err)
	req := &EditRequest{Images: []Image{ImageBytes(noisyPNG(t, 700, 700))}, Prompt: "p"}
	for range 2 {
		_, err = c.Submit(context.Background(), req)
		require.NoError(t, err)
	}
	assert.Equal(t, "100-continue", ct.reqs[0].Header.Get("Expect"))
	assert.Empty(t, ct.reqs[1].Header.Get("Expect"), "the mock sent no 100 Continue: do not ask again")
}

// TestExpectContinueKeptWhenHonoured: a real server that sends 100
// Continue keeps being asked, and gets the body only after approving it.
func TestExpectContinueKeptWhenHonoured(t *testing.T) {
	var continued atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Expect") == "100-continue" {
			continued.Add(1)
		}
		_, _ = bytes.NewBuffer(nil).ReadFrom(r.Body) // Go's server sends the 100 here
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(pendingJS))
	}))
	defer srv.Close()
	c := loopbackClient(t, srv.URL)
	req := &EditRequest{Images: []Image{ImageBytes(noisyPNG(t, 700, 700))}, Prompt: "p"}
	for range 3 {
		_, err := c.Submit(context.Background(), req)
		require.NoError(t, err)
	}
	assert.EqualValues(t, 3, continued.Load())
	assert.False(t, c.expectIgnored.Load())
}

// TestHugeRetryAfterEndsTheRetries: a Retry-After beyond any int64 number
// of nanoseconds is a request to wait very long, not a value to drop and
// retry at once.
func TestHugeRetryAfterEndsTheRetries(t *testing.T) {
	for _, header := range []string{"Retry-After", "Retry-After-Ms"} {
		c, mt, clk := mockClient(t)
		mt.RegisterResponder(http.MethodGet, taskURL, jsonResponder(503, `{"detail":"busy"}`, header, "4000000000"))
		_, err := c.Get(context.Background(), "task-1")
		var apiErr *APIError
		require.ErrorAs(t, err, &apiErr, header)
		assert.Greater(t, apiErr.RetryAfter, 1000*time.Hour, header)
		assert.Equal(t, 1, mt.GetTotalCallCount(), "%s: not retried", header)
		assert.Empty(t, clk.Sleeps(), header)
		assert.ErrorContains(t, err, "more than the", header)
	}
}

// TestPollHonoursRetryAfter: a 429 or 503 poll answer with Retry-After
// makes the next poll wait at least that long.
func TestPollHonoursRetryAfter(t *testing.T) {
	for _, status := range []int{429, 503} {
		c, mt, clk := mockClient(t)
		n := 0
		mt.RegisterResponder(http.MethodGet, taskURL, func(r *http.Request) (*http.Response, error) {
			n++
			if n == 1 {
				return jsonResponder(status, `{"detail":"slow down"}`, "Retry-After", "40")(r)
			}
			return jsonResponder(200, completeJS)(r)
		})
		_, err := c.WaitForResult(context.Background(), "task-1")
		require.NoError(t, err)
		assert.Equal(t, []time.Duration{40 * time.Second}, clk.Sleeps(), "status %d", status)
		assert.Equal(t, 2, mt.GetTotalCallCount(), "one poll, then one after the pause: no retries inside a poll")
	}
}

// TestAnswerAboutAnotherTaskIsNeverASuccess: an answer whose task_info.id
// is not the task asked for matches ErrUnexpectedResponse.
func TestAnswerAboutAnotherTaskIsNeverASuccess(t *testing.T) {
	other := `{"task_info":{"id":"task-B","status":"completed"},"images":["https://assets.test/b.png"]}`
	c, mt, _ := mockClient(t)
	mt.RegisterResponder(http.MethodGet, taskURL, jsonResponder(200, other))
	_, err := c.Get(context.Background(), "task-1")
	assert.ErrorIs(t, err, ErrUnexpectedResponse)
	task, err := c.WaitForResult(context.Background(), "task-1")
	assert.Nil(t, task)
	assert.ErrorIs(t, err, ErrUnexpectedResponse)
	var we *WaitError
	require.ErrorAs(t, err, &we)
	assert.Equal(t, "task-1", we.TaskID)

	// IDs are opaque: a change of case is another task.
	mt.RegisterResponder(http.MethodGet, submitURL+"/ABC-1", jsonResponder(200, `{"task_info":{"id":"abc-1","status":"pending"}}`))
	_, err = c.Get(context.Background(), "ABC-1")
	assert.ErrorIs(t, err, ErrUnexpectedResponse)
}

// TestCompletedWithoutImagesIsAnError: "completed" with no result URL
// anywhere is not a success with nothing in it.
func TestCompletedWithoutImagesIsAnError(t *testing.T) {
	c, mt, _ := mockClient(t)
	mt.RegisterResponder(http.MethodGet, taskURL, jsonResponder(200, `{"task_info":{"id":"task-1","status":"completed"}}`))
	task, err := c.WaitForResult(context.Background(), "task-1")
	assert.Nil(t, task)
	assert.ErrorIs(t, err, ErrUnexpectedResponse)
	assert.ErrorContains(t, err, "task-1")
}

// TestNoLimitSettingsDoNotOverflow: the largest values of the limit
// options mean "no limit", never an overflow into zero or the past.
func TestNoLimitSettingsDoNotOverflow(t *testing.T) {
	img := pngBytes(t, 64, 64)
	srv := httptest.NewServer(servePNG(img))
	defer srv.Close()

	t.Run("WithMaxDownloadSize", func(t *testing.T) {
		c := loopbackClient(t, srv.URL, WithMaxDownloadSize(math.MaxInt64))
		var buf bytes.Buffer
		n, err := c.Download(context.Background(), srv.URL+"/r.png", &buf)
		require.NoError(t, err)
		assert.Equal(t, int64(len(img)), n)
	})
	t.Run("WithAttemptTimeout", func(t *testing.T) {
		c := loopbackClient(t, srv.URL, WithAttemptTimeout(math.MaxInt64))
		_, err := c.Download(context.Background(), srv.URL+"/r.png", &bytes.Buffer{})
		require.NoError(t, err)

		// A submit to a port where nobody listens sent nothing: retried,
		// never "a task may exist".
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		dead := "http://" + ln.Addr().String()
		require.NoError(t, ln.Close())
		c = loopbackClient(t, dead, WithAttemptTimeout(math.MaxInt64), WithMaxRetries(1))
		_, err = c.Submit(context.Background(), validRequest(t))
		require.Error(t, err)
		var amb *AmbiguousSubmitError
		assert.False(t, errors.As(err, &amb), "%v", err)
		assert.ErrorContains(t, err, "gave up after 2 attempts")
	})
	t.Run("WithMaxWait", func(t *testing.T) {
		c, mt, _ := mockClient(t)
		mt.RegisterResponder(http.MethodGet, taskURL, sequence(runningJS, completeJS))
		task, err := c.WaitForResult(context.Background(), "task-1", WithMaxWait(math.MaxInt64))
		require.NoError(t, err)
		assert.Equal(t, "task-1", task.ID)
		assert.Equal(t, 2, mt.GetTotalCallCount())
	})
}

// TestDownloadRefusesWhatIsNotAnImage: an empty answer, or an error page
// served as image/png, is a retried error, and SaveImages leaves nothing.
func TestDownloadRefusesWhatIsNotAnImage(t *testing.T) {
	for name, body := range map[string]string{
		"empty":             "",
		"xml error page":    `<?xml version="1.0"?><Error><Code>AccessDenied</Code></Error>`,
		"json as image/png": `{"detail":"expired"}`,
	} {
		t.Run(name, func(t *testing.T) {
			var hits atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				hits.Add(1)
				w.Header().Set("Content-Type", "image/png")
				_, _ = w.Write([]byte(body))
			}))
			defer srv.Close()
			c := loopbackClient(t, srv.URL, WithMaxRetries(2))
			dir := t.TempDir()
			task := &Task{TaskInfo: TaskInfo{ID: "t1", Status: statusCompleted}, Images: []string{srv.URL + "/r/0.png"}}
			paths, err := c.SaveImages(context.Background(), task, dir)
			assert.ErrorIs(t, err, ErrUnexpectedResponse)
			assert.Empty(t, paths)
			assert.EqualValues(t, 3, hits.Load(), "retried like any transient failure")
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			assert.Empty(t, entries, "nothing left on disk")
		})
	}
}

// TestImageFileRefusesFIFOs: a FIFO (or any non-regular file) is refused
// before open(2), which would block until a writer came, ignoring ctx.
func TestImageFileRefusesFIFOs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pipe.png")
	if err := mkfifo(path); err != nil {
		t.Skipf("no FIFOs here: %v", err)
	}
	c, mt, _ := mockClient(t)
	done := make(chan error, 2)
	go func() {
		req := &EditRequest{Images: []Image{ImageFile(path)}, Prompt: "p"}
		done <- req.Validate()
		_, err := c.Submit(context.Background(), req)
		done <- err
	}()
	for range 2 {
		select {
		case err := <-done:
			assert.ErrorIs(t, err, ErrInvalidRequest)
			assert.ErrorContains(t, err, "not a regular file")
		case <-time.After(10 * time.Second): // a guard against the old hang, not a measurement
			t.Fatal("Validate or Submit blocked on a FIFO")
		}
	}
	assert.Zero(t, mt.GetTotalCallCount())
}
