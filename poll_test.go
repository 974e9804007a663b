package qwenedit

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sequence answers the given bodies in order, repeating the last one.
func sequence(bodies ...string) httpmock.Responder {
	n := 0
	return func(r *http.Request) (*http.Response, error) {
		b := bodies[min(n, len(bodies)-1)]
		n++
		return jsonResponder(200, b)(r)
	}
}

func TestWaitForResultSchedule(t *testing.T) {
	c, mt, clk := mockClient(t)
	mt.RegisterResponder(http.MethodGet, taskURL, sequence(pendingJS, runningJS, runningJS, runningJS, runningJS, runningJS, completeJS))
	var seen []TaskStatus
	task, err := c.WaitForResult(context.Background(), "task-1", WithOnPoll(func(t *Task) { seen = append(seen, t.Status) }))
	require.NoError(t, err)
	assert.Equal(t, []string{"https://assets.test/r/task-1/0.png"}, task.Images)
	assert.Equal(t, []TaskStatus{"pending", "processing", "processing", "processing", "processing", "processing", "completed"}, seen)
	// First poll at once (resume); then 3s growing by half (jitter 0.5 = none) up to the 10s cap.
	assert.Equal(t, []time.Duration{3 * time.Second, 4500 * time.Millisecond, 6750 * time.Millisecond, 10 * time.Second, 10 * time.Second, 10 * time.Second}, clk.Sleeps())
}

// TestPollIntervalAboveDefaultCapRaisesIt checks that WithPollInterval
// alone, above the default cap, means "poll every d" rather than an error,
// while an explicit cap below it is still refused.
func TestPollIntervalAboveDefaultCapRaisesIt(t *testing.T) {
	c, mt, clk := mockClient(t)
	mt.RegisterResponder(http.MethodGet, taskURL, sequence(runningJS, runningJS, runningJS, completeJS))
	_, err := c.WaitForResult(context.Background(), "task-1", WithPollInterval(30*time.Second))
	require.NoError(t, err)
	assert.Equal(t, []time.Duration{30 * time.Second, 30 * time.Second, 30 * time.Second}, clk.Sleeps())

	_, err = c.WaitForResult(context.Background(), "task-1", WithPollInterval(30*time.Second), WithMaxPollInterval(20*time.Second))
	assert.ErrorContains(t, err, "WithMaxPollInterval")
}

func TestPollJitterStaysWithinBounds(t *testing.T) {
	for _, j := range []float64{0, 0.999} {
		c, mt, clk := mockClient(t, WithJitter(func() float64 { return j }))
		mt.RegisterResponder(http.MethodGet, taskURL, sequence(runningJS, runningJS, runningJS, runningJS, runningJS, runningJS, completeJS))
		_, err := c.WaitForResult(context.Background(), "task-1", WithPollInterval(time.Second), WithMaxPollInterval(4*time.Second))
		require.NoError(t, err)
		for i, d := range clk.Sleeps() {
			assert.GreaterOrEqual(t, d, time.Second, "sleep %d", i)
			assert.LessOrEqual(t, d, 4*time.Second, "sleep %d", i)
		}
		if j == 0 {
			assert.Equal(t, time.Second, clk.Sleeps()[0], "jitter never goes under the minimum")
			assert.Equal(t, 1350*time.Millisecond, clk.Sleeps()[1], "-10%% of 1.5s")
		}
	}
}

func TestEditWaitsBeforeFirstPollAndReportsSubmission(t *testing.T) {
	c, mt, clk := mockClient(t)
	mt.RegisterResponder(http.MethodPost, submitURL, jsonResponder(202, pendingJS))
	mt.RegisterResponder(http.MethodGet, taskURL, sequence(completeJS))
	var submitted *TaskInfo
	task, err := c.Edit(context.Background(), validRequest(t), WithOnSubmitted(func(ti *TaskInfo) { submitted = ti }))
	require.NoError(t, err)
	require.NotNil(t, submitted)
	assert.Equal(t, "task-1", submitted.ID)
	assert.True(t, task.Status.IsSuccess())
	assert.Equal(t, []time.Duration{defaultPollInterval}, clk.Sleeps())
	assert.Equal(t, 1, mt.GetCallCountInfo()["POST "+submitURL])
}

func TestEditRejectsBadPollOptionsBeforeSubmitting(t *testing.T) {
	c, mt, _ := mockClient(t)
	for _, opt := range []PollOption{WithPollInterval(0), WithMaxPollInterval(time.Millisecond), WithMaxWait(-1)} {
		_, err := c.Edit(context.Background(), validRequest(t), opt)
		assert.Error(t, err)
		_, err = c.WaitForResult(context.Background(), "task-1", opt)
		assert.Error(t, err)
	}
	assert.Zero(t, mt.GetTotalCallCount())
}

func TestWaitForResultFailedTask(t *testing.T) {
	c, mt, _ := mockClient(t)
	mt.RegisterResponder(http.MethodGet, taskURL, sequence(runningJS, failedJS))
	task, err := c.WaitForResult(context.Background(), "task-1")
	assert.Nil(t, task)
	var failed *TaskFailedError
	require.ErrorAs(t, err, &failed)
	assert.ErrorIs(t, err, ErrTaskFailed)
	assert.Equal(t, "task-1", failed.TaskID)
	assert.Equal(t, 3001, failed.Code)
	assert.Equal(t, "Invalid Request", failed.Title)
	assert.Equal(t, "The prompt contains prohibited content", failed.Detail)
	require.NotNil(t, failed.Task)
	assert.Equal(t, statusFailed, failed.Task.Status)

	// Get itself reports a failed task without an error.
	got, err := c.Get(context.Background(), "task-1")
	require.NoError(t, err)
	assert.Equal(t, 3001, got.Error.Code)
}

func TestWaitForResultMaxWait(t *testing.T) {
	c, mt, clk := mockClient(t)
	mt.RegisterResponder(http.MethodGet, taskURL, sequence(runningJS))
	_, err := c.WaitForResult(context.Background(), "task-1", WithMaxWait(20*time.Second))
	var timeout *WaitTimeoutError
	require.ErrorAs(t, err, &timeout)
	assert.ErrorIs(t, err, ErrWaitTimeout)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, "task-1", timeout.TaskID)
	assert.Equal(t, statusProcessing, timeout.LastStatus)
	assert.Equal(t, 20*time.Second, timeout.Waited)
	// 0, 3, 7.5, 14.25 and then the last sleep is trimmed so the final poll lands on 20s exactly.
	assert.Equal(t, []time.Duration{3 * time.Second, 4500 * time.Millisecond, 6750 * time.Millisecond, 5750 * time.Millisecond}, clk.Sleeps())
	assert.Equal(t, 5, mt.GetTotalCallCount())
}

func TestWaitForResultKeepsPollingThroughTransientErrors(t *testing.T) {
	c, mt, _ := mockClient(t, WithMaxRetries(0))
	n := 0
	mt.RegisterResponder(http.MethodGet, taskURL, func(r *http.Request) (*http.Response, error) {
		n++
		switch n {
		case 1:
			return jsonResponder(503, `{}`)(r)
		case 2:
			return jsonResponder(429, `{}`)(r)
		case 3:
			return nil, errors.New("connection reset by peer")
		}
		return jsonResponder(200, completeJS)(r)
	})
	task, err := c.WaitForResult(context.Background(), "task-1")
	require.NoError(t, err)
	assert.True(t, task.Status.IsSuccess())
	assert.Equal(t, 4, n)
}

func TestWaitForResultStopsOnPermanentErrors(t *testing.T) {
	for status, sentinel := range map[int]error{401: ErrUnauthorized, 403: ErrForbidden, 404: ErrNotFound} {
		c, mt, _ := mockClient(t)
		mt.RegisterResponder(http.MethodGet, taskURL, sequence(runningJS))
		n := 0
		mt.RegisterResponder(http.MethodGet, taskURL, func(r *http.Request) (*http.Response, error) {
			n++
			if n == 1 {
				return jsonResponder(200, runningJS)(r)
			}
			return jsonResponder(status, `{"error_code":2005,"detail":"gone"}`)(r)
		})
		_, err := c.WaitForResult(context.Background(), "task-1")
		assert.ErrorIs(t, err, sentinel)
		assert.ErrorContains(t, err, "task-1")
		assert.Equal(t, 2, n, "status %d ends the wait at once", status)
	}
	c, mt, _ := mockClient(t)
	mt.RegisterResponder(http.MethodGet, taskURL, jsonResponder(200, `{"task_info":"x"}`))
	_, err := c.WaitForResult(context.Background(), "task-1")
	assert.ErrorIs(t, err, ErrUnexpectedResponse)
}

func TestWaitForResultUnknownStatusKeepsPolling(t *testing.T) {
	c, mt, _ := mockClient(t)
	mystery := `{"task_info":{"id":"task-1","status":"mystery"}}`
	mt.RegisterResponder(http.MethodGet, taskURL, sequence(mystery, mystery, completeJS))
	task, err := c.WaitForResult(context.Background(), "task-1")
	require.NoError(t, err)
	assert.True(t, task.Status.IsSuccess())
	assert.Equal(t, 3, mt.GetTotalCallCount())
}

func TestWaitForResultContext(t *testing.T) {
	t.Run("cancel", func(t *testing.T) {
		c, mt, _ := mockClient(t)
		ctx, cancel := context.WithCancel(context.Background())
		polls := 0
		mt.RegisterResponder(http.MethodGet, taskURL, func(r *http.Request) (*http.Response, error) {
			polls++
			if polls == 2 {
				cancel()
			}
			return jsonResponder(200, runningJS)(r)
		})
		_, err := c.WaitForResult(ctx, "task-1")
		assert.ErrorIs(t, err, context.Canceled)
		assert.ErrorContains(t, err, "task-1")
		var timeout *WaitTimeoutError
		assert.False(t, errors.As(err, &timeout))
		assert.Equal(t, 2, polls)
	})
	t.Run("deadline", func(t *testing.T) {
		c, mt, _ := mockClient(t)
		ctx, cancel := context.WithCancel(context.Background())
		ctx, cancelDL := context.WithDeadline(ctx, time.Now().Add(time.Hour))
		defer cancelDL()
		mt.RegisterResponder(http.MethodGet, taskURL, func(r *http.Request) (*http.Response, error) {
			return jsonResponder(200, runningJS)(r)
		})
		cancel() // a cancelled parent: ctx.Err is Canceled, not a timeout
		_, err := c.WaitForResult(ctx, "task-1")
		assert.ErrorIs(t, err, context.Canceled)
	})
	t.Run("expired deadline is a WaitTimeoutError", func(t *testing.T) {
		c, mt, _ := mockClient(t)
		mt.RegisterResponder(http.MethodGet, taskURL, sequence(runningJS))
		ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		defer cancel()
		_, err := c.WaitForResult(ctx, "task-1")
		var timeout *WaitTimeoutError
		require.ErrorAs(t, err, &timeout)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, "task-1", timeout.TaskID)
	})
}

// TestWaitErrorCarriesTheTaskID checks that every way a wait can end after
// the task exists names the task: a cancelled context and a poll that
// failed for good give a *WaitError with TaskID, through which errors.Is
// and errors.As still reach the cause.
func TestWaitErrorCarriesTheTaskID(t *testing.T) {
	c, mt, _ := mockClient(t)
	mt.RegisterResponder(http.MethodPost, submitURL, jsonResponder(202, pendingJS))
	mt.RegisterResponder(http.MethodGet, taskURL, jsonResponder(404, `{"error_code":2005,"detail":"Task task-1 does not exist"}`))
	_, err := c.Edit(context.Background(), validRequest(t))
	var werr *WaitError
	require.ErrorAs(t, err, &werr)
	assert.Equal(t, "task-1", werr.TaskID)
	assert.ErrorIs(t, err, ErrNotFound)
	assert.Contains(t, err.Error(), "task-1")

	// The caller gives up while the task runs: once the poller has seen
	// it "processing". (Cancelling inside the responder raced net/http,
	// which may report the cancellation instead of the answer.)
	ctx, cancel := context.WithCancel(context.Background())
	mt.RegisterResponder(http.MethodGet, taskURL, jsonResponder(200, runningJS))
	_, err = c.Edit(ctx, validRequest(t), WithOnPoll(func(*Task) { cancel() }))
	require.ErrorAs(t, err, &werr)
	assert.Equal(t, "task-1", werr.TaskID)
	assert.Equal(t, statusProcessing, werr.LastStatus)
	assert.ErrorIs(t, err, context.Canceled)
}

// TestPollingSurvivesEveryTemporaryStatus checks that the poller keeps
// going through any 5xx (a CDN's 522, a 501), 408, 425 and 429.
func TestPollingSurvivesEveryTemporaryStatus(t *testing.T) {
	c, mt, _ := mockClient(t, WithMaxRetries(0))
	mt.RegisterResponder(http.MethodGet, taskURL, httpmock.ResponderFromMultipleResponses([]*http.Response{
		httpmock.NewStringResponse(522, `<html>origin timeout</html>`),
		httpmock.NewStringResponse(501, `{"detail":"x"}`),
		httpmock.NewStringResponse(425, `{"detail":"x"}`),
		httpmock.NewStringResponse(200, completeJS),
	}))
	task, err := c.WaitForResult(context.Background(), "task-1")
	require.NoError(t, err)
	assert.True(t, task.Status.IsSuccess())
	assert.Equal(t, 4, mt.GetTotalCallCount())
}

// TestMaxWaitBoundsAHangingPoll checks that a poll which hangs (retries
// and all) cannot stretch the wait far past WithMaxWait: it is cut at the
// deadline plus the grace, and the result is a *WaitTimeoutError.
func TestMaxWaitBoundsAHangingPoll(t *testing.T) {
	c, mt, _ := mockClient(t, WithMaxWaitGrace(20*time.Millisecond))
	mt.RegisterResponder(http.MethodGet, taskURL, func(r *http.Request) (*http.Response, error) {
		<-r.Context().Done() // never answers
		return nil, r.Context().Err()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a hang fails the test instead of blocking it
	defer cancel()
	_, err := c.WaitForResult(ctx, "task-1", WithMaxWait(50*time.Millisecond))
	var timeout *WaitTimeoutError
	require.ErrorAs(t, err, &timeout)
	assert.Equal(t, "task-1", timeout.TaskID)
	assert.NoError(t, ctx.Err(), "the wait ended by its own deadline, not the test's")
}

// TestFirstSleepEndsByTheDeadline checks that Edit's first wait is trimmed
// to the maximum wait like every later one.
func TestFirstSleepEndsByTheDeadline(t *testing.T) {
	c, mt, clk := mockClient(t)
	mt.RegisterResponder(http.MethodPost, submitURL, jsonResponder(202, pendingJS))
	mt.RegisterResponder(http.MethodGet, taskURL, jsonResponder(200, runningJS))
	_, err := c.Edit(context.Background(), validRequest(t), WithPollInterval(time.Minute), WithMaxWait(10*time.Second))
	require.ErrorIs(t, err, ErrWaitTimeout)
	assert.Equal(t, []time.Duration{10 * time.Second}, clk.Sleeps())
	assert.Equal(t, 1, mt.GetCallCountInfo()["GET "+taskURL], "one last poll at the deadline")
}

// TestPollIntervalWithoutAUnitIsRefused checks that WithPollInterval(3)
// (3 ns, a missing time.Second) is an error, not a hot loop.
func TestPollIntervalWithoutAUnitIsRefused(t *testing.T) {
	c, mt, _ := mockClient(t)
	_, err := c.WaitForResult(context.Background(), "task-1", WithPollInterval(3))
	assert.ErrorContains(t, err, "missing time unit")
	assert.Zero(t, mt.GetTotalCallCount())
}
