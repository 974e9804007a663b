package qwenedit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/seed-b62e15c8/qwenedit/internal/schedule"
)

// Poll schedule defaults. The first poll comes one minimum interval after the
// submit, then the interval grows by half each time (±10 % jitter) up to the
// maximum; internal/schedule plans it, and learns from past tasks. Against
// the vendor's example (a fixed 5 s loop) and the official CLI (fixed 20 s)
// this sends fewer requests than the first and notices a finished task
// sooner than the second, for tasks of 5 s to 10 min; see BENCHMARKS.md for
// the numbers.
const (
	defaultPollInterval    = 3 * time.Second
	defaultMaxPollInterval = 10 * time.Second
	defaultMaxWait         = 15 * time.Minute
)

// PollOption configures WaitForResult and Edit.
type PollOption func(*pollConfig)

type pollConfig struct {
	minInterval time.Duration
	maxInterval time.Duration
	maxSet      bool // WithMaxPollInterval was given
	custom      bool // WithPollInterval or WithMaxPollInterval was given: no learning
	maxWait     time.Duration
	onPoll      func(*Task)
	onSubmitted func(*TaskInfo)
}

// WithPollInterval sets the first (and smallest) wait between polls (default
// 3 s). Above the default cap, and without WithMaxPollInterval, it also
// raises the cap: the polls come every d.
func WithPollInterval(d time.Duration) PollOption {
	return func(p *pollConfig) { p.minInterval, p.custom = d, true }
}

// WithMaxPollInterval caps the wait between polls (default 10 s).
func WithMaxPollInterval(d time.Duration) PollOption {
	return func(p *pollConfig) { p.maxInterval, p.maxSet, p.custom = d, true, true }
}

// WithMaxWait sets how long to wait for a task before giving up with a
// *WaitTimeoutError (default 15 minutes); 0 waits until the context ends.
// The task itself is not cancelled. A poll under way at the deadline gets
// at most 10 s more to be answered.
func WithMaxWait(d time.Duration) PollOption {
	return func(p *pollConfig) { p.maxWait = d }
}

// WithOnPoll calls fn with every status the poller sees, from the polling
// goroutine; keep it quick.
func WithOnPoll(fn func(*Task)) PollOption {
	return func(p *pollConfig) { p.onPoll = fn }
}

// WithOnSubmitted makes Edit call fn with the new task before it starts to
// wait, so the caller can store the ID and resume with WaitForResult after a
// crash or timeout. WaitForResult ignores it.
func WithOnSubmitted(fn func(*TaskInfo)) PollOption {
	return func(p *pollConfig) { p.onSubmitted = fn }
}

// minPollInterval is the smallest WithPollInterval accepted.
const minPollInterval = time.Millisecond

func newPollConfig(opts []PollOption) (pollConfig, error) {
	p := pollConfig{
		minInterval: defaultPollInterval,
		maxInterval: defaultMaxPollInterval,
		maxWait:     defaultMaxWait,
	}
	for _, opt := range opts {
		if opt != nil {
			opt(&p)
		}
	}
	if !p.maxSet && p.minInterval > p.maxInterval {
		// WithPollInterval(30*time.Second) alone means "poll every 30 s",
		// not an error about a cap the caller never set.
		p.maxInterval = p.minInterval
	}
	switch {
	case p.minInterval < minPollInterval:
		// 3 instead of 3*time.Second would poll in a hot loop for 15 minutes.
		return p, fmt.Errorf("qwenedit: WithPollInterval: %s is below %s (a missing time unit?)", p.minInterval, minPollInterval)
	case p.maxInterval < p.minInterval:
		return p, fmt.Errorf("qwenedit: WithMaxPollInterval: %s is below the poll interval %s", p.maxInterval, p.minInterval)
	case p.maxWait < 0:
		return p, fmt.Errorf("qwenedit: WithMaxWait: %s is negative", p.maxWait)
	}
	return p, nil
}

// WaitForResult polls the task until it finishes, the maximum wait passes or
// ctx ends. For a task this Client submitted, the first poll comes when the
// schedule says (see internal/schedule); for any other, at once, so that it also
// resumes a wait cut short, say after a restart.
//
// It returns the task when it succeeded. Otherwise it returns one of:
//   - *TaskFailedError: the task failed (errors.Is ErrTaskFailed);
//   - *WaitTimeoutError: the maximum wait or ctx's deadline passed while the
//     task was still running (errors.Is ErrWaitTimeout and
//     context.DeadlineExceeded);
//   - *WaitError: anything else ended the wait: ctx was cancelled
//     (errors.Is context.Canceled), a poll failed for good (401, 403, 404:
//     the *APIError is inside), or an answer was about another task or said
//     "completed" with no result URL (errors.Is ErrUnexpectedResponse);
//   - before any request: a *ValidationError for a taskID that is empty,
//     "." or "..", or an error naming an invalid poll option.
//
// Each of the first three carries the task ID. Transient errors (network,
// 408, 425, 429, 5xx) keep it polling.
func (c *Client) WaitForResult(ctx context.Context, taskID string, opts ...PollOption) (*Task, error) {
	if _, err := c.taskPath(taskID); err != nil {
		return nil, err
	}
	pc, err := newPollConfig(opts)
	if err != nil {
		return nil, err
	}
	submitted, _ := c.tasks.SubmittedAt(strings.TrimSpace(taskID))
	return c.wait(ctx, taskID, pc, submitted, false)
}

// Edit submits req and waits for the result: Submit, then WaitForResult,
// with their errors: before a task exists, those of Submit (a
// *ValidationError, an *APIError, an *AmbiguousSubmitError, ...); after,
// those of WaitForResult, each naming the task. Pass WithOnSubmitted to
// learn the task ID as soon as it exists.
func (c *Client) Edit(ctx context.Context, req *EditRequest, opts ...PollOption) (*Task, error) {
	pc, err := newPollConfig(opts) // checked first: a bad option must not cost a task
	if err != nil {
		return nil, err
	}
	info, err := c.Submit(ctx, req)
	if err != nil {
		return nil, err
	}
	if pc.onSubmitted != nil {
		pc.onSubmitted(info)
	}
	if info.Status.IsFailure() {
		return nil, newTaskFailedError(&Task{TaskInfo: *info})
	}
	submitted, _ := c.tasks.SubmittedAt(info.ID) // recorded by Submit
	// A task done at once has its results in the first GET: poll now.
	return c.wait(ctx, info.ID, pc, submitted, info.Status.IsSuccess())
}

// pollState is what the poll loop knows so far.
type pollState struct {
	taskID     string
	start      time.Time
	last       TaskStatus
	lastErr    error
	retryAfter time.Duration // the wait the last failed poll's answer asked for
	polls      int
	pendingAt  time.Time // when the last GET whose answer said "not done" was sent
}

// retryAfterOf is the Retry-After of an API error, 0 for other errors.
func retryAfterOf(err error) time.Duration {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.RetryAfter
	}
	return 0
}

// wait polls taskID until it finishes. submitted is when this Client
// created the task (zero when it did not: the first poll is then at once,
// which also resumes a wait cut short); pollNow polls at once anyway.
func (c *Client) wait(ctx context.Context, taskID string, pc pollConfig, submitted time.Time, pollNow bool) (*Task, error) {
	clk := c.cfg.clock
	st := &pollState{taskID: taskID, start: clk.Now(), pendingAt: submitted}
	var deadline time.Time
	if pc.maxWait > 0 {
		deadline = st.start.Add(pc.maxWait)
	}
	// Learning cannot place a task of unknown age in its window; such a
	// wait counts from its own start.
	sched := c.newSchedule(pc, !submitted.IsZero())
	origin, delay := submitted, time.Duration(0)
	if submitted.IsZero() {
		origin = st.start
	} else if !pollNow {
		delay = sched.First(st.start.Sub(submitted))
	}
	for {
		if !deadline.IsZero() {
			// Every sleep, the first included, ends by the deadline; then
			// comes one last poll.
			delay = min(delay, max(deadline.Sub(clk.Now()), 0))
		}
		if delay > 0 {
			if err := clk.Sleep(ctx, delay); err != nil {
				return nil, c.waitStopped(ctx, st)
			}
		}
		task, done, err := c.pollOnce(ctx, st, pc, deadline)
		if done {
			if err == nil {
				c.learn(task, st, submitted)
			}
			return task, err
		}
		if now := clk.Now(); !deadline.IsZero() && !now.Before(deadline) {
			return nil, st.timeout(now)
		}
		// A server that asked for a pause (429 or 503 with Retry-After)
		// gets at least that; the deadline still cuts the sleep short.
		delay = max(sched.Next(clk.Now().Sub(origin)), st.retryAfter)
	}
}

// newSchedule plans one wait; learn is false for a task whose age is not
// known, and an explicit poll interval turns learning off too.
func (c *Client) newSchedule(pc pollConfig, learn bool) *schedule.Schedule {
	var h *schedule.History
	if learn && !pc.custom {
		h = c.tasks
	}
	return schedule.New(pc.minInterval, pc.maxInterval, c.cfg.jitter, h)
}

// learn records how long a successful task took (see
// schedule.History.Learn), as far as this Client saw it: a task it
// submitted, last seen unfinished by the GET sent at pendingAt and seen
// finished now, took between those two offsets from the submit; the
// server's timestamps refine the value inside that bracket. A task this
// Client did not submit is not learned: nothing bounds how long it took.
func (c *Client) learn(task *Task, st *pollState, submitted time.Time) {
	if submitted.IsZero() {
		return
	}
	c.tasks.Learn(st.pendingAt.Sub(submitted), c.cfg.clock.Now().Sub(submitted), serverDuration(task))
}

// serverDuration is updated_at − created_at, or 0 when either is missing
// (History.Learn uses only a positive one).
func serverDuration(task *Task) time.Duration {
	if task.CreatedAt.IsZero() || task.UpdatedAt.IsZero() {
		return 0
	}
	return task.UpdatedAt.Sub(task.CreatedAt)
}

// maxWaitGrace is how long a poll under way may run past the maximum wait:
// enough for one answer, far less than a poll's retries could take.
const maxWaitGrace = 10 * time.Second

// pollCtx bounds one poll, retries included, by the maximum wait (plus
// maxWaitGrace, so that the last poll at the deadline can be answered).
func (c *Client) pollCtx(ctx context.Context, deadline time.Time) (context.Context, context.CancelFunc) {
	if deadline.IsZero() {
		return ctx, func() {}
	}
	// The deadline is on the client's clock; contexts run on the wall clock.
	left := addSat(max(deadline.Sub(c.cfg.clock.Now()), 0), c.cfg.maxWaitGrace)
	return context.WithTimeout(ctx, left)
}

// pollOnce does one GET; done reports that the wait is over (with task or err).
func (c *Client) pollOnce(ctx context.Context, st *pollState, pc pollConfig, deadline time.Time) (*Task, bool, error) {
	st.polls++
	sent := c.cfg.clock.Now() // the server saw the task unfinished at or after this
	pctx, cancel := c.pollCtx(ctx, deadline)
	defer cancel()
	task, err := c.get(pctx, st.taskID, true)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return nil, true, c.waitStopped(ctx, st)
		case pctx.Err() != nil:
			st.lastErr = err
			return nil, true, st.timeout(c.cfg.clock.Now())
		case !isTransient(err):
			c.log(ctx, slog.LevelWarn, "qwenedit: poll failed", slog.String("task_id", st.taskID), slog.Int("poll", st.polls), slog.String("error", err.Error()))
			return nil, true, &WaitError{TaskID: st.taskID, LastStatus: st.last, Err: err}
		}
		st.lastErr = err
		st.retryAfter = retryAfterOf(err)
		c.log(ctx, slog.LevelInfo, "qwenedit: poll failed, will poll again", slog.String("task_id", st.taskID), slog.Int("poll", st.polls), slog.String("error", err.Error()))
		return nil, false, nil
	}
	st.last, st.lastErr, st.retryAfter = task.Status, nil, 0
	if !task.Status.IsTerminal() {
		st.pendingAt = sent
	}
	c.log(ctx, slog.LevelDebug, "qwenedit: poll", slog.String("task_id", st.taskID), slog.Int("poll", st.polls), slog.String("status", string(task.Status)))
	if pc.onPoll != nil {
		pc.onPoll(task)
	}
	switch {
	case task.Status.IsSuccess() && len(task.Images) == 0:
		err := fmt.Errorf("%w: task %s reported %q but no result images", ErrUnexpectedResponse, st.taskID, task.Status)
		return nil, true, &WaitError{TaskID: st.taskID, LastStatus: st.last, Err: err}
	case task.Status.IsSuccess():
		return task, true, nil
	case task.Status.IsFailure():
		c.log(ctx, slog.LevelWarn, "qwenedit: task failed", slog.String("task_id", st.taskID))
		return nil, true, newTaskFailedError(task)
	}
	return nil, false, nil
}

// waitStopped is the error for a wait ended by ctx.
func (c *Client) waitStopped(ctx context.Context, st *pollState) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return st.timeout(c.cfg.clock.Now())
	}
	return &WaitError{TaskID: st.taskID, LastStatus: st.last, Err: ctx.Err()}
}

func (st *pollState) timeout(now time.Time) *WaitTimeoutError {
	return &WaitTimeoutError{TaskID: st.taskID, LastStatus: st.last, Waited: now.Sub(st.start), LastErr: st.lastErr}
}
