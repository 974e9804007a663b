package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-b62e15c8/qwenedit/qwenedittest"
)

// TestBatchAtTheAccountsLimit: an account that runs 2 tasks at once, a
// batch of 10 images with -concurrency 8. Every image is edited, with
// exactly one task each: a 429 never fails an image, and the progress
// says what the server allows. (Before, the images refused through all of
// the SDK's retries failed.)
func TestBatchAtTheAccountsLimit(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t, qwenedittest.WithMaxRunningTasks(2), qwenedittest.WithTaskDuration(time.Second))
	in, out := t.TempDir(), t.TempDir()
	var names []string
	for i := range 10 {
		names = append(names, fmt.Sprintf("p%02d.png", i))
	}
	writeImages(t, in, names...)

	o := batchRun(context.Background(), e, "-in", in, "-prompt", prompt, "-out", out, "-concurrency", "8", "-poll", "100ms")
	require.Equal(t, exitOK, o.code, o.stderr)
	assert.Equal(t, 10, srv.SubmitCount(), "one task per image")
	assert.Len(t, withStatus(journalRecords(t, out), statusSaved), 10)
	assert.Contains(t, o.stderr, "server limit: 2 running, ")
	posts := requestsTo(srv, "POST", "/generation")
	t.Logf("%d submits refused with 429 for 10 tasks", posts-10)
}

// BenchmarkBatchAtTheLimit is issue 19's batch against an account that
// runs 3 tasks at once: 24 images, tasks of 5 s, default poll options, at
// -concurrency 8 and 3. Each run takes most of a minute, so run it once:
//
//	go test -run '^$' -bench BenchmarkBatchAtTheLimit -benchtime 1x ./cmd/qwenedit
//
// It reports the wall time against the ideal, ceil(24/3) × 5 s = 40 s,
// the submits refused with 429, and the images not edited.
func BenchmarkBatchAtTheLimit(b *testing.B) {
	const images, limit, duration = 24, 3, 5 * time.Second
	ideal := time.Duration((images+limit-1)/limit) * duration
	for _, concurrency := range []string{"8", "3"} {
		b.Run("concurrency="+concurrency, func(b *testing.B) {
			for b.Loop() {
				srv, e := fakeAPI(b, qwenedittest.WithMaxRunningTasks(limit), qwenedittest.WithTaskDuration(duration))
				in, out := b.TempDir(), b.TempDir()
				var names []string
				for i := range images {
					names = append(names, fmt.Sprintf("p%02d.png", i))
				}
				writeImages(b, in, names...)
				start := time.Now()
				o := runCLI(context.Background(), e, "batch", "-in", in, "-prompt", prompt, "-out", out, "-concurrency", concurrency)
				wall := time.Since(start)
				if o.code != exitOK {
					b.Fatalf("exit %d: %s", o.code, o.stderr)
				}
				posts := requestsTo(srv, "POST", "/generation")
				b.ReportMetric(wall.Seconds(), "s/batch")
				b.ReportMetric(wall.Seconds()/ideal.Seconds(), "x-ideal")
				b.ReportMetric(float64(srv.SubmitCount()), "tasks")
				b.ReportMetric(float64(posts-srv.SubmitCount()), "429s")
				b.ReportMetric(float64(images-strings.Count(o.stderr, ": saved as ")), "not-edited")
			}
		})
	}
}

// TestBatchHelpStatesTheLimit: batch -h says what a 429 does to a batch.
func TestBatchHelpStatesTheLimit(t *testing.T) {
	o := runCLI(context.Background(), env{}, "batch", "-h")
	require.Equal(t, exitOK, o.code, o.stderr)
	help := o.stdout + o.stderr
	assert.Contains(t, help, "That never fails an image")
	assert.Contains(t, help, "server limit: 3 running, 21 waiting")
}

// TestBatchWaitsOutA429ItDidNotCause: the account's one running slot is
// taken by a task the batch did not submit. The batch's submits are
// refused while none of its own tasks run: it waits, backing off, says
// so, and edits its image once that task has finished; one task for it.
func TestBatchWaitsOutA429ItDidNotCause(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t, qwenedittest.WithMaxRunningTasks(1), qwenedittest.WithTaskDuration(1500*time.Millisecond))
	submit(t, srv, 0, sample) // someone else's task
	in, out := t.TempDir(), t.TempDir()
	writeImages(t, in, "a.png")

	o := batchRun(context.Background(), e, "-in", in, "-prompt", prompt, "-out", out)
	require.Equal(t, exitOK, o.code, o.stderr)
	assert.Contains(t, o.stderr, "refused with 429 while none of this batch's tasks run")
	assert.Equal(t, 2, srv.SubmitCount(), "the other task and the batch's one")
	assert.Len(t, withStatus(journalRecords(t, out), statusSaved), 1)
}
