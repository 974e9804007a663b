package qwenedit_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-b62e15c8/qwenedit"
	"github.com/seed-b62e15c8/qwenedit/qwenedittest"
)

var loadFlag = flag.Bool("load", false, "run TestLoad with 1,000 concurrent Edit calls instead of 100 (go test -race -run TestLoad -load .)")

// Outcome kinds of one Edit call under load.
const (
	loadSucceeded   = "succeeded"
	loadTaskFailed  = "task failed"
	loadAmbiguous   = "ambiguous submit"
	loadRateLimited = "rate limited"
	loadOther       = "other"
)

const loadFailCode = 4001

// loadMix is how many of each fault a load run injects.
type loadMix struct {
	post429      int // POST 429 with Retry-After "0": retried, create nothing
	postCutAfter int // POST cut mid-body after create: ambiguous, one task each
	post503After int // POST 503 after create: ambiguous, one task each
	postReset    int // POST stream reset (INTERNAL_ERROR) after create (HTTP/1.1: a close): ambiguous, one task each, never replayed
	get503       int // GET 503: retried
	getCut       int // GET cut mid-body: retried
	failTasks    int // FailNextTask
}

func newLoadMix(n int) loadMix {
	return loadMix{
		post429:      n / 10,
		postCutAfter: max(n/50, 1),
		post503After: max(n/100, 1),
		postReset:    max(n/100, 1),
		get503:       n / 10,
		getCut:       n / 20,
		failTasks:    n / 20,
	}
}

// inject queues the faults. Each kind is one queued fault whose Every
// spreads its applications over the first half of the run's requests of
// its method, rather than over the first few of them.
//
// Over HTTP/2 the answers are cut by resetting their stream rather than
// closing the connection: a closed connection ends every stream on it,
// and each submit in flight there is then rightly ambiguous, which would
// blur the one-ambiguous-submit-per-lost-answer count (the fault suite
// covers connection closes one request at a time).
func (m loadMix) inject(srv *qwenedittest.Server, n int) {
	spread := func(f qwenedittest.Fault, times int) {
		f.Times, f.Every = times, max(n/(2*times), 1)
		srv.InjectFault(f)
	}
	cut := qwenedittest.Fault{Kind: qwenedittest.FaultCloseMidBody}
	if strings.HasPrefix(srv.URL(), "https:") {
		cut = qwenedittest.Fault{Kind: qwenedittest.FaultResetStream}
	}
	cutAfter := cut
	cutAfter.AfterCreate = true
	spread(qwenedittest.Fault{Method: "POST", Kind: qwenedittest.FaultStatus, Status: http.StatusTooManyRequests, RetryAfter: "0"}, m.post429)
	spread(cutAfter, m.postCutAfter)
	spread(qwenedittest.Fault{Kind: qwenedittest.FaultStatus, Status: http.StatusServiceUnavailable, AfterCreate: true}, m.post503After)
	spread(qwenedittest.Fault{Kind: qwenedittest.FaultResetStream, AfterCreate: true}, m.postReset)
	spread(qwenedittest.Fault{Method: "GET", Kind: qwenedittest.FaultStatus, Status: http.StatusServiceUnavailable}, m.get503)
	getCut := cut
	getCut.Method = "GET"
	spread(getCut, m.getCut)
	for range m.failTasks {
		srv.FailNextTask(loadFailCode, "Invalid Request", "The prompt contains prohibited content")
	}
}

// loadOutcome is what one Edit call ended with.
type loadOutcome struct {
	kind      string
	taskID    string // the task it returned (succeeded, task failed)
	submitted string // the ID WithOnSubmitted saw, "" if none
	err       error
	problem   string // an inconsistency inside the outcome, "" if none
}

func classifyLoadOutcome(task *qwenedit.Task, err error, submitted string) loadOutcome {
	o := loadOutcome{submitted: submitted, err: err}
	var (
		failed *qwenedit.TaskFailedError
		amb    *qwenedit.AmbiguousSubmitError
	)
	switch {
	case err == nil:
		o.kind, o.taskID = loadSucceeded, task.ID
		if !task.Status.IsSuccess() || len(task.Images) != 1 || task.ID != submitted {
			o.problem = fmt.Sprintf("success with status %q, %d images, id %q (submitted %q)", task.Status, len(task.Images), task.ID, submitted)
		}
	case errors.As(err, &failed):
		o.kind, o.taskID = loadTaskFailed, failed.TaskID
		if failed.Code != loadFailCode || failed.TaskID != submitted {
			o.problem = fmt.Sprintf("task failure with code %d, id %q (submitted %q)", failed.Code, failed.TaskID, submitted)
		}
	case errors.As(err, &amb):
		o.kind = loadAmbiguous
		if submitted != "" {
			o.problem = "ambiguous submit after WithOnSubmitted saw " + submitted
		}
	case errors.Is(err, qwenedit.ErrRateLimited):
		o.kind = loadRateLimited
		if submitted != "" {
			o.problem = "rate limited after WithOnSubmitted saw " + submitted
		}
	default:
		o.kind = loadOther
	}
	return o
}

// heapSampler records the peak HeapInuse until stopped.
type heapSampler struct {
	stop, done chan struct{}
	peak       uint64
}

func startHeapSampler(every time.Duration) *heapSampler {
	s := &heapSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			s.peak = max(s.peak, ms.HeapInuse)
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

// Stop ends the sampling and returns the peak.
func (s *heapSampler) Stop() uint64 {
	close(s.stop)
	<-s.done
	return s.peak
}

// TestLoad guards the client's behaviour under concurrency with faults: N
// concurrent Edit calls on one Client against one fake with rate limits,
// 5xx answers, cut bodies, failed tasks and lost submit answers switched on.
// Every call must end exactly once with success or an expected typed error,
// the server must have created exactly one task per call that got as far as
// a task (no duplicate submit, no task created by a retry of a refused
// POST), connections must be reused (100 calls; -load reports it), and no
// goroutine may be left behind.
// 100 calls by default; 1,000 with -load.
func TestLoad(t *testing.T) {
	n := 100
	if *loadFlag {
		n = 1000
	}
	for _, tr := range faultTransports {
		t.Run(tr.name, func(t *testing.T) { loadRun(t, n, tr.opts) })
	}
}

// maxCallsForReuseCheck is the most concurrent calls for which loadRun
// asserts connection reuse (see there).
const maxCallsForReuseCheck = 4 * 64

// loadRun is one load run of n calls over one transport.
func loadRun(t *testing.T, n int, transport []qwenedittest.Option) {
	goroutinesBefore := runtime.NumGoroutine()

	srv := qwenedittest.NewServer(append([]qwenedittest.Option{
		qwenedittest.WithTaskDuration(200 * time.Millisecond),
	}, transport...)...)
	defer srv.Close() // also closed below, before the goroutine check
	mix := newLoadMix(n)
	mix.inject(srv, n)

	c, err := qwenedit.NewClient(append([]qwenedit.Option{
		qwenedit.WithAPIKey(srv.APIKey()),
		qwenedit.WithBaseURL(srv.URL()),
		qwenedit.WithRetryBackoff(time.Millisecond, 5*time.Millisecond),
	}, faultHTTPClient(srv)...)...)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // a deadline, not a measurement
	defer cancel()

	// One request first, as a long-lived service has made: over HTTP/2,
	// Go's client dials a connection per request until its first one is
	// up, so a cold burst of n would open up to n connections (up to 2n
	// under -race) before the rest are multiplexed.
	_, err = c.Get(ctx, "warm-up")
	require.ErrorIs(t, err, qwenedit.ErrNotFound)

	var msBefore runtime.MemStats
	runtime.ReadMemStats(&msBefore)
	sampler := startHeapSampler(5 * time.Millisecond)
	images := []qwenedit.Image{qwenedit.ImageBytes(tinyPNG())}
	outcomes := make([]loadOutcome, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			var submitted string
			task, err := c.Edit(ctx, &qwenedit.EditRequest{Images: images, Prompt: loadPrompt(i)},
				qwenedit.WithPollInterval(10*time.Millisecond),
				qwenedit.WithMaxPollInterval(50*time.Millisecond),
				qwenedit.WithOnSubmitted(func(info *qwenedit.TaskInfo) { submitted = info.ID }),
			)
			outcomes[i] = classifyLoadOutcome(task, err, submitted)
		})
	}
	began := time.Now()
	close(start)
	wg.Wait()
	elapsed := time.Since(began)
	peakHeap := sampler.Stop()
	var msAfter runtime.MemStats
	runtime.ReadMemStats(&msAfter)
	require.NoError(t, ctx.Err(), "the load run used up its time budget")

	// Every call, accounted for once.
	kinds := map[string]int{}
	returnedIDs := map[string]int{}
	for i, o := range outcomes {
		kinds[o.kind]++
		assert.Empty(t, o.problem, "call %d", i)
		if o.kind == loadOther {
			t.Errorf("call %d: unexpected error: %v", i, o.err)
		}
		if o.taskID != "" {
			returnedIDs[o.taskID]++
		}
	}
	succeeded, failed, amb, limited := kinds[loadSucceeded], kinds[loadTaskFailed], kinds[loadAmbiguous], kinds[loadRateLimited]
	assert.Equal(t, n, succeeded+failed+amb+limited+kinds[loadOther], "every call ended exactly once")
	assert.Zero(t, kinds[loadOther], "calls that ended with an unexpected error")

	// What the server saw.
	tasks := srv.Tasks()
	posts, gets := apiRequestCounts(srv)
	conns := srv.Connections()
	assert.Zero(t, srv.PendingFaults(), "every injected fault was used")
	taskByPrompt := map[string]string{}
	duplicateSubmits := 0
	for _, task := range tasks {
		if _, seen := taskByPrompt[task.Request.Prompt]; seen {
			duplicateSubmits++
		}
		taskByPrompt[task.Request.Prompt] = task.ID
	}
	duplicateIDs := 0
	for _, count := range returnedIDs {
		duplicateIDs += count - 1
	}
	assert.Zero(t, duplicateSubmits, "calls that created more than one task")
	assert.Zero(t, duplicateIDs, "task IDs returned to more than one call")
	assert.Equal(t, len(tasks), srv.SubmitCount())
	assert.Equal(t, succeeded+failed+amb, len(tasks), "tasks created = successes + task failures + ambiguous submits")
	assert.Equal(t, len(tasks)+mix.post429, posts, "POSTs = tasks created + POSTs refused with 429, nothing else")
	assert.Equal(t, mix.postCutAfter+mix.post503After+mix.postReset, amb, "one ambiguous submit per lost answer")
	assert.LessOrEqual(t, failed, mix.failTasks, "task failures")
	assert.GreaterOrEqual(t, failed+amb, mix.failTasks, "each failing task was reported failed or its submit was ambiguous")
	assert.LessOrEqual(t, 4*limited, mix.post429, "a rate-limited call used four 429s")
	for i, o := range outcomes {
		id, created := taskByPrompt[loadPrompt(i)]
		switch o.kind {
		case loadSucceeded, loadTaskFailed:
			assert.Equal(t, id, o.taskID, "call %d returned the task its submit created", i)
		case loadAmbiguous:
			assert.True(t, created, "call %d: the ambiguous submit did create a task (AfterCreate faults)", i)
		case loadRateLimited:
			assert.False(t, created, "call %d: a rate-limited call created a task", i)
		}
	}
	// The n calls start at once, so n connections are unavoidable; beyond
	// those, most requests must reuse a connection (with Go's default of 2
	// idle connections per host, about 70 % of them would not). That holds
	// while the calls are few beside the 64 connections the transport keeps
	// idle per host. With 1,000 calls polling in step (-load), the
	// connections freed at once beyond those 64 are closed, and reuse
	// depends on how the polls bunch (over HTTP/1.1, about one run in seven
	// redials nearly every request): that run reports it and does not
	// assert it.
	requests := posts + gets
	if n <= maxCallsForReuseCheck {
		assert.Less(t, conns-n, (requests-n)/2, "connections beyond one per concurrent call: %d connections for %d requests", conns, requests)
	}

	// No goroutine left once the server has closed every connection.
	srv.Close()
	goroutinesAfter := waitForGoroutines(goroutinesBefore, 2*time.Second)
	if !assert.LessOrEqual(t, goroutinesAfter, goroutinesBefore, "goroutines left behind") {
		var sb strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&sb, 1)
		t.Log(sb.String())
	}

	t.Logf("load: %d concurrent Edit calls in %s", n, elapsed.Round(time.Millisecond))
	t.Logf("faults: %d POST 429, %d POST cut after create, %d POST 503 after create, %d POST reset after create, %d GET 503, %d GET cut, %d failing tasks",
		mix.post429, mix.postCutAfter, mix.post503After, mix.postReset, mix.get503, mix.getCut, mix.failTasks)
	t.Logf("outcomes: %d succeeded, %d task failed, %d ambiguous submit, %d rate limited, %d other",
		succeeded, failed, amb, limited, kinds[loadOther])
	t.Logf("tasks created: %d; duplicate submits: %d; duplicate task IDs returned: %d", len(tasks), duplicateSubmits, duplicateIDs)
	t.Logf("requests served: %d (%d POST, %d GET); connections opened: %d (%.1f requests per connection; %d beyond one per concurrent call)",
		requests, posts, gets, conns, float64(requests)/float64(max(conns, 1)), conns-n)
	t.Logf("goroutines: %d before, %d after", goroutinesBefore, goroutinesAfter)
	t.Logf("heap: peak HeapInuse %.1f MiB (sampled every 5 ms); allocated %.1f MiB in all",
		float64(peakHeap)/(1<<20), float64(msAfter.TotalAlloc-msBefore.TotalAlloc)/(1<<20))
}

// waitForGoroutines gives goroutines that are on their way out (connection
// readers and writers after the server closed) up to within to end, and
// returns how many are running: at most want, or more once within passed.
func waitForGoroutines(want int, within time.Duration) int {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		runtime.Gosched()
		if got := runtime.NumGoroutine(); got <= want {
			return got
		}
		select {
		case <-deadline.C:
			return runtime.NumGoroutine()
		case <-tick.C:
		}
	}
}

func loadPrompt(i int) string { return fmt.Sprintf("load call %d: put a red scarf on the cat", i) }
