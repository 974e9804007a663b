package main

// Ctrl-C in two steps: the first starts no new submit but lets those on
// the wire finish, so that their task IDs are known; the second aborts.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"time"
)

// relayInterrupts turns SIGINT and SIGTERM into the two steps of a stop.
// The first closes stop: start nothing new, but let the submits on the
// wire finish, since cutting one off leaves a task that may exist and be
// charged without its ID. The second calls abort: give up on them now.
// After that the signals get their default action back, so a third one
// kills the process.
func relayInterrupts(sigs chan os.Signal, stop chan<- struct{}, abort func()) {
	<-sigs
	close(stop)
	<-sigs
	abort()
	signal.Stop(sigs)
}

// interrupts is how a run learns of Ctrl-C, besides its context ending
// (the second Ctrl-C).
type interrupts struct {
	stop  <-chan struct{} // closed by the first Ctrl-C; nil: never
	grace time.Duration   // after stop, how long submits on the wire may take before they are aborted
}

// context returns the context a command runs under: ctx, ended also at
// the first Ctrl-C, or, for a command that finishes its uploads, grace
// after it.
func (in interrupts) context(ctx context.Context, finishesUploads bool) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	if in.stop == nil {
		return ctx, cancel
	}
	var after time.Duration
	if finishesUploads {
		after = in.grace
	}
	go func() {
		select {
		case <-in.stop:
		case <-ctx.Done():
			return
		}
		t := time.NewTimer(after)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// afterStop runs f once, in a goroutine of its own, when stop (the first
// Ctrl-C) closes. release stops watching and, if f started, waits for it
// to return, so that f never runs after release.
func afterStop(stop <-chan struct{}, f func()) (release func()) {
	if stop == nil {
		return func() {}
	}
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		select {
		case <-stop:
			f()
		case <-done:
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// inFlightMessage is what the first Ctrl-C prints while n submits are on
// the wire.
func inFlightMessage(n int) string {
	uploads := "uploads"
	if n == 1 {
		uploads = "upload"
	}
	return fmt.Sprintf("finishing %d %s in flight; Ctrl-C again to abort", n, uploads)
}

// errInterrupted is the outcome of work the first Ctrl-C kept from starting.
var errInterrupted = errors.New("interrupted")

// uploads counts the submits on the wire, so that the first Ctrl-C can let
// them finish (a submit cut off may leave a task that is charged but
// whose ID nobody knows) while starting no new one. It is safe for
// concurrent use.
type uploads struct {
	stop     <-chan struct{} // the first Ctrl-C
	mu       sync.Mutex
	stopped  bool
	inFlight int
}

// start counts a submit in, or reports false if the first Ctrl-C came:
// then the submit must not start.
func (u *uploads) start() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	select {
	case <-u.stop: // closed before the watcher called halt
		u.stopped = true
	default:
	}
	if u.stopped {
		return false
	}
	u.inFlight++
	return true
}

// done counts a submit out, and reports whether the first Ctrl-C came.
func (u *uploads) done() (stopped bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.inFlight--
	return u.stopped
}

// halt starts no submit from now on, and returns how many are in flight.
func (u *uploads) halt() (inFlight int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.stopped = true
	return u.inFlight
}

// isStopped reports whether the first Ctrl-C came.
func (u *uploads) isStopped() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.stopped
}

// oneUpload handles Ctrl-C for a command that submits one task, then waits
// for it (edit). Its context ends at the first Ctrl-C, except while the
// submit is on the wire: then it ends when the submit does, so that the
// task ID is known and printed, and the wait stops before it starts.
type oneUpload struct {
	up      uploads
	cancel  context.CancelFunc
	release func()
	endOnce sync.Once
}

// watchOneUpload returns the context to submit, wait and save under, and
// the oneUpload to tell when the submit starts and ends. Call close when done.
func (c *cli) watchOneUpload(ctx context.Context) (context.Context, *oneUpload) {
	ctx, cancel := context.WithCancel(ctx)
	o := &oneUpload{up: uploads{stop: c.stop}, cancel: cancel}
	o.release = afterStop(c.stop, func() {
		if n := o.up.halt(); n > 0 {
			fmt.Fprintln(c.stderr, inFlightMessage(n))
			return // ended cancels
		}
		cancel()
	})
	return ctx, o
}

// start reports whether the submit may start: false after the first Ctrl-C.
func (o *oneUpload) start() bool { return o.up.start() }

// ended says that the submit is no longer on the wire; calls after the
// first do nothing.
func (o *oneUpload) ended() {
	o.endOnce.Do(func() {
		if o.up.done() {
			o.cancel()
		}
	})
}

// close stops watching for Ctrl-C and ends the context.
func (o *oneUpload) close() {
	o.release()
	o.cancel()
}

// interruptedBeforeSubmit is the failure of a command stopped by the first
// Ctrl-C before its submit started.
func interruptedBeforeSubmit() *failure {
	return &failure{msg: "interrupted before the submit: nothing was sent", code: exitFailure, kind: "interrupted", err: errInterrupted}
}
