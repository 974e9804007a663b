package qwenedit

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-b62e15c8/qwenedit/internal/limits"
)

// TestSaveImagesFetchesInParallel: the results of a task are fetched all at
// once. The server holds every request until six are in flight, which a
// sequential SaveImages would never reach.
func TestSaveImagesFetchesInParallel(t *testing.T) {
	img := pngBytes(t, 64, 64)
	var inflight, most atomic.Int32
	release := make(chan struct{})
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inflight.Add(1)
		defer inflight.Add(-1)
		raiseMax(&most, n)
		if n == limits.MaxN {
			once.Do(func() { close(release) })
		}
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		servePNG(img)(w, r)
	}))
	defer srv.Close()
	c := loopbackClient(t, srv.URL)
	task := &Task{TaskInfo: TaskInfo{ID: "t1", Status: statusCompleted}}
	for i := range limits.MaxN + 1 {
		task.Images = append(task.Images, fmt.Sprintf("%s/r/%d.png", srv.URL, i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a guard against a sequential hang
	defer cancel()
	dir := t.TempDir()
	paths, err := c.SaveImages(ctx, task, dir)
	require.NoError(t, err)
	assert.EqualValues(t, limits.MaxN, most.Load(), "limits.MaxN downloads at once, no more")
	want := make([]string, limits.MaxN+1)
	for i := range want {
		want[i] = filepath.Join(dir, fmt.Sprintf("t1_%d.png", i))
	}
	assert.Equal(t, want, paths, "paths in the order of task.Images")
}

// raiseMax sets m to n if n is larger, atomically.
func raiseMax(m *atomic.Int32, n int32) {
	for old := m.Load(); n > old; old = m.Load() {
		if m.CompareAndSwap(old, n) {
			return
		}
	}
}

// TestSaveImagesStopsTheOthersOnError: one failing image ends the call with
// its error; the images saved are returned, and no part file is left.
func TestSaveImagesStopsTheOthersOnError(t *testing.T) {
	img := pngBytes(t, 64, 64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/r/1.png" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		servePNG(img)(w, r)
	}))
	defer srv.Close()
	c := loopbackClient(t, srv.URL, WithSaveParallel(1))
	task := &Task{TaskInfo: TaskInfo{ID: "t1"}, Images: []string{srv.URL + "/r/0.png", srv.URL + "/r/1.png", srv.URL + "/r/2.png"}}
	dir := t.TempDir()
	paths, err := c.SaveImages(context.Background(), task, dir)
	assert.ErrorIs(t, err, ErrResultExpired)
	assert.ErrorContains(t, err, "image 1 of task t1")
	assert.Equal(t, []string{filepath.Join(dir, "t1_0.png")}, paths)
	parts, _ := filepath.Glob(filepath.Join(dir, ".*.part"))
	assert.Empty(t, parts)
}

// BenchmarkSaveImages saves six results from a server that takes 100 ms to
// answer each, all at once (impl=parallel, the default) against one at a
// time (impl=sequential).
func BenchmarkSaveImages(b *testing.B) {
	img := pngBytes(b, 512, 512)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(100 * time.Millisecond) // the link's latency
		servePNG(img)(w, r)
	}))
	defer srv.Close()
	task := &Task{TaskInfo: TaskInfo{ID: "t1"}}
	for i := range 6 {
		task.Images = append(task.Images, fmt.Sprintf("%s/r/%d.png", srv.URL, i))
	}
	for _, bc := range []struct {
		name     string
		parallel int
	}{{"parallel", limits.MaxN}, {"sequential", 1}} {
		b.Run("impl="+bc.name, func(b *testing.B) {
			c, err := NewClient(WithAPIKey(testKey), WithBaseURL(srv.URL), WithSaveParallel(bc.parallel))
			require.NoError(b, err)
			dir := b.TempDir()
			for b.Loop() {
				if _, err := c.SaveImages(context.Background(), task, dir); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
