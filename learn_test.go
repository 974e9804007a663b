package qwenedit

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-b62e15c8/qwenedit/internal/schedcsv"
)

// This file checks the learning poll schedule (schedule.go) on a fake
// clock, side by side with the default schedule and fixed loops:
//
//   - a steady workload: every task takes D ± 5 % (uniform), for D from 5 s
//     to 10 min. The learning Client has finished warmTasks such tasks
//     before the one measured; the measured task completes at learnCells
//     evenly spread times over [0.95 D, 1.05 D], and every schedule is
//     averaged over the same times. The server reports created_at and
//     updated_at, as the real API does (sdk-learned), or no timestamps at
//     all, so that the Client learns from its own polls only
//     (sdk-learned-polls-only).
//   - a mixed workload: the Client has finished tasks of 5 s, 30 s, 2 min
//     and 10 min in turn; the measured task is as in the steady case.
//
// The same shortcut as schedule_test.go applies: until the measured task
// completes, the poller sees the same answers whatever its completion time,
// so one run per seed, completing at the end of the window, gives the
// polls of every earlier completion too.

// learnCSV is the table behind BENCHMARKS.md's learning section.
var learnCSV = filepath.Join("docs", "data", "poll-learning.csv")

var learnDurations = []time.Duration{5 * time.Second, 15 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute}

const (
	warmTasks  = 8
	learnCells = 40
	learnSeeds = 10
)

// taskServer answers submits with new task IDs and polls with
// "processing" until each task's completion time has passed.
type taskServer struct {
	clk        *FakeClock
	timestamps bool // completed answers carry created_at and updated_at
	next       int
	submitted  map[string]time.Time
	done       map[string]time.Duration
	polls      map[string][]time.Duration
}

func newTaskServer(t *testing.T, mt *httpmock.MockTransport, clk *FakeClock) *taskServer {
	ts := &taskServer{clk: clk, submitted: map[string]time.Time{}, done: map[string]time.Duration{}, polls: map[string][]time.Duration{}}
	mt.RegisterResponder(http.MethodPost, submitURL, func(r *http.Request) (*http.Response, error) {
		ts.next++
		id := fmt.Sprintf("task-%d", ts.next)
		ts.submitted[id] = clk.Now()
		return jsonResponder(http.StatusAccepted, `{"task_info":{"id":"`+id+`","status":"pending"}}`)(r)
	})
	mt.RegisterRegexpResponder(http.MethodGet, regexp.MustCompile(`/generation/(task-\d+)$`), func(r *http.Request) (*http.Response, error) {
		id := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		at := clk.Now().Sub(ts.submitted[id])
		ts.polls[id] = append(ts.polls[id], at)
		if at >= ts.done[id] {
			times := ""
			if ts.timestamps {
				start := ts.submitted[id]
				times = fmt.Sprintf(`,"created_at":%q,"updated_at":%q`, start.Format(time.RFC3339Nano), start.Add(ts.done[id]).Format(time.RFC3339Nano))
			}
			return jsonResponder(http.StatusOK, `{"task_info":{"id":"`+id+`","status":"completed"`+times+`},"images":["https://assets.test/r.png"]}`)(r)
		}
		return jsonResponder(http.StatusOK, `{"task_info":{"id":"`+id+`","status":"processing"}}`)(r)
	})
	mt.RegisterNoResponder(httpmock.NewNotFoundResponder(t.Fatal))
	return ts
}

// run does one Edit (or Submit then WaitForResult) of a task that
// completes done after its submit, and returns the GET offsets.
func (ts *taskServer) run(t *testing.T, c *Client, done time.Duration, submitThenWait bool) []time.Duration {
	t.Helper()
	id := fmt.Sprintf("task-%d", ts.next+1)
	ts.done[id] = done
	var task *Task
	var err error
	if submitThenWait {
		var info *TaskInfo
		info, err = c.Submit(context.Background(), validRequest(t))
		require.NoError(t, err)
		task, err = c.WaitForResult(context.Background(), info.ID)
	} else {
		task, err = c.Edit(context.Background(), validRequest(t))
	}
	require.NoError(t, err)
	require.Equal(t, id, task.ID)
	return ts.polls[id]
}

// steadyDone is the completion time of warm-up task i of a steady workload.
func steadyDone(d time.Duration, jitter func() float64) time.Duration {
	return time.Duration(float64(d) * (0.95 + 0.1*jitter()))
}

// mixedDone cycles through very different task lengths.
func mixedDone(i int) time.Duration {
	return []time.Duration{5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute}[i%4]
}

// learnTimes are the measured task's completion times: cell midpoints over D ± 5 %.
func learnTimes(d time.Duration) []time.Duration {
	out := make([]time.Duration, learnCells)
	lo, width := d-d/20, d/10
	for k := range out {
		out[k] = lo + time.Duration(2*k+1)*width/(2*learnCells)
	}
	return out
}

// sdkLearnRow measures the SDK after warm-up tasks (warm(i) is the
// completion time of the i-th; nil for none).
func sdkLearnRow(t *testing.T, name string, d time.Duration, warm func(i int, jitter func() float64) time.Duration, timestamps, submitThenWait bool) schedcsv.Row {
	t.Helper()
	times := learnTimes(d)
	var sum schedcsv.Row
	for s := range learnSeeds {
		// The measured task gets the same jitter stream in every row, so
		// that rows differ by their schedules, not by their luck.
		jitter := seededJitter(uint64(d), uint64(s), 7)
		stream := jitter
		c, mt, clk := mockClient(t, WithJitter(func() float64 { return stream() }))
		ts := newTaskServer(t, mt, clk)
		ts.timestamps = timestamps
		for i := range warmTasks {
			if warm != nil {
				ts.run(t, c, warm(i, jitter), false)
			}
		}
		stream = seededJitter(uint64(d), uint64(s), 8)
		r := meanOverCompletions(ts.run(t, c, times[len(times)-1], submitThenWait), times)
		sum.Requests += r.Requests
		sum.NoticeDelay += r.NoticeDelay
	}
	return schedcsv.Row{Schedule: name, Duration: d, Requests: sum.Requests / learnSeeds, NoticeDelay: sum.NoticeDelay / learnSeeds}
}

// fixedLearnRow is a fixed loop over the same completion times; sleepFirst
// waits one interval before the first poll.
func fixedLearnRow(interval, d time.Duration, sleepFirst bool) schedcsv.Row {
	times := learnTimes(d)
	polls := fixedLoopPollTimes(interval, times[len(times)-1])
	name := fmt.Sprintf("fixed-%s-poll-first", interval)
	if sleepFirst {
		polls, name = polls[1:], fmt.Sprintf("fixed-%s-sleep-first", interval)
	}
	r := meanOverCompletions(polls, times)
	r.Schedule, r.Duration = name, d
	return r
}

func learnTable(t *testing.T) []schedcsv.Row {
	t.Helper()
	steady := func(d time.Duration) func(int, func() float64) time.Duration {
		return func(_ int, j func() float64) time.Duration { return steadyDone(d, j) }
	}
	mixed := func(i int, _ func() float64) time.Duration { return mixedDone(i) }
	var rows []schedcsv.Row
	for _, d := range learnDurations {
		rows = append(rows,
			sdkLearnRow(t, "sdk-default", d, nil, true, false),
			sdkLearnRow(t, "sdk-learned", d, steady(d), true, false),
			sdkLearnRow(t, "sdk-learned-submit-wait", d, steady(d), true, true),
			sdkLearnRow(t, "sdk-learned-polls-only", d, steady(d), false, false),
			sdkLearnRow(t, "sdk-mixed", d, mixed, true, false),
		)
		for _, iv := range []time.Duration{3 * time.Second, 5 * time.Second, 10 * time.Second, 20 * time.Second} {
			rows = append(rows, fixedLearnRow(iv, d, false), fixedLearnRow(iv, d, true))
		}
	}
	return rows
}

// TestPollScheduleLearns computes the table, keeps docs/data/poll-learning.csv
// current (-update rewrites it) and asserts the goals at every length.
func TestPollScheduleLearns(t *testing.T) {
	if testing.Short() || raceEnabled {
		// Thousands of simulated tasks on one goroutine: nothing for the
		// race detector, which makes them take minutes. CI runs it in its
		// coverage step, without -race.
		t.Skip("a long single-goroutine simulation; run without -race or -short")
	}
	rows := learnTable(t)
	logScheduleTable(t, rows)
	if *update {
		require.NoError(t, schedcsv.Write(learnCSV, rows))
	}
	committed, err := schedcsv.Read(learnCSV)
	require.NoError(t, err, "run: go test -run TestPollScheduleLearns -update .")
	require.Len(t, committed, len(rows), "run: go test -run TestPollScheduleLearns -update .")
	for i, want := range rows {
		assert.Equal(t, want.Schedule, committed[i].Schedule)
		assert.InDelta(t, want.Requests, committed[i].Requests, 1e-3, "row %d: run go test -run TestPollScheduleLearns -update .", i)
		assert.InDelta(t, want.NoticeDelay, committed[i].NoticeDelay, 1e-3, "row %d", i)
	}
	at := map[string]schedcsv.Row{}
	for _, r := range rows {
		at[r.Schedule+"/"+r.Duration.String()] = r
	}
	for _, d := range learnDurations {
		key := "/" + d.String()
		def, learned, sw, mixed, f3 := at["sdk-default"+key], at["sdk-learned"+key], at["sdk-learned-submit-wait"+key], at["sdk-mixed"+key], at["fixed-3s-poll-first"+key]
		pollsOnly := at["sdk-learned-polls-only"+key]
		t.Run(d.String(), func(t *testing.T) {
			assert.LessOrEqual(t, learned.NoticeDelay, 1.0, "steady: mean notice delay ≤ 1 s")
			assert.LessOrEqual(t, learned.Requests, def.Requests, "steady: no more GETs than the default schedule")
			assert.LessOrEqual(t, learned.Requests, f3.Requests, "never more GETs than a fixed 3 s loop")
			assert.InDelta(t, learned.Requests, sw.Requests, 0.25, "Submit + WaitForResult plans like Edit")
			assert.InDelta(t, learned.NoticeDelay, sw.NoticeDelay, 0.25, "Submit + WaitForResult plans like Edit")
			assert.LessOrEqual(t, mixed.Requests, def.Requests+1e-9, "mixed: no worse than the default")
			assert.LessOrEqual(t, mixed.NoticeDelay, def.NoticeDelay+1e-9, "mixed: no worse than the default")
			assert.LessOrEqual(t, pollsOnly.Requests, def.Requests+1e-9, "without timestamps: no more GETs than the default")
			assert.LessOrEqual(t, pollsOnly.NoticeDelay, def.NoticeDelay+1e-9, "without timestamps: no later than the default")
		})
	}
}
