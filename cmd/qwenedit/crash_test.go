package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-b62e15c8/qwenedit/qwenedittest"
)

// childEnv, set to 1, makes the test binary run the command (main) instead
// of the tests, so that a test can run it as a process of its own and
// send it real signals.
const childEnv = "QWENEDIT_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		main() // exits
	}
	os.Exit(m.Run())
}

// testKey is the dummy API key of the fakes the child processes talk to.
const testKey = "test-key"

// childGuard bounds every wait on a child process: a failure guard, never
// a synchronization.
const childGuard = time.Minute

// child is the command running as a process of its own.
type child struct {
	cmd    *exec.Cmd
	lines  chan string // its stderr, line by line, closed at its end
	stderr syncBuffer  // all of its stderr
	stdout syncBuffer
	exited chan struct{} // closed once it exited and its output is read
	err    error         // of Wait, once exited is closed
}

// startChild runs "qwenedit args..." with the key and base URL of e, and
// no other MULEROUTER_ variable of the test's environment.
func startChild(t *testing.T, e env, args ...string) *child {
	t.Helper()
	c := &child{cmd: exec.Command(os.Args[0], args...), lines: make(chan string, 1024), exited: make(chan struct{})}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MULEROUTER_") && !strings.HasPrefix(kv, childEnv+"=") {
			c.cmd.Env = append(c.cmd.Env, kv)
		}
	}
	c.cmd.Env = append(c.cmd.Env, childEnv+"=1",
		"MULEROUTER_API_KEY="+e["MULEROUTER_API_KEY"], "MULEROUTER_BASE_URL="+e["MULEROUTER_BASE_URL"])
	c.cmd.Stdout = &c.stdout
	pipe, err := c.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, c.cmd.Start())
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			c.stderr.Write([]byte(sc.Text() + "\n"))
			select {
			case c.lines <- sc.Text():
			default: // nobody is looking for lines this late
			}
		}
		close(c.lines)
		c.err = c.cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-c.exited:
		default:
			_ = c.cmd.Process.Kill()
			<-c.exited
		}
	})
	return c
}

// until polls cond (the fake's or the journal's state) until it holds;
// it fails if the child exits first.
func (c *child) until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	guard := time.After(childGuard)
	for !cond() {
		select {
		case <-tick.C:
		case <-c.exited:
			t.Fatalf("the command exited before %s: %v\nstderr:\n%s", what, c.err, c.stderr.String())
		case <-guard:
			t.Fatalf("no %s after %s\nstderr:\n%s", what, childGuard, c.stderr.String())
		}
	}
}

// waitLine waits for a line of stderr that contains s.
func (c *child) waitLine(t *testing.T, s string) {
	t.Helper()
	guard := time.After(childGuard)
	for {
		select {
		case line, ok := <-c.lines:
			if !ok {
				<-c.exited // c.err is set
				t.Fatalf("the command exited without printing %q: %v\nstderr:\n%s", s, c.err, c.stderr.String())
			}
			if strings.Contains(line, s) {
				return
			}
		case <-guard:
			t.Fatalf("no %q after %s\nstderr:\n%s", s, childGuard, c.stderr.String())
		}
	}
}

// exitCode waits for the child to end and returns its exit status, or -1
// if a signal killed it.
func (c *child) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case <-c.exited:
	case <-time.After(childGuard):
		t.Fatalf("still running after %s\nstderr:\n%s", childGuard, c.stderr.String())
	}
	var exit *exec.ExitError
	if c.err != nil && !errors.As(c.err, &exit) {
		t.Fatalf("wait: %v", c.err)
	}
	return c.cmd.ProcessState.ExitCode()
}

// lastStatuses reads the journal in out as it is at this instant, while a
// process may be appending to it: a last line not yet whole is left out.
func lastStatuses(t *testing.T, out string) map[string]record {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(out, journalName))
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	last := map[string]record{}
	for line := range strings.Lines(string(data)) {
		var r record
		if strings.HasSuffix(line, "\n") && json.Unmarshal([]byte(line), &r) == nil {
			last[r.File] = r
		}
	}
	return last
}

// countStatus counts the files whose last record has status.
func countStatus(last map[string]record, status string) int {
	n := 0
	for _, r := range last {
		if r.Status == status {
			n++
		}
	}
	return n
}

// TestBatchKilledWhileSubmittingNeverPaysTwice kills (SIGKILL) a batch
// while the fake holds the answers of two submits whose tasks it created,
// and two other tasks are journaled and being waited for. The rerun
// creates no task: the two journaled ones are resumed, and the two whose
// answer never came are reported as unknown outcomes, not submitted again.
func TestBatchKilledWhileSubmittingNeverPaysTwice(t *testing.T) {
	t.Parallel()
	clock := &steppedClock{base: time.Now()} // no task finishes until the rerun
	srv, e := fakeAPI(t, qwenedittest.WithAPIKey(testKey), qwenedittest.WithTaskDuration(time.Minute), qwenedittest.WithClock(clock.Now))
	srv.InjectFault(qwenedittest.Fault{Method: http.MethodPost, Kind: qwenedittest.FaultHang, AfterCreate: true, Times: 2})
	in, out := t.TempDir(), t.TempDir()
	images := []string{"a.png", "b.png", "c.png", "d.png"}
	writeImages(t, in, images...)
	args := []string{"-in", in, "-prompt", prompt, "-out", out, "-concurrency", "4"}

	c := startChild(t, e, append([]string{"batch", "-poll", "10ms"}, args...)...)
	c.until(t, "4 tasks, 2 of them journaled", func() bool {
		return srv.SubmitCount() == 4 && countStatus(lastStatuses(t, out), statusSubmitted) == 2
	})
	require.NoError(t, c.cmd.Process.Kill()) // SIGKILL: no deferred function, no last write
	assert.Equal(t, -1, c.exitCode(t), "killed")
	require.Zero(t, srv.PendingFaults())

	// What the journal says of each file at the instant of the kill.
	last := lastStatuses(t, out)
	var killed, journaled []string
	for _, f := range images {
		r := last[f]
		switch r.Status {
		case statusSubmitting:
			killed = append(killed, f)
			assert.Empty(t, r.TaskID)
			sum, err := fileSum(filepath.Join(in, f))
			require.NoError(t, err)
			assert.Equal(t, sum, r.SHA256, "the submit's start names the file's content")
			assert.Equal(t, prompt, r.Prompt)
			assert.Equal(t, srv.URL(), r.Server)
		case statusSubmitted:
			journaled = append(journaled, f)
		default:
			t.Fatalf("%s: last record %+v", f, r)
		}
	}
	require.Len(t, killed, 2, "the journal records the submits whose answer was held")
	require.Len(t, journaled, 2)

	// The rerun: the tasks can finish now.
	clock.step.Store(int64(time.Minute))
	o := batchRun(context.Background(), e, args...)
	assert.Equal(t, exitFailure, o.code, o.stderr)
	assert.Equal(t, 4, srv.SubmitCount(), "no second task for any file")
	assert.Equal(t, 4, requestsTo(srv, http.MethodPost, "/generation"))
	for _, f := range journaled {
		assert.Contains(t, o.stderr, f+": resuming task "+last[f].TaskID+" from an earlier run (not submitted again)")
		assertInverted(t, filepath.Join(in, f), filepath.Join(out, f))
	}
	for _, f := range killed {
		assert.Contains(t, o.stdout, "  "+f+": an earlier run stopped while submitting it, before its answer was journaled, so its outcome is unknown: a task may exist and be charged\n"+
			"      check your MuleRouter dashboard, then rerun with -resubmit-unknown to submit it again (you may pay twice)")
		assert.NoFileExists(t, filepath.Join(out, f))
	}
	assert.Contains(t, o.stdout, "4 images: 2 edited, 0 already saved, 2 failed, 0 to resume")
	assert.Contains(t, o.stdout, "  2 with an unknown outcome: ")
	assert.Equal(t, "2 of 4 images not done", o.errMsg())

	// Once the user has checked, -resubmit-unknown submits them again.
	o = batchRun(context.Background(), e, append(args, "-resubmit-unknown")...)
	require.Equal(t, exitOK, o.code, o.stdout)
	assert.Equal(t, 6, srv.SubmitCount())
	assert.Contains(t, o.stdout, "4 images: 2 edited, 2 already saved, 0 failed, 0 to resume")
}

// holdingProxy stands between the command and a fake: it passes every
// request on, but holds the answer of each submit (whose task the fake has
// created by then) until release is closed, like a slow upload whose
// answer is still on its way.
type holdingProxy struct {
	held    chan string // the path of each submit held, as it is held
	release chan struct{}
	once    sync.Once
}

// newHoldingProxy starts a holdingProxy in front of srv and returns it
// with the environment of a user whose base URL is the proxy.
func newHoldingProxy(t *testing.T, srv *qwenedittest.Server, e env) (*holdingProxy, env) {
	t.Helper()
	target, err := url.Parse(srv.URL())
	require.NoError(t, err)
	h := &holdingProxy{held: make(chan string, 64), release: make(chan struct{})}
	transport := &http.Transport{}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := transport.RoundTrip(r)
		if err != nil || r.Method != http.MethodPost {
			return resp, err
		}
		return h.hold(r, resp)
	})
	proxy := httptest.NewServer(rp)
	t.Cleanup(func() {
		h.releaseAll()
		proxy.Close()
		transport.CloseIdleConnections()
	})
	e2 := env{}
	for k, v := range e {
		e2[k] = v
	}
	e2["MULEROUTER_BASE_URL"] = proxy.URL
	return h, e2
}

// hold holds a submit's answer until release, or until the client goes away.
func (h *holdingProxy) hold(r *http.Request, resp *http.Response) (*http.Response, error) {
	select {
	case <-h.release:
		return resp, nil
	default:
	}
	h.held <- r.URL.Path
	select {
	case <-h.release:
		return resp, nil
	case <-r.Context().Done():
		resp.Body.Close()
		return nil, r.Context().Err()
	}
}

// releaseAll lets the held answers, and every later one, through.
func (h *holdingProxy) releaseAll() { h.once.Do(func() { close(h.release) }) }

// waitHeld waits until n submits are held.
func (h *holdingProxy) waitHeld(t *testing.T, n int) {
	t.Helper()
	guard := time.After(childGuard)
	for range n {
		select {
		case <-h.held:
		case <-guard:
			t.Fatalf("fewer than %d submits held after %s", n, childGuard)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestBatchFirstSIGINTFinishesTheUploadsInFlight sends a real SIGINT to a
// batch while two submits are on the wire (the fake created their tasks,
// their answers are held): the batch says it finishes them, starts no
// third one, journals both task IDs once the answers come, and exits 1
// with the resume command; the rerun creates only the third file's task
// and finds no unknown outcome.
func TestBatchFirstSIGINTFinishesTheUploadsInFlight(t *testing.T) {
	t.Parallel()
	srv, direct := fakeAPI(t, qwenedittest.WithAPIKey(testKey))
	proxy, e := newHoldingProxy(t, srv, direct)
	in, out := t.TempDir(), t.TempDir()
	images := []string{"a.png", "b.png", "c.png"}
	writeImages(t, in, images...)
	args := []string{"-in", in, "-prompt", prompt, "-out", out, "-concurrency", "2"}

	c := startChild(t, e, append([]string{"batch", "-poll", "10ms"}, args...)...)
	proxy.waitHeld(t, 2)
	require.Equal(t, 2, srv.SubmitCount())
	require.NoError(t, c.cmd.Process.Signal(os.Interrupt))
	c.waitLine(t, "finishing 2 uploads in flight; Ctrl-C again to abort")
	proxy.releaseAll()

	assert.Equal(t, exitFailure, c.exitCode(t))
	stderr := c.stderr.String()
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	assert.Equal(t, "qwenedit batch: interrupted with 3 of 3 images not done: run the same command again (or qwenedit batch -out "+out+" -resume) to resume",
		lines[len(lines)-1])
	assert.Equal(t, 2, srv.SubmitCount(), "no submit started after the Ctrl-C")
	last := lastStatuses(t, out)
	assert.Equal(t, 2, countStatus(last, statusSubmitted), "both task IDs journaled: %v", last)
	assert.Len(t, last, 2, "nothing journaled for the file not started")
	assert.NotContains(t, c.stdout.String(), "unknown")

	// The rerun: the two tasks are waited for, the third file submitted.
	o := batchRun(context.Background(), e, args...)
	require.Equal(t, exitOK, o.code, o.stdout+o.stderr)
	assert.Equal(t, 3, srv.SubmitCount(), "one task per file over both runs")
	assert.ElementsMatch(t, images, sentFiles(t, srv, in))
	for f, r := range last {
		assert.Contains(t, o.stderr, f+": resuming task "+r.TaskID)
	}
	assert.NotContains(t, o.stdout, "unknown")
	assert.Contains(t, o.stdout, "3 images: 3 edited, 0 already saved, 0 failed, 0 to resume")
}
