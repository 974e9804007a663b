package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-b62e15c8/qwenedit/qwenedittest"
)

// interrupted is a run of the program in-process that the test can
// interrupt as Ctrl-C would: interrupt is the first Ctrl-C, abort the second.
type interrupted struct {
	stop   chan struct{}
	abort  context.CancelFunc
	done   chan ran
	stderr *syncBuffer
}

// startInterruptible runs the program with args in a goroutine, with grace
// as the bound on the uploads in flight after the first Ctrl-C.
func startInterruptible(t *testing.T, e env, grace time.Duration, args ...string) *interrupted {
	t.Helper()
	ctx, abort := context.WithCancel(context.Background())
	r := &interrupted{stop: make(chan struct{}), abort: abort, done: make(chan ran, 1), stderr: &syncBuffer{}}
	go func() {
		var stdout syncBuffer
		code := runWith(ctx, interrupts{stop: r.stop, grace: grace}, args, e.get, &stdout, r.stderr)
		r.done <- ran{code, stdout.String(), r.stderr.String()}
	}()
	t.Cleanup(func() {
		abort()
		select {
		case <-r.done:
		case <-time.After(childGuard):
			t.Errorf("the run did not end after its abort")
		}
	})
	return r
}

// interrupt is the first Ctrl-C.
func (r *interrupted) interrupt() { close(r.stop) }

// result waits for the run to end.
func (r *interrupted) result(t *testing.T) ran {
	t.Helper()
	select {
	case o := <-r.done:
		r.done <- o // for the cleanup
		return o
	case <-time.After(childGuard):
		t.Fatalf("still running after %s\nstderr:\n%s", childGuard, r.stderr.String())
	}
	return ran{}
}

// waitStderr waits until stderr contains s.
func (r *interrupted) waitStderr(t *testing.T, s string) {
	t.Helper()
	require.Eventually(t, func() bool { return strings.Contains(r.stderr.String(), s) }, childGuard, 5*time.Millisecond,
		"no %q on stderr", s)
}

// heldBatch starts a batch of three files, -concurrency 2, through a proxy
// that holds the answers of the submits, and returns once two submits are
// held, their tasks created.
func heldBatch(t *testing.T, grace time.Duration) (*qwenedittest.Server, *holdingProxy, *interrupted, env, []string) {
	t.Helper()
	srv, direct := fakeAPI(t)
	proxy, e := newHoldingProxy(t, srv, direct)
	in, out := t.TempDir(), t.TempDir()
	writeImages(t, in, "a.png", "b.png", "c.png")
	args := []string{"-in", in, "-prompt", prompt, "-out", out, "-concurrency", "2"}
	r := startInterruptible(t, e, grace, append([]string{"batch", "-poll", "10ms"}, args...)...)
	proxy.waitHeld(t, 2)
	require.Equal(t, 2, srv.SubmitCount())
	return srv, proxy, r, e, args
}

// outOf returns the -out of args.
func outOf(args []string) string {
	for i, a := range args {
		if a == "-out" {
			return args[i+1]
		}
	}
	return ""
}

func TestBatchFirstInterruptFinishesTheUploadsInFlight(t *testing.T) {
	t.Parallel()
	srv, proxy, r, e, args := heldBatch(t, time.Hour)
	r.interrupt()
	r.waitStderr(t, "finishing 2 uploads in flight; Ctrl-C again to abort")
	proxy.releaseAll()
	o := r.result(t)

	assert.Equal(t, exitFailure, o.code)
	assert.Equal(t, "interrupted with 3 of 3 images not done: run the same command again (or qwenedit batch -out "+outOf(args)+" -resume) to resume", o.errMsg())
	assert.Contains(t, o.stdout, "3 images: 0 edited, 0 already saved, 0 failed, 3 to resume")
	assert.Equal(t, 2, srv.SubmitCount(), "no new submit after the Ctrl-C")
	last := lastStatuses(t, outOf(args))
	assert.Len(t, last, 2)
	assert.Equal(t, 2, countStatus(last, statusSubmitted), "the task IDs of the uploads in flight are journaled")

	o = batchRun(context.Background(), e, args...)
	require.Equal(t, exitOK, o.code, o.stdout)
	assert.Equal(t, 3, srv.SubmitCount(), "no extra task")
	assert.NotContains(t, o.stdout, "unknown")
}

func TestBatchSecondInterruptAbortsTheUploadsInFlight(t *testing.T) {
	t.Parallel()
	srv, proxy, r, e, args := heldBatch(t, time.Hour)
	r.interrupt()
	r.waitStderr(t, "finishing 2 uploads in flight; Ctrl-C again to abort")
	r.abort() // the second Ctrl-C, while the answers are still held
	o := r.result(t)

	assert.Equal(t, exitFailure, o.code)
	assert.Contains(t, o.errMsg(), "interrupted with 3 of 3 images not done")
	assert.Contains(t, o.stdout, "  2 with an unknown outcome: ")
	last := lastStatuses(t, outOf(args))
	assert.Equal(t, 2, countStatus(last, statusUnknown), "cut off after their tasks were created: %v", last)

	// Not submitted again blindly; the third file is.
	proxy.releaseAll()
	o = batchRun(context.Background(), e, args...)
	assert.Equal(t, exitFailure, o.code)
	assert.Equal(t, 3, srv.SubmitCount())
	assert.Contains(t, o.stdout, "3 images: 1 edited, 0 already saved, 2 failed, 0 to resume")
	assert.Contains(t, o.stdout, "an earlier submit had an unknown outcome: a task may exist and be charged")
}

func TestBatchUploadsInFlightAreCutOffAfterTheGrace(t *testing.T) {
	t.Parallel()
	// The held answers never come: the grace ends the wait for them.
	_, _, r, _, args := heldBatch(t, 50*time.Millisecond)
	r.interrupt()
	o := r.result(t)
	assert.Equal(t, exitFailure, o.code)
	assert.Contains(t, o.errMsg(), "interrupted with 3 of 3 images not done")
	assert.Equal(t, 2, countStatus(lastStatuses(t, outOf(args)), statusUnknown))
}

func TestEditFirstInterruptFinishesTheUploadAndDoesNotWait(t *testing.T) {
	t.Parallel()
	srv, direct := fakeAPI(t, qwenedittest.WithTaskDuration(time.Hour))
	proxy, e := newHoldingProxy(t, srv, direct)
	out := filepath.Join(t.TempDir(), "out")
	r := startInterruptible(t, e, time.Hour, "edit", "-poll", "10ms", "-image", sample, "-prompt", "Add a moon", "-out", out)
	proxy.waitHeld(t, 1)
	r.interrupt()
	r.waitStderr(t, "finishing 1 upload in flight; Ctrl-C again to abort")
	proxy.releaseAll()
	o := r.result(t)

	assert.Equal(t, exitFailure, o.code)
	require.Equal(t, 1, srv.SubmitCount())
	id := srv.Tasks()[0].ID
	wait := "qwenedit wait " + id + " -out " + shellQuote(out)
	assert.Contains(t, o.stderr, "task "+id+" submitted; if this stops, resume with: "+wait)
	assert.True(t, strings.HasSuffix(o.lastLine(), "resume with "+wait), o.lastLine())
	assert.Zero(t, requestsTo(srv, http.MethodGet, "/generation/"+id), "not waited for")
}

func TestEditInterruptBeforeTheSubmitSendsNothing(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t)
	stop := make(chan struct{})
	close(stop) // Ctrl-C came while the command started
	var stdout, stderr syncBuffer
	code := runWith(context.Background(), interrupts{stop: stop, grace: time.Hour},
		[]string{"edit", "-image", sample, "-prompt", "Add a moon", "-out", t.TempDir()}, e.get, &stdout, &stderr)
	o := ran{code, stdout.String(), stderr.String()}
	assert.Equal(t, exitFailure, o.code)
	assert.Equal(t, "qwenedit edit: interrupted before the submit: nothing was sent", o.lastLine())
	assert.Zero(t, srv.SubmitCount())
	assert.Zero(t, requestsTo(srv, http.MethodPost, "/generation"))
}

func TestEditInterruptDuringTheWaitStopsIt(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t, qwenedittest.WithTaskDuration(time.Hour))
	r := startInterruptible(t, e, time.Hour, "edit", "-poll", "10ms", "-image", sample, "-prompt", "Add a moon", "-out", "out")
	r.waitStderr(t, "pending")
	r.interrupt()
	o := r.result(t)
	assert.Equal(t, exitFailure, o.code)
	id := srv.Tasks()[0].ID
	assert.NotContains(t, o.stderr, "in flight")
	assert.Equal(t, "qwenedit edit: interrupted while waiting for task "+id+
		"; the task goes on and is charged: resume with qwenedit wait "+id+" -out out", o.lastLine())
}

func TestRelayInterruptsStopsThenAborts(t *testing.T) {
	t.Parallel()
	sigs := make(chan os.Signal, 2)
	stop := make(chan struct{})
	aborted := make(chan struct{})
	go relayInterrupts(sigs, stop, func() { close(aborted) })

	sigs <- os.Interrupt
	select {
	case <-stop:
	case <-time.After(childGuard):
		t.Fatal("the first signal did not close stop")
	}
	select {
	case <-aborted:
		t.Fatal("the first signal aborted")
	default:
	}
	sigs <- syscall.SIGTERM
	select {
	case <-aborted:
	case <-time.After(childGuard):
		t.Fatal("the second signal did not abort")
	}
}

func TestInterruptsContext(t *testing.T) {
	t.Parallel()
	t.Run("no stop channel", func(t *testing.T) {
		ctx, cancel := interrupts{}.context(context.Background(), true)
		defer cancel()
		assert.NoError(t, ctx.Err())
	})
	t.Run("a command that does not finish uploads ends at the first Ctrl-C", func(*testing.T) {
		stop := make(chan struct{})
		ctx, cancel := interrupts{stop: stop, grace: time.Hour}.context(context.Background(), false)
		defer cancel()
		close(stop)
		<-ctx.Done()
	})
	t.Run("one that does ends after the grace", func(*testing.T) {
		stop := make(chan struct{})
		ctx, cancel := interrupts{stop: stop, grace: time.Millisecond}.context(context.Background(), true)
		defer cancel()
		close(stop)
		<-ctx.Done()
	})
}

func TestBatchASubmitThatCreatedNothingIsSubmittedAgain(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t)
	// A refusal: no task.
	srv.InjectFault(qwenedittest.Fault{Method: http.MethodPost, Kind: qwenedittest.FaultStatus, Status: http.StatusBadRequest})
	in, out := t.TempDir(), t.TempDir()
	writeImages(t, in, "a.png")
	args := []string{"-in", in, "-prompt", prompt, "-out", out}

	o := batchRun(context.Background(), e, args...)
	assert.Equal(t, exitFailure, o.code)
	assert.Zero(t, srv.SubmitCount())
	assert.Contains(t, o.stdout, "refused the request (HTTP 400")
	recs := journalRecords(t, out)
	require.Len(t, recs, 2)
	assert.Equal(t, statusSubmitting, recs[0].Status)
	assert.Equal(t, statusFailed, recs[1].Status, "the submit's start is cleared")
	assert.Contains(t, recs[1].Error, "HTTP 400")

	o = batchRun(context.Background(), e, args...)
	require.Equal(t, exitOK, o.code, o.stdout)
	assert.Equal(t, 1, srv.SubmitCount())
	assertInverted(t, filepath.Join(in, "a.png"), filepath.Join(out, "a.png"))
}

func TestBatchAndEditHelpStateTheInterruptGuarantee(t *testing.T) {
	t.Parallel()
	batch := runCLI(context.Background(), env{}, "batch", "-h")
	require.Equal(t, exitOK, batch.code)
	for _, s := range []string{"journaled ahead", "unknown outcome", "-resubmit-unknown", "you may pay twice",
		"finishing N uploads in flight; Ctrl-C again to", "at most 30s", "A second Ctrl-C"} {
		assert.Contains(t, batch.stdout, s)
	}
	edit := runCLI(context.Background(), env{}, "edit", "-h")
	require.Equal(t, exitOK, edit.code)
	for _, s := range []string{"1 upload in flight; Ctrl-C again to abort", "exits 1 without waiting", "During the wait, Ctrl-C stops it"} {
		assert.Contains(t, edit.stdout, s)
	}
}
