package qwenedit

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

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
	task := &Task{TaskInfo: TaskInfo{ID: "abc/../def", Status: StatusCompleted}, Images: []string{srv.URL + "/0.png", srv.URL + "/1.png"}}
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
