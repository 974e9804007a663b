package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/seed-b62e15c8/qwenedit"
)

// stagingDir, inside -out, receives results before they are renamed after their input.
const stagingDir = ".incoming"

// batch is one run of the batch command over a folder or a manifest.
type batch struct {
	client  *qwenedit.Client
	once    *qwenedit.Client // submits and waits, without retries of its own (see backend.once)
	journal *journal
	opts    *batchOptions
	src     *source           // what is edited
	taken   map[string]string // the images in -out before the run, by lower-case stem
	server  string
	fake    bool // server is the built-in fake, whose tasks end with this run
	x       *explainer
	prog    *batchProgress
	saveMu  sync.Mutex // one result moved into -out at a time, so that none replaces another
	up      *uploads   // the submits on the wire, for the first Ctrl-C
	slots   *slots     // the tasks running on the server, within the account's limit

	keyOnce sync.Once // the key is checked before the first paid submit
	keyErr  error
}

// keyChecked checks the key with a free request before the first submit
// of a run against MuleRouter (see verifyKey), once.
func (b *batch) keyChecked(ctx context.Context) error {
	if b.fake {
		return nil
	}
	b.keyOnce.Do(func() { b.keyErr = verifyKey(quiet(ctx), b.client) })
	return b.keyErr
}

// outcome is what became of one input file (or manifest line) in this run.
type outcome struct {
	file    string // the job's: the name inside -in, or the manifest line's out name
	line    int    // the manifest line, 0 for a file of -in
	state   state
	taskID  string
	outputs []string // names inside -out
	err     error
	msg     string // err, worded for the user
	next    string // what the next run will do about it
	stop    bool   // err must stop the whole batch (besides a rejected key or an empty balance)
	byFake  bool   // skipped: saved by the built-in fake server, though this run is not
	unknown bool   // a submit's outcome is unknown (this run's, or a run's that died while submitting)
}

// label names the outcome's file, or manifest line, for the user.
func (o *outcome) label() string { return label(o.file, o.line) }

// label names a file of -in, or a manifest line by its number and out name.
func label(file string, line int) string {
	if line == 0 {
		return file
	}
	return fmt.Sprintf("line %d (%s)", line, file)
}

// pending says why a resumable file is not done and what the next run does.
func (o *outcome) pending() string {
	if o.taskID == "" {
		return o.next
	}
	return "task " + o.taskID + " " + o.next
}

type state int

const (
	edited    state = iota // saved by this run
	skipped                // saved by an earlier run
	failed                 // this run could not do it
	resumable              // interrupted or still running on the server: the next run picks it up
)

// String is the state as -json names it.
func (s state) String() string {
	return [...]string{"edited", "skipped", "failed", "resumable"}[s]
}

// job is one file, or manifest line, to work on.
type job struct {
	file    string   // the journal's key: the name inside -in, or the manifest line's out name
	line    int      // the manifest line, 0 for a file of -in
	edit    editSpec // what to submit
	sum     string   // SHA-256 of the file's content, or of the manifest line's identity (see lineSum)
	stem    string   // results are stem.png, or stem_1.png, ...
	taskID  string   // a task of an earlier run to wait for, instead of submitting
	problem error    // found while listing -in (a dangling link): reported, never submitted
}

// editSpec is the request of a job, as the user gave it.
type editSpec struct {
	images []string // paths or http(s) URLs
	prompt string
	fields requestFields
}

// label names the job for the user.
func (jb job) label() string { return label(jb.file, jb.line) }

// request builds jb's request. Its images and fields were checked before
// the first submit (a manifest's) or are a file and the flags.
func (jb job) request() (*qwenedit.EditRequest, error) {
	return newRequest(jb.edit.images, jb.edit.prompt, jb.edit.fields, "size")
}

// plan decides, from the file's content and its last record, what to do
// with it: a job (to submit it, or to follow an earlier task), or, if
// there is nothing to do or it must be left alone, its outcome.
func (b *batch) plan(jb job, last map[string]record) (job, *outcome) {
	if jb.problem != nil {
		return jb, b.refuse(jb, jb.problem, "fix or remove the link")
	}
	if jb.sum == "" {
		sum, err := fileSum(jb.edit.images[0])
		if err != nil {
			return jb, b.refuse(jb, fmt.Errorf("read: %w", err), "fix or remove the file")
		}
		jb.sum = sum
	}
	sum := jb.sum
	r, ok := last[jb.file]
	switch {
	case !ok, r.Status == statusFailed:
		// Nothing to follow: submit.
	case r.SHA256 != sum:
		if r.Status == statusSaved && b.allExist(r.Outputs) {
			return jb, b.refuse(jb, fmt.Errorf("changed since its result %s was saved (task %s)", strings.Join(r.Outputs, ", "), r.TaskID),
				"not submitted, so as not to replace that result: move it out of "+b.opts.out+" to edit the new content, or use another -out")
		}
		b.prog.logf("%s: changed since its earlier task %s: it is a new %s", jb.label(), r.TaskID, b.src.what())
	case r.Status == statusSaved && b.allExist(r.Outputs):
		return jb, b.skip(jb, r)
	case (r.Status == statusSaved || r.Status == statusSubmitted) && r.followable(b.server):
		jb.taskID = r.TaskID // waited for, or downloaded again if its results were removed
		return jb, nil
	case r.Status == statusSubmitted || r.Status == statusUnknown || r.Status == statusSubmitting:
		if !b.opts.resubmitUnknown {
			return jb, b.refuseUnfollowable(jb, r)
		}
	default:
		// Saved, its results removed, on a server that is not this one: submit.
	}
	for _, stem := range resultStems(jb.stem, jb.edit.fields.results()) {
		if name, ok := b.taken[strings.ToLower(stem)]; ok {
			return jb, b.refuse(jb, fmt.Errorf("%s is already in %s, and was not made from this %s as it is now", name, b.opts.out, b.src.what()),
				"not submitted, so as not to replace it: move it away, or use another -out")
		}
	}
	return jb, nil
}

// refuseUnfollowable is the outcome of a file whose task, submitted or
// with an unknown outcome, cannot be waited for from this run. A submit
// journaled as starting, with no answer after it, is an unknown outcome:
// the run died while it was on its way, maybe after the task was created.
func (b *batch) refuseUnfollowable(jb job, r record) *outcome {
	if r.Server == b.server {
		why := "an earlier submit had an unknown outcome"
		if r.Status == statusSubmitting {
			why = "an earlier run stopped while submitting it, before its answer was journaled, so its outcome is unknown"
		}
		out := b.refuse(jb, errors.New(why+": a task may exist and be charged"),
			"check your MuleRouter dashboard, then rerun with -resubmit-unknown to submit it again (you may pay twice)")
		out.unknown = true
		return out
	}
	what := "task " + r.TaskID + " was submitted"
	if r.Status != statusSubmitted {
		what = "an earlier submit, with an unknown outcome, went"
	}
	here := "this one (" + b.server + ")"
	if b.fake {
		here = "the built-in fake server"
	}
	return b.refuse(jb, fmt.Errorf("%s to %s, not to %s: a task there cannot be followed from here", what, r.Server, here),
		"run against "+r.Server+" to resume it, or rerun with -resubmit-unknown to submit it again here (you may pay twice)")
}

// skip is the outcome of a file saved by an earlier run.
func (b *batch) skip(jb job, r record) *outcome {
	out := &outcome{file: jb.file, line: jb.line, state: skipped, taskID: r.TaskID, outputs: r.Outputs, byFake: r.BuiltinFake && !b.fake}
	by := ""
	if out.byFake {
		by = " by the built-in fake server (delete it to have it edited for real)"
	}
	b.prog.skipped("%s: already saved as %s%s", jb.label(), strings.Join(r.Outputs, ", "), by)
	return out
}

// refuse is the outcome of a file left alone, with why and what to do.
func (b *batch) refuse(jb job, err error, next string) *outcome {
	b.prog.started()
	b.prog.ended(failed, "%s: %v (%s)", jb.label(), err, next)
	return &outcome{file: jb.file, line: jb.line, state: failed, err: err, msg: err.Error(), next: next}
}

// process submits one file (or takes the task of an earlier run), waits for
// it and saves its results, writing each step into the journal. The submit
// runs under ctx, which ends only when the batch is aborted; the rest
// under work, which the first Ctrl-C ends too.
func (b *batch) process(ctx, work context.Context, jb job) outcome {
	out := outcome{file: jb.file, line: jb.line, taskID: jb.taskID}
	if err := work.Err(); err != nil {
		return notStarted(jb, err)
	}
	if out.taskID == "" {
		submitted, ok := b.submit(ctx, work, jb)
		if !ok {
			return submitted
		}
		out.taskID = submitted.taskID
	} else {
		// A task of an earlier run runs on the server too: it takes a slot.
		if err := b.slots.acquire(work); err != nil {
			return notStarted(jb, err)
		}
		b.prog.logf("%s: resuming task %s from an earlier run (not submitted again)", jb.label(), out.taskID)
	}

	task, err := b.once.WaitForResult(work, out.taskID, b.opts.wait.options(b.fake)...)
	b.slots.finished()
	if err != nil {
		return b.waitFailed(jb, out, err)
	}

	outputs, err := b.save(work, task, jb.stem)
	if err != nil {
		return b.saveFailed(work, jb, out, err)
	}
	out.state, out.outputs = edited, outputs
	r := b.record(jb, out.taskID, statusSaved)
	r.Outputs = outputs
	if err := b.journal.append(r); err != nil {
		b.prog.warnf("%s: saved but not journaled (%v): the next run downloads it again", jb.label(), err)
	}
	return out
}

// submit creates jb's task, journaled ahead: a "submitting" record, synced,
// before the request leaves, and the task ID when the answer comes, so
// that a run killed in between leaves a record that keeps the next run
// from paying twice. It returns the outcome with the task ID and true, or
// the file's outcome and false. Nothing starts after the first Ctrl-C; a
// submit already on its way runs under ctx to its end.
func (b *batch) submit(ctx, work context.Context, jb job) (outcome, bool) {
	out := outcome{file: jb.file, line: jb.line}
	req, err := jb.request()
	if err == nil {
		err = req.Validate()
	}
	// Refused before anything is sent: no record, as nothing can exist.
	if err != nil {
		return b.submitFailed(jb, out, err, false), false
	}
	if err := b.keyChecked(work); err != nil {
		return b.submitFailed(jb, out, err, false), false
	}
	for {
		// The request is built and checked already: it leaves the moment
		// a slot frees.
		if err := b.slots.acquire(work); err != nil {
			return notStarted(jb, err), false
		}
		info, err := b.submitOnce(ctx, jb, req)
		if retryAfter, limited := rateLimited(err); limited {
			// Refused at the account's limit: nothing was created. The
			// file waits for a slot, however long the batch runs.
			b.slots.release()
			b.clearAhead(jb, &outcome{msg: "refused at the account's limit of running tasks (429)"})
			switch limit, changed, idle := b.slots.refused(retryAfter); {
			case idle > 0:
				b.prog.warnf("%s: refused with 429 while none of this batch's tasks run (a quota or spend limit?): trying again in %s, Ctrl-C to stop",
					jb.label(), max(idle, retryAfter).Round(time.Second))
			case changed:
				b.prog.limit(limit)
			}
			continue
		}
		if err != nil {
			b.slots.release()
			switch {
			case errors.Is(err, errInterrupted):
				return notStarted(jb, err), false
			case errors.As(err, new(journalAheadError)):
				return notJournaledAhead(out, err), false
			}
			return b.submitFailed(jb, out, err, true), false
		}
		b.slots.accept()
		return b.submitted(jb, out, info)
	}
}

// journalAheadError is the failure to write the "submitting" record:
// nothing was sent.
type journalAheadError struct{ err error }

func (e journalAheadError) Error() string { return e.err.Error() }
func (e journalAheadError) Unwrap() error { return e.err }

// submitOnce journals that jb's submit starts, then submits req. It fails
// with an error matching errInterrupted after the first Ctrl-C, and a
// journalAheadError when the journal cannot record the start.
func (b *batch) submitOnce(ctx context.Context, jb job, req *qwenedit.EditRequest) (*qwenedit.TaskInfo, error) {
	if !b.up.start() {
		return nil, errInterrupted
	}
	defer b.up.done()
	if err := b.journal.append(b.record(jb, "", statusSubmitting)); err != nil {
		return nil, journalAheadError{err}
	}
	info, err := b.once.Submit(ctx, req)
	if createdNothingYet(err) {
		// Not an answer but a failure before the request went out: the
		// SDK's own retry rule decides whether to try again.
		info, err = b.client.Submit(ctx, req)
	}
	return info, err
}

// createdNothingYet reports a submit that failed before the server could
// make anything of it, and without an answer: a network failure before
// the request was sent. An answer (an *APIError, 429 included, which the
// slots handle), a submit that may have made a task, a refused request
// and an ended context are not.
func createdNothingYet(err error) bool {
	var (
		amb    *qwenedit.AmbiguousSubmitError
		apiErr *qwenedit.APIError
	)
	return err != nil && !errors.As(err, &amb) && !errors.As(err, &apiErr) && !ctxDone(err) &&
		!errors.Is(err, qwenedit.ErrInvalidRequest) && !errors.Is(err, qwenedit.ErrImageSource)
}

// rateLimited reports a submit refused with 429, and the wait the server
// asked for.
func rateLimited(err error) (retryAfter time.Duration, ok bool) {
	var apiErr *qwenedit.APIError
	if errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusTooManyRequests {
		return apiErr.RetryAfter, true
	}
	return 0, false
}

// submitted journals the task ID of jb's accepted submit, before any wait.
// The slot stays taken until the task has finished.
func (b *batch) submitted(jb job, out outcome, info *qwenedit.TaskInfo) (outcome, bool) {
	out.taskID = info.ID
	// Journal the ID before waiting: from now on the task is paid for, and
	// the next run must wait for it, not report an unknown outcome.
	if err := b.journal.append(b.record(jb, info.ID, statusSubmitted)); err != nil {
		return notJournaled(out, fmt.Errorf("task %s was submitted but could not be journaled: %w", info.ID, err)), false
	}
	b.prog.logf("%s: submitted as task %s", jb.label(), info.ID)
	return out, true
}

// notJournaled is the outcome of a file whose task may exist but whose
// outcome is not in the journal: the batch stops, since every other submit
// could end the same way. The journal records that its submit started, so
// the next run reports its outcome as unknown and does not submit it again.
func notJournaled(out outcome, err error) outcome {
	out.state, out.err, out.msg, out.stop, out.unknown = failed, err, clean(err.Error()), true, true
	out.next = "the journal records only that its submit started: the next run reports an unknown outcome and does not submit it again; make room for the journal, and check your MuleRouter dashboard"
	return out
}

// notJournaledAhead is the outcome of a file not submitted because the
// journal could not record that its submit was starting: the batch stops,
// since every other submit would fail the same way.
func notJournaledAhead(out outcome, err error) outcome {
	err = fmt.Errorf("not submitted, as the journal could not record that its submit starts: %w", err)
	out.state, out.err, out.msg, out.stop = failed, err, clean(err.Error()), true
	out.next = "nothing was sent: make room for the journal, then run again"
	return out
}

// notStarted is the outcome of a file the batch was stopped before.
func notStarted(jb job, err error) outcome {
	out := outcome{file: jb.file, line: jb.line, state: resumable, taskID: jb.taskID, err: err, msg: "interrupted", next: "not started: the next run does it"}
	if jb.taskID != "" {
		out.next = "was not waited for: the next run waits for it, without a new task"
	}
	return out
}

// submitFailed is the outcome of a failed submit. ahead says that its start
// was journaled: then the journal must say how it ended, unknown if a task
// may exist (the next run leaves it alone), or failed if none can (any
// error of Submit but an *AmbiguousSubmitError: the next run submits it).
func (b *batch) submitFailed(jb job, out outcome, err error, ahead bool) outcome {
	out.state, out.err, out.msg = failed, err, "submit: "+b.x.message(err)
	var amb *qwenedit.AmbiguousSubmitError
	if errors.As(err, &amb) {
		// A task may exist. Say so in the journal so that the next run does
		// not submit it blindly: paying twice is the one thing to avoid.
		out.unknown = true
		r := b.record(jb, "", statusUnknown)
		r.Error = out.msg
		if jerr := b.journal.append(r); jerr != nil {
			return notJournaled(out, fmt.Errorf("%s; and this could not be journaled: %w", out.msg, jerr))
		}
		out.next = "a task may exist and be charged: check your MuleRouter dashboard, then rerun with -resubmit-unknown to submit it again (you may pay twice)"
		return out
	}
	switch {
	case ctxDone(err):
		out.state, out.next = resumable, "not submitted: the next run does it"
	case errors.Is(err, qwenedit.ErrInvalidRequest):
		out.next = "the image or prompt was refused before any task was created: fix or remove the " + b.src.what()
	default:
		out.next = "nothing was created: the next run submits it again"
	}
	if ahead {
		b.clearAhead(jb, &out)
	}
	return out
}

// clearAhead journals that a submit whose start was journaled created no
// task, so that the next run submits the file again instead of reporting
// an unknown outcome.
func (b *batch) clearAhead(jb job, out *outcome) {
	r := b.record(jb, "", statusFailed)
	r.Error = out.msg
	if jerr := b.journal.append(r); jerr != nil {
		b.prog.warnf("%s: %v", jb.label(), jerr)
		out.next = "nothing was created, but the journal could not record it: the next run reports an unknown outcome; rerun with -resubmit-unknown to submit it again (no task exists)"
	}
}

func (b *batch) waitFailed(jb job, out outcome, err error) outcome {
	out.state, out.err, out.msg = failed, err, b.x.message(err)
	if !strings.Contains(out.msg, out.taskID) {
		out.msg = "task " + out.taskID + ": " + out.msg
	}
	var timeout *qwenedit.WaitTimeoutError
	switch {
	case errors.Is(err, qwenedit.ErrTaskFailed):
		b.journalFailure(jb, out.taskID, out.msg)
		out.next = "the next run submits it again"
	case errors.Is(err, qwenedit.ErrNotFound):
		// The task is gone (its 24 hours are over): its results cannot be had.
		b.journalFailure(jb, out.taskID, out.msg)
		out.next = "the task is unknown to the server: the next run submits it again"
	case errors.As(err, &timeout), ctxDone(err):
		out.state, out.next = resumable, "is still running on the server: the next run waits for it, without a new task"
	default:
		out.next = "the next run waits for the same task again, without a new one"
	}
	return out
}

func (b *batch) saveFailed(ctx context.Context, jb job, out outcome, err error) outcome {
	err = saveCause(err)
	out.state, out.err = failed, err
	out.msg = "save task " + out.taskID + ": " + b.x.message(err)
	out.next = "the next run downloads it again, without a new task"
	var occupied *occupiedError
	switch {
	case errors.As(err, &occupied):
		out.msg = occupied.Error()
		out.next = fmt.Sprintf("the result is in %s: move %s away, then run again to save it, without a new task", occupied.staged, occupied.path)
	case errors.Is(err, qwenedit.ErrResultExpired):
		out.next = "the results expired: the next run submits it again"
		b.journalFailure(jb, out.taskID, out.msg)
	case ctx.Err() != nil:
		out.state, out.next = resumable, "finished but is not downloaded: the next run downloads it, without a new task"
	}
	return out
}

// journalFailure records that a file's task can give no result, so that the next run submits anew.
func (b *batch) journalFailure(jb job, taskID, msg string) {
	r := b.record(jb, taskID, statusFailed)
	r.Error = msg
	if jerr := b.journal.append(r); jerr != nil {
		b.prog.warnf("%s: %v", jb.label(), jerr)
	}
}

// record is the journal line of jb's task in this run.
func (b *batch) record(jb job, taskID, status string) record {
	id := b.src.identity
	return record{File: jb.file, In: id.in, Manifest: id.manifest, Line: jb.line, SHA256: jb.sum, TaskID: taskID, Status: status,
		Prompt: jb.edit.prompt, requestFields: jb.edit.fields, Model: journalModel(id.model), Server: b.server, BuiltinFake: b.fake}
}

// occupiedError is a result not saved because its name in -out holds another file.
type occupiedError struct {
	path   string // the file in -out, left alone
	staged string // where the result is
}

func (e *occupiedError) Error() string {
	return e.path + " already exists with other content: not replaced"
}

// save downloads the results with SaveImages, which names them after the
// task, and renames them after the input as resultName names them:
// stem.png, or stem_1.png, stem_2.png, ... for several. Both steps are atomic: a file in -out is
// complete. It never replaces a file of -out with other content: if one
// is in the way, it moves no result and returns an *occupiedError.
func (b *batch) save(ctx context.Context, task *qwenedit.Task, stem string) ([]string, error) {
	paths, err := b.client.SaveImages(ctx, task, filepath.Join(b.opts.out, stagingDir))
	if err != nil {
		return nil, err
	}
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = resultName(stem, i, len(paths), filepath.Ext(p))
	}
	b.saveMu.Lock()
	defer b.saveMu.Unlock()
	for i, p := range paths {
		if err := checkFree(p, filepath.Join(b.opts.out, names[i])); err != nil {
			return nil, err
		}
	}
	for i, p := range paths {
		if err := os.Rename(p, filepath.Join(b.opts.out, names[i])); err != nil {
			return nil, err
		}
	}
	return names, nil
}

// checkFree returns an *occupiedError if dst holds something other than
// the content of src: nothing, an empty file, or the same bytes (the same
// result, downloaded again) may be replaced.
func checkFree(src, dst string) error {
	info, err := os.Lstat(dst)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if info.Mode().IsRegular() && (info.Size() == 0 || sameContent(src, dst)) {
		return nil
	}
	return &occupiedError{path: dst, staged: src}
}

// sameContent reports whether the files a and b hold the same bytes.
func sameContent(a, b string) bool {
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	if errA != nil || errB != nil || sa.Size() != sb.Size() {
		return false // files of other sizes differ: neither is read
	}
	da, errA := os.ReadFile(a)
	db, errB := os.ReadFile(b)
	return errA == nil && errB == nil && bytes.Equal(da, db)
}

func (b *batch) allExist(names []string) bool {
	for _, n := range names {
		if info, err := os.Stat(filepath.Join(b.opts.out, n)); err != nil || info.Size() == 0 {
			return false
		}
	}
	return len(names) > 0
}

func ctxDone(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
