package qwenedit

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// authRecorder is an httptest server that records the Authorization headers it sees.
type authRecorder struct {
	*httptest.Server
	mu    sync.Mutex
	auths []string
}

func newAuthRecorder(t *testing.T, h http.HandlerFunc) *authRecorder {
	a := &authRecorder{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.auths = append(a.auths, r.Header.Get("Authorization"))
		a.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *authRecorder) seen() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.auths...)
}

func servePNG(data []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(data)
	}
}

func loopbackClient(t *testing.T, base string, opts ...Option) *Client {
	c, err := NewClient(append([]Option{WithAPIKey(testKey), WithBaseURL(base), WithClock(NewFakeClock())}, opts...)...)
	require.NoError(t, err)
	return c
}

func TestDownloadSendsKeyOnlyToTheAPIOrigin(t *testing.T) {
	img := pngBytes(t, 64, 64)
	results := newAuthRecorder(t, servePNG(img))
	api := newAuthRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, results.URL+"/r/0.png", http.StatusFound)
			return
		}
		servePNG(img)(w, r)
	})
	c := loopbackClient(t, api.URL)

	var buf bytes.Buffer
	n, err := c.Download(context.Background(), results.URL+"/r/0.png", &buf)
	require.NoError(t, err)
	assert.Equal(t, int64(len(img)), n)
	assert.Equal(t, img, buf.Bytes())

	buf.Reset()
	_, err = c.Download(context.Background(), api.URL+"/redirect", &buf)
	require.NoError(t, err)
	assert.Equal(t, img, buf.Bytes())

	assert.Equal(t, []string{"", ""}, results.seen(), "the result host never sees the key, not even after a redirect")
	assert.Equal(t, []string{"Bearer " + testKey}, api.seen(), "the API origin gets it")
}

func TestDownloadFailures(t *testing.T) {
	img := pngBytes(t, 64, 64)
	t.Run("expired", func(t *testing.T) {
		for _, status := range []int{403, 404} {
			srv := newAuthRecorder(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(status) })
			_, err := loopbackClient(t, srv.URL).Download(context.Background(), srv.URL+"/x.png", &bytes.Buffer{})
			assert.ErrorIs(t, err, ErrResultExpired)
			assert.ErrorContains(t, err, "24 hours")
		}
	})
	t.Run("not an image", func(t *testing.T) {
		srv := newAuthRecorder(t, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte("<html>login</html>"))
		})
		_, err := loopbackClient(t, srv.URL).Download(context.Background(), srv.URL+"/x.png", &bytes.Buffer{})
		assert.ErrorIs(t, err, ErrUnexpectedResponse)
	})
	t.Run("octet-stream is sniffed", func(t *testing.T) {
		srv := newAuthRecorder(t, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/octet-stream")
			_, _ = w.Write(img)
		})
		var buf bytes.Buffer
		_, err := loopbackClient(t, srv.URL).Download(context.Background(), srv.URL+"/x", &buf)
		require.NoError(t, err)
		assert.Equal(t, img, buf.Bytes())
	})
	t.Run("over the cap", func(t *testing.T) {
		srv := newAuthRecorder(t, servePNG(img))
		c := loopbackClient(t, srv.URL, WithMaxDownloadSize(int64(len(img)-1)))
		_, err := c.Download(context.Background(), srv.URL+"/x.png", &bytes.Buffer{})
		assert.ErrorIs(t, err, ErrResponseTooLarge)
	})
	t.Run("5xx is retried", func(t *testing.T) {
		var mu sync.Mutex
		calls := 0
		srv := newAuthRecorder(t, func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			calls++
			n := calls
			mu.Unlock()
			if n == 1 {
				w.WriteHeader(502)
				return
			}
			servePNG(img)(w, r)
		})
		var buf bytes.Buffer
		_, err := loopbackClient(t, srv.URL).Download(context.Background(), srv.URL+"/x.png", &buf)
		require.NoError(t, err)
		assert.Equal(t, img, buf.Bytes())
		assert.Equal(t, 2, calls)
	})
	t.Run("bad URL", func(t *testing.T) {
		_, err := loopbackClient(t, "http://127.0.0.1:1").Download(context.Background(), "file:///etc/passwd", &bytes.Buffer{})
		assert.ErrorContains(t, err, "not an http(s) URL")
	})
}

func TestSaveImages(t *testing.T) {
	img := pngBytes(t, 64, 64)
	srv := newAuthRecorder(t, servePNG(img))
	c := loopbackClient(t, srv.URL)
	dir := filepath.Join(t.TempDir(), "out")
	task := &Task{TaskInfo: TaskInfo{ID: "abc/../def", Status: statusCompleted}, Images: []string{srv.URL + "/0.png", srv.URL + "/1.png"}}
	paths, err := c.SaveImages(context.Background(), task, dir)
	require.NoError(t, err)
	assert.Equal(t, []string{filepath.Join(dir, "abc_.._def_0.png"), filepath.Join(dir, "abc_.._def_1.png")}, paths)
	for _, p := range paths {
		got, err := os.ReadFile(p)
		require.NoError(t, err)
		assert.Equal(t, img, got)
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 2, "no temporary files left behind")

	// Saved files get the mode any new file of the user's gets (0666 less
	// the umask), not os.CreateTemp's 0600.
	ref, err := os.Create(filepath.Join(t.TempDir(), "ref"))
	require.NoError(t, err)
	require.NoError(t, ref.Close())
	want, err := os.Stat(ref.Name())
	require.NoError(t, err)
	got, err := os.Stat(paths[0])
	require.NoError(t, err)
	assert.Equal(t, want.Mode().Perm(), got.Mode().Perm())

	_, err = c.SaveImages(context.Background(), &Task{}, dir)
	assert.Error(t, err)
}

// TestDownloadAttemptTimeoutIsMarked: an attempt that runs out of its own
// time matches ErrAttemptTimeout (and context.DeadlineExceeded), whether
// the server stalls before its headers or in the middle of the body; the
// caller's own deadline does not.
func TestDownloadAttemptTimeoutIsMarked(t *testing.T) {
	img := pngBytes(t, 64, 64)
	stall := make(chan struct{})
	t.Cleanup(func() { close(stall) })
	srv := newAuthRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/body" {
			w.Header().Set("Content-Type", "image/png")
			w.Header().Set("Content-Length", strconv.Itoa(len(img)))
			_, _ = w.Write(img[:10])
			w.(http.Flusher).Flush()
		}
		select {
		case <-stall:
		case <-r.Context().Done():
		}
	})
	// A cap under 256 KiB adds nothing to the attempt timeout.
	c := loopbackClient(t, srv.URL, WithAttemptTimeout(150*time.Millisecond), WithMaxDownloadSize(100<<10), WithMaxRetries(0))
	for _, path := range []string{"/headers", "/body"} {
		_, err := c.Download(context.Background(), srv.URL+path+"?X-Signature=SECRET", io.Discard)
		require.Error(t, err, path)
		assert.ErrorIs(t, err, ErrAttemptTimeout, "%s: %v", path, err)
		assert.ErrorIs(t, err, context.DeadlineExceeded, path)
		assert.NotContains(t, err.Error(), "SECRET")
	}

	c = loopbackClient(t, srv.URL, WithAttemptTimeout(time.Minute), WithMaxDownloadSize(100<<10), WithMaxRetries(0))
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	_, err := c.Download(ctx, srv.URL+"/headers", io.Discard)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, ErrAttemptTimeout, "the caller's deadline is not the attempt timeout")
}

// TestDownloadAttemptTimeoutScalesWithTheCap: a download attempt gets the
// attempt timeout plus 1 s per 256 KiB of WithMaxDownloadSize, so a slow
// link does not fail the biggest image the cap allows.
func TestDownloadAttemptTimeoutScalesWithTheCap(t *testing.T) {
	for _, tc := range []struct {
		base time.Duration
		cap  int64
		want time.Duration
	}{
		{2 * time.Minute, defaultMaxDownloadSize, 2*time.Minute + 200*time.Second},
		{time.Second, 256 << 10, 2 * time.Second},
		{time.Second, 256<<10 - 1, time.Second},
	} {
		c := loopbackClient(t, "http://127.0.0.1:1", WithAttemptTimeout(tc.base), WithMaxDownloadSize(tc.cap))
		assert.Equal(t, tc.want, c.attemptTimeout(apiCall{method: http.MethodGet, url: &url.URL{Scheme: "https", Host: "x"}}))
	}

	img := pngBytes(t, 64, 64)
	srv := newAuthRecorder(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(img[:10])
		w.(http.Flusher).Flush()
		time.Sleep(400 * time.Millisecond) // a slow link
		_, _ = w.Write(img[10:])
	})
	c := loopbackClient(t, srv.URL, WithAttemptTimeout(200*time.Millisecond), WithMaxDownloadSize(256<<10), WithMaxRetries(0))
	var buf bytes.Buffer
	_, err := c.Download(context.Background(), srv.URL+"/x.png", &buf)
	require.NoError(t, err, "200 ms + 1 s for a 256 KiB cap")
	assert.Equal(t, img, buf.Bytes())
}

// TestDownloadErrorsHideTheSignature: result URLs are signed in their
// query; no error or log record may show it.
func TestDownloadErrorsHideTheSignature(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := "http://" + l.Addr().String()
	require.NoError(t, l.Close())
	var mu sync.Mutex
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&lockedWriter{mu: &mu, w: &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))

	srv := newAuthRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/503":
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/html":
			w.Header().Set("Content-Type", "text/html")
		case "/redirect":
			http.Redirect(w, r, dead+"/moved.png?Signature=SECRET2", http.StatusFound)
		}
	})
	c := loopbackClient(t, srv.URL, WithLogger(logger), WithMaxRetries(1))
	const q = "?Expires=1767225600&OSSAccessKeyId=AK&Signature=SECRET"
	for _, u := range []string{dead + "/r/0.png" + q, srv.URL + "/503" + q, srv.URL + "/html" + q, srv.URL + "/redirect" + q, "ftp://x.test/a.png" + q, "http://[::1" + q} {
		_, err := c.Download(context.Background(), u, io.Discard)
		require.Error(t, err, u)
		assert.NotContains(t, err.Error(), "SECRET", u)
		var ue *url.Error
		if errors.As(err, &ue) {
			assert.NotContains(t, ue.URL, "SECRET")
			assert.Contains(t, ue.URL, "?…", "the query is replaced, not silently dropped")
		}
	}
	_, err = c.Download(context.Background(), dead+"/r/0.png"+q, io.Discard)
	assert.ErrorContains(t, err, dead+"/r/0.png?…", "scheme, host and path stay")
	mu.Lock()
	defer mu.Unlock()
	assert.NotContains(t, logs.String(), "SECRET")
	assert.Contains(t, logs.String(), "/r/0.png?…")
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://h.test/a/b.png?Signature=s&x=1": "https://h.test/a/b.png?…",
		"https://h.test/a/b.png":                 "https://h.test/a/b.png",
		"https://h.test/a/b.png#frag":            "https://h.test/a/b.png",
		"https://u:pw@h.test/a.png?s=1":          "https://u:xxxxx@h.test/a.png?…",
		"https://h.test/a.png?":                  "https://h.test/a.png?…",
		"http://[::1?s=SECRET":                   "http://[::1?…",
		"no query at all %zz":                    "no query at all %zz",
	} {
		assert.Equal(t, want, redactURLString(in), in)
	}
}

// TestDownloadWriterFailureIsNotRetried: a destination that fails is the
// caller's problem, not the network's.
func TestDownloadWriterFailureIsNotRetried(t *testing.T) {
	var calls atomic.Int32
	srv := newAuthRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		servePNG(pngBytes(t, 64, 64))(w, r)
	})
	full := errors.New("disk full")
	_, err := loopbackClient(t, srv.URL).Download(context.Background(), srv.URL+"/x.png", failingWriter{full})
	assert.ErrorIs(t, err, full)
	assert.Equal(t, int32(1), calls.Load())
}

type failingWriter struct{ err error }

func (f failingWriter) Write([]byte) (int, error) { return 0, f.err }
