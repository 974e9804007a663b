package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-b62e15c8/qwenedit/qwenedittest"
)

// TestBatchAServerThatCannotBeReachedStopsAtOnce: the free key check finds
// the server unreachable: the batch stops there, with one message saying
// so, instead of every image failing on its own.
func TestBatchAServerThatCannotBeReachedStopsAtOnce(t *testing.T) {
	t.Parallel()
	dead := httptest.NewServer(http.NotFoundHandler())
	base, host := dead.URL, dead.Listener.Addr().String()
	dead.Close()
	in, out := t.TempDir(), t.TempDir()
	writeImages(t, in, "a.png", "b.png", "c.png")

	o := batchRun(context.Background(), env{"MULEROUTER_API_KEY": "test-key", "MULEROUTER_BASE_URL": base},
		"-in", in, "-prompt", prompt, "-out", out, "-concurrency", "2")
	assert.Equal(t, exitFailure, o.code)
	assert.True(t, strings.HasPrefix(o.errMsg(), "cannot reach "+host+": "), o.errMsg())
	assert.Contains(t, o.errMsg(), "; nothing was submitted")
	assert.Contains(t, o.stdout, "3 images: 0 edited, 0 already saved, 0 failed, 3 to resume")
	assert.NotContains(t, o.stdout+o.stderr, unknownTaskID, "the key check is no task of the user's")
	assert.NotContains(t, o.stdout+o.stderr, "submit:")
	assert.Equal(t, 1, strings.Count(o.stderr, "cannot reach"), "one message: %s", o.stderr)
	assert.NotContains(t, o.stderr, "retrying", "the batch does not retry: it stops")
	assert.Empty(t, journalRecords(t, out), "no submit started")
}

// gate is a proxy in front of the fake that can stop answering, as a
// server gone away does: the connection is cut, no answer comes.
type gate struct {
	down atomic.Bool
	url  string
}

func newGate(t *testing.T, srv *qwenedittest.Server) *gate {
	t.Helper()
	target, err := url.Parse(srv.URL())
	require.NoError(t, err)
	g := &gate{}
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.down.Load() {
			panic(http.ErrAbortHandler) // the connection is closed, unanswered
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	g.url = proxy.URL
	return g
}

// TestBatchSaysWhenTheServerIsGoneMidBatch: polls that get no answer are
// retried, and the progress says since when the server is unreachable,
// then that it answers again.
func TestBatchSaysWhenTheServerIsGoneMidBatch(t *testing.T) {
	t.Parallel()
	clock, srv, _ := minuteTasks(t)
	g := newGate(t, srv)
	in, out := t.TempDir(), t.TempDir()
	writeImages(t, in, "a.png")
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(context.Background(), []string{"batch", "-poll", "10ms", "-in", in, "-prompt", prompt, "-out", out},
			env{"MULEROUTER_API_KEY": srv.APIKey(), "MULEROUTER_BASE_URL": g.url}.get, &stdout, &stderr)
	}()
	require.Eventually(t, func() bool { return len(withStatus(journalRecords(t, out), statusSubmitted)) == 1 }, 10*time.Second, 5*time.Millisecond)

	g.down.Store(true)
	require.Eventually(t, func() bool { return strings.Contains(stderr.String(), "server unreachable since ") }, 10*time.Second, 5*time.Millisecond)
	assert.Regexp(t, regexp.MustCompile(`\] server unreachable since \d\d:\d\d:\d\d, retrying\n`), stderr.String())

	g.down.Store(false)
	clock.step.Store(int64(time.Minute))
	require.Equal(t, exitOK, <-done, stderr.String())
	assert.Regexp(t, regexp.MustCompile(`\] server answers again \(unreachable from \d\d:\d\d:\d\d to \d\d:\d\d:\d\d\)\n`), stderr.String())
	assert.Contains(t, stdout.String(), "1 images: 1 edited")
	assert.Equal(t, 1, srv.SubmitCount(), "the task was waited for, not submitted again")
}

// TestBarSaysTheServerIsUnreachable: on a terminal the bar carries it.
func TestBarSaysTheServerIsUnreachable(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	p := newBatchProgress(&buf, true, 2)
	since := time.Date(2025, 1, 2, 14, 2, 11, 0, time.Local)
	p.serverReach(true, since)
	p.started()
	p.close()
	assert.Contains(t, buf.String(), "\r\033[Kserver unreachable since 14:02:11, retrying\n")
	assert.True(t, strings.HasSuffix(buf.String(), "1 running  0s  server unreachable since 14:02:11, retrying\033[K\n"), "%q", buf.String())
}
