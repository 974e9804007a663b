// Command batch edits every image in a folder with one prompt, a few at a
// time, and can be stopped and restarted without paying twice.
//
//	go run ./examples/batch -in photos -prompt "Make it look like a watercolour" -out edited
//
// It takes the files of -in whose names end in .jpg, .jpeg, .png, .webp,
// .bmp, .tif, .tiff or .gif (the SDK checks their content before sending),
// edits up to -concurrency of them at once and saves each result into -out
// under the input's name: photos/beach.jpg becomes edited/beach.png.
//
// Resuming: every task ID is appended to -out/batch.jsonl, and synced to
// disk, as soon as the submit returns and before the wait starts. Run the
// same command again after a crash, Ctrl-C or -max-wait, and files already
// saved are skipped, while files whose task was submitted but not saved are
// picked up with WaitForResult on the journaled ID instead of being
// submitted again. Files whose task failed are submitted again.
//
// Each journal line records the absolute -in folder, the SHA-256 of the
// file's content and the server of its task. One -out holds one batch, run
// by one process at a time: a journal of another -in folder or another
// prompt is refused (use another -out), and so is a second run while the
// first holds the journal's lock. A file whose content has changed is a new
// file: its earlier task is not followed. A saved file is skipped whatever
// server made it, as long as its results are in -out. A task submitted to
// another server (another base URL, or MuleRouter seen from the built-in
// fake) cannot be followed from this one: its file is left alone, as after a
// submit with an unknown outcome, unless -resubmit-unknown is given.
//
// No run replaces a file of -out with other content. A file whose result
// would (a changed input whose earlier result is still there, a picture of
// yours under the same name) is reported and not submitted; if the name is
// taken only once the task is done, the result is left in -out/.incoming
// and the next run saves it, without a new task, once the name is free.
//
// One image's failure does not stop the others: failures are listed at the
// end and the exit status is 1. A rejected key (401) or an empty balance
// (402) stops the whole batch, since every other image would fail the same
// way; so does a task that could not be journaled (a full disk), since the
// next run would not know of it and pay for it twice.
//
// On a terminal stderr shows a progress bar; otherwise (a pipe, a log file,
// CI) one line per event.
//
// With MULEROUTER_API_KEY set it calls the real API (and is charged). Without
// it, or with -fake, it starts the qwenedittest fake server in-process and
// says so: nothing leaves the machine and the results are generated locally.
// The fake's tasks end with the process, so a later run does not wait for
// them but submits their files again; the results it saved are skipped like
// any others, and a run with a key says which ones the fake made. To try
// resuming offline, run the fake as a process (go run ./examples/fakeserver)
// and point this program at it with
// MULEROUTER_API_KEY=qwenedittest-key MULEROUTER_BASE_URL=http://127.0.0.1:8080.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/seed-b62e15c8/qwenedit"
	"github.com/seed-b62e15c8/qwenedit/examples/internal/demo"
)

func main() { demo.Main("batch", run) }

type options struct {
	demo.Flags      // -fake, -fake-duration, -max-wait, -poll
	in, out, prompt string
	concurrency     int
	resubmitUnknown bool
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("batch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.in, "in", "", "folder of images to edit (required)")
	fs.StringVar(&o.prompt, "prompt", "", "the edit instruction for every image, at most 800 characters (required)")
	fs.StringVar(&o.out, "out", "edited", "folder for the results and the journal "+journalName+"; reuse it to resume")
	fs.IntVar(&o.concurrency, "concurrency", 4, "how many images to edit at once")
	fs.BoolVar(&o.resubmitUnknown, "resubmit-unknown", false, "submit again the images whose earlier task cannot be followed: a submit with an unknown outcome, or a task on another server (you may pay twice)")
	o.Register(fs, "each task; a task still running then is resumed by the next run")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: batch -in DIR -prompt TEXT [-out DIR] [-concurrency N]\n\n")
		fs.PrintDefaults()
	}
	if err := demo.Parse(fs, args); err != nil {
		return nil, err
	}
	var problem string
	switch {
	case fs.NArg() > 0:
		problem = fmt.Sprintf("unexpected arguments %q", fs.Args())
	case o.in == "" || o.prompt == "":
		problem = "need -in and -prompt"
	case o.out == "":
		problem = "-out must not be empty"
	case o.concurrency < 1:
		problem = "-concurrency must be at least 1"
	case o.Poll <= 0:
		problem = "-poll must be positive"
	case sameDir(o.in, o.out):
		problem = "-out must differ from -in: the results would be edited again on the next run"
	}
	if problem != "" {
		fmt.Fprintln(stderr, problem)
		fs.Usage()
		return nil, demo.UsageError{Err: errors.New(problem)}
	}
	return o, nil
}

func sameDir(a, b string) bool {
	a, errA := filepath.Abs(a)
	b, errB := filepath.Abs(b)
	return errA == nil && errB == nil && a == b
}

// imageExts are the extensions of the formats the API takes. The filter is
// only by name: the SDK checks each file's content before it is sent.
var imageExts = []string{".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}

// findImages lists the image files directly inside dir, sorted by name.
func findImages(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || strings.HasPrefix(name, ".") ||
			!slices.Contains(imageExts, strings.ToLower(filepath.Ext(name))) {
			continue
		}
		files = append(files, name)
	}
	return files, nil // os.ReadDir sorts by name
}

// outputStems names each file's results: its name without the extension,
// or with the extension spelled in when two inputs share a stem (a.jpg and
// a.png become a_jpg and a_png).
func outputStems(files []string) map[string]string {
	count := map[string]int{}
	for _, f := range files {
		count[strings.ToLower(strings.TrimSuffix(f, filepath.Ext(f)))]++
	}
	stems := make(map[string]string, len(files))
	for _, f := range files {
		stem := strings.TrimSuffix(f, filepath.Ext(f))
		if count[strings.ToLower(stem)] > 1 {
			stem = strings.ReplaceAll(f, ".", "_")
		}
		stems[f] = stem
	}
	return stems
}

// run is the whole program; main only adds the signal handling and the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	in, err := absDir(o.in)
	if err != nil {
		return fmt.Errorf("-in: %w", err)
	}
	files, err := findImages(o.in)
	if err != nil {
		return fmt.Errorf("read -in: %w", err)
	}
	if len(files) == 0 {
		return fmt.Errorf("no images (%s) in %s", strings.Join(imageExts, " "), o.in)
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return fmt.Errorf("create -out: %w", err)
	}

	// Lock the journal, then read what earlier runs did and append to it.
	journalPath := filepath.Join(o.out, journalName)
	j, last, err := openBatch(journalPath, in, o.prompt, stderr)
	if err != nil {
		return err
	}
	defer j.Close()
	taken, err := existingResults(o.out)
	if err != nil {
		return fmt.Errorf("read -out: %w", err)
	}

	client, cleanup, err := newClient(o, stderr)
	if err != nil {
		return err
	}
	defer cleanup()

	b := &batch{client: client, journal: j, opts: o, in: in, taken: taken,
		server: client.BaseURL(), fake: demo.UsesFake(o.Fake),
		prog: newProgress(stderr, isTerminal(stderr), len(files))}
	outcomes, fatal := b.runAll(ctx, files, last)
	b.prog.close()
	os.Remove(filepath.Join(o.out, stagingDir)) // only if empty: a crash may leave parts to look at

	return summarize(stdout, o, outcomes, fatal, ctx.Err())
}

// absDir returns dir as an absolute path, its symbolic links resolved, so
// that the journal names the same folder however it is given.
func absDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if resolved, err := filepath.EvalSymlinks(abs); err == nil {
		return resolved, nil
	}
	return abs, nil
}

// openBatch opens and locks the journal at path, refuses it if it records
// another batch than the folder in with prompt, and returns the last record
// of every file.
func openBatch(path, in, prompt string, stderr io.Writer) (*journal, map[string]record, error) {
	j, err := openJournal(path)
	if err != nil {
		return nil, nil, fmt.Errorf("open the journal: %w", err)
	}
	recs, unreadable, err := j.read()
	if err == nil {
		err = checkBatch(path, recs, in, prompt)
	}
	if err != nil {
		j.Close()
		return nil, nil, err
	}
	last, stale := lastRecords(recs)
	if unreadable > 0 {
		fmt.Fprintf(stderr, "%s: ignored %d line(s) cut short or unreadable\n", path, unreadable)
	}
	if stale > 0 {
		fmt.Fprintf(stderr, "%s: ignored the last task of %d file(s): it was on the built-in fake server, and ended with its run\n", path, stale)
	}
	return j, last, nil
}

// existingResults indexes the images already in dir by their lower-case
// name without extension, the name a result takes after its input. Empty
// files are left out: they hold nothing to lose.
func existingResults(dir string) (map[string]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	taken := map[string]string{}
	for _, e := range entries {
		name := e.Name()
		ext := strings.ToLower(filepath.Ext(name))
		if !e.Type().IsRegular() || strings.HasPrefix(name, ".") ||
			!slices.Contains(imageExts, ext) && ext != ".img" {
			continue
		}
		if info, err := e.Info(); err == nil && info.Size() > 0 {
			taken[strings.ToLower(strings.TrimSuffix(name, filepath.Ext(name)))] = name
		}
	}
	return taken, nil
}

// newClient returns a client for MuleRouter, or for an in-process fake
// server when there is no API key or -fake is given. Call cleanup when done.
func newClient(o *options, stderr io.Writer) (client *qwenedit.Client, cleanup func(), err error) {
	return demo.NewClient(o.Fake, o.FakeDuration, stderr, qwenedit.WithUserAgent("examples-batch"))
}

// stagingDir, inside -out, receives results before they are renamed after their input.
const stagingDir = ".incoming"

// batch is one run over a folder.
type batch struct {
	client  *qwenedit.Client
	journal *journal
	opts    *options
	in      string            // -in, absolute
	taken   map[string]string // the images in -out before the run, by lower-case stem
	server  string
	fake    bool // server is the built-in fake, whose tasks end with this run
	prog    *progress
	saveMu  sync.Mutex // one result moved into -out at a time, so that none replaces another
}

// outcome is what became of one input file in this run.
type outcome struct {
	file    string
	state   state
	taskID  string
	outputs []string // names inside -out
	err     error
	next    string // what the next run will do about it
	stop    bool   // err must stop the whole batch (besides a rejected key or an empty balance)
	byFake  bool   // skipped: saved by the built-in fake server, though this run is not
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

// job is one file to work on.
type job struct {
	file   string // name inside -in
	sum    string // SHA-256 of its content
	stem   string // results are stem.png
	taskID string // a task of an earlier run to wait for, instead of submitting
}

// runAll works through files with at most -concurrency at once. It returns
// each file's outcome, and the error that stopped the batch early, if any.
func (b *batch) runAll(ctx context.Context, files []string, last map[string]record) ([]outcome, error) {
	outcomes := make([]outcome, len(files))
	stems := outputStems(files)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(b.opts.concurrency)
	for i, file := range files {
		jb, settled := b.plan(job{file: file, stem: stems[file]}, last)
		if settled != nil {
			outcomes[i] = *settled
			continue
		}
		if gctx.Err() != nil { // stopped: leave the rest for the next run
			outcomes[i] = notStarted(jb, gctx.Err())
			continue
		}
		g.Go(func() error {
			b.prog.started()
			out := b.process(gctx, jb)
			outcomes[i] = out
			switch out.state {
			case edited:
				b.prog.ended(edited, "%s: saved as %s", jb.file, strings.Join(out.outputs, ", "))
			case resumable:
				b.prog.ended(resumable, "%s: %s", jb.file, out.pending())
			default:
				b.prog.ended(failed, "%s: %v (%s)", jb.file, out.err, out.next)
			}
			if out.stop || errors.Is(out.err, qwenedit.ErrUnauthorized) || errors.Is(out.err, qwenedit.ErrPaymentRequired) {
				return out.err // every other image would fail the same way, or cost twice: stop them all
			}
			return nil // one image's failure is reported at the end, it does not stop the others
		})
	}
	return outcomes, g.Wait()
}

// plan decides, from the file's content and its last record, what to do
// with it: a job (to submit it, or to follow an earlier task), or, if
// there is nothing to do or it must be left alone, its outcome.
func (b *batch) plan(jb job, last map[string]record) (job, *outcome) {
	sum, err := fileSum(filepath.Join(b.opts.in, jb.file))
	if err != nil {
		return jb, b.refuse(jb, fmt.Errorf("read: %w", err), "fix or remove the file")
	}
	jb.sum = sum
	r, ok := last[jb.file]
	switch {
	case !ok, r.Status == statusFailed:
		// Nothing to follow: submit.
	case r.SHA256 != sum:
		if r.Status == statusSaved && b.allExist(r.Outputs) {
			return jb, b.refuse(jb, fmt.Errorf("changed since its result %s was saved (task %s)", strings.Join(r.Outputs, ", "), r.TaskID),
				"not submitted, so as not to replace that result: move it out of "+b.opts.out+" to edit the new content, or use another -out")
		}
		b.prog.logf("%s: changed since its earlier task %s: it is a new file", jb.file, r.TaskID)
	case r.Status == statusSaved && b.allExist(r.Outputs):
		return jb, b.skip(jb, r)
	case (r.Status == statusSaved || r.Status == statusSubmitted) && r.followable(b.server):
		jb.taskID = r.TaskID // waited for, or downloaded again if its results were removed
		return jb, nil
	case r.Status == statusSubmitted || r.Status == statusUnknown:
		if !b.opts.resubmitUnknown {
			return jb, b.refuseUnfollowable(jb, r)
		}
	default:
		// Saved, its results removed, on a server that is not this one: submit.
	}
	if name, ok := b.taken[strings.ToLower(jb.stem)]; ok {
		return jb, b.refuse(jb, fmt.Errorf("%s is already in %s, and was not made from this file as it is now", name, b.opts.out),
			"not submitted, so as not to replace it: move it away, or use another -out")
	}
	return jb, nil
}

// refuseUnfollowable is the outcome of a file whose task, submitted or
// with an unknown outcome, cannot be waited for from this run.
func (b *batch) refuseUnfollowable(jb job, r record) *outcome {
	if r.Server == b.server {
		return b.refuse(jb, errors.New("an earlier submit had an unknown outcome: a task may exist and be charged"),
			"check your MuleRouter dashboard, then rerun with -resubmit-unknown to submit it again")
	}
	what := "task " + r.TaskID + " was submitted"
	if r.Status == statusUnknown {
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
	out := &outcome{file: jb.file, state: skipped, taskID: r.TaskID, outputs: r.Outputs, byFake: r.BuiltinFake && !b.fake}
	by := ""
	if out.byFake {
		by = " by the built-in fake server (delete it to have it edited for real)"
	}
	b.prog.skipped("%s: already saved as %s%s", jb.file, strings.Join(r.Outputs, ", "), by)
	return out
}

// refuse is the outcome of a file left alone, with why and what to do.
func (b *batch) refuse(jb job, err error, next string) *outcome {
	b.prog.started()
	b.prog.ended(failed, "%s: %v (%s)", jb.file, err, next)
	return &outcome{file: jb.file, state: failed, err: err, next: next}
}

// process submits one file (or takes the task of an earlier run), waits for
// it and saves its results, writing each step into the journal.
func (b *batch) process(ctx context.Context, jb job) outcome {
	out := outcome{file: jb.file, taskID: jb.taskID}
	if err := ctx.Err(); err != nil {
		return notStarted(jb, err)
	}
	if out.taskID == "" {
		req := &qwenedit.EditRequest{
			Images: []qwenedit.Image{qwenedit.ImageFile(filepath.Join(b.opts.in, jb.file))},
			Prompt: b.opts.prompt,
		}
		info, err := b.client.Submit(ctx, req)
		if err != nil {
			return b.submitFailed(jb, out, err)
		}
		out.taskID = info.ID
		// Journal the ID before waiting: from now on the task is paid for,
		// and a crash must not lead the next run to submit it again.
		if err := b.journal.append(b.record(jb, info.ID, statusSubmitted)); err != nil {
			return notJournaled(out, fmt.Errorf("task %s was submitted but could not be journaled: %w", info.ID, err))
		}
		b.prog.logf("%s: submitted as task %s", jb.file, info.ID)
	} else {
		b.prog.logf("%s: resuming task %s from an earlier run (not submitted again)", jb.file, out.taskID)
	}

	task, err := b.client.WaitForResult(ctx, out.taskID, b.opts.PollOptions()...)
	if err != nil {
		return b.waitFailed(jb, out, err)
	}

	outputs, err := b.save(ctx, task, jb.stem)
	if err != nil {
		return b.saveFailed(ctx, jb, out, err)
	}
	out.state, out.outputs = edited, outputs
	r := b.record(jb, out.taskID, statusSaved)
	r.Outputs = outputs
	if err := b.journal.append(r); err != nil {
		b.prog.warnf("%s: saved but not journaled (%v): the next run downloads it again", jb.file, err)
	}
	return out
}

// notJournaled is the outcome of a file whose task may exist but is not in
// the journal: the batch stops, since the next run would not know of it
// and every other submit could end the same way.
func notJournaled(out outcome, err error) outcome {
	out.state, out.err, out.stop = failed, err, true
	out.next = "the next run does not know of it and would submit the file again (paying twice): make room for the journal, and check your MuleRouter dashboard"
	return out
}

// notStarted is the outcome of a file the batch was stopped before.
func notStarted(jb job, err error) outcome {
	out := outcome{file: jb.file, state: resumable, taskID: jb.taskID, err: err, next: "not started: the next run does it"}
	if jb.taskID != "" {
		out.next = "was not waited for: the next run waits for it, without a new task"
	}
	return out
}

func (b *batch) submitFailed(jb job, out outcome, err error) outcome {
	out.state, out.err = failed, fmt.Errorf("submit: %w", err)
	var amb *qwenedit.AmbiguousSubmitError
	switch {
	case errors.As(err, &amb):
		// A task may exist. Say so in the journal so that the next run does
		// not submit it blindly: paying twice is the one thing to avoid.
		r := b.record(jb, "", statusUnknown)
		r.Error = err.Error()
		if jerr := b.journal.append(r); jerr != nil {
			return notJournaled(out, fmt.Errorf("%w; and this could not be journaled: %w", out.err, jerr))
		}
		out.next = "a task may exist and be charged: check your MuleRouter dashboard, then rerun with -resubmit-unknown to submit it again"
	case ctxDone(err):
		out.state, out.next = resumable, "not submitted: the next run does it"
	case errors.Is(err, qwenedit.ErrInvalidRequest):
		out.next = "the image or prompt was refused before any task was created: fix or remove the file"
	default:
		out.next = "nothing was created: the next run submits it again"
	}
	return out
}

func (b *batch) waitFailed(jb job, out outcome, err error) outcome {
	out.state, out.err = failed, err
	if !strings.Contains(err.Error(), out.taskID) {
		out.err = fmt.Errorf("task %s: %w", out.taskID, err)
	}
	var timeout *qwenedit.WaitTimeoutError
	switch {
	case errors.Is(err, qwenedit.ErrTaskFailed):
		b.journalFailure(jb, out.taskID, err)
		out.next = "the next run submits it again"
	case errors.Is(err, qwenedit.ErrNotFound):
		// The task is gone (its 24 hours are over): its results cannot be had.
		b.journalFailure(jb, out.taskID, err)
		out.next = "the task is unknown to the server: the next run submits it again"
	case errors.As(err, &timeout), ctxDone(err):
		out.state, out.next = resumable, "is still running on the server: the next run waits for it, without a new task"
	default:
		out.next = "the next run waits for the same task again, without a new one"
	}
	return out
}

func (b *batch) saveFailed(ctx context.Context, jb job, out outcome, err error) outcome {
	out.state, out.err = failed, fmt.Errorf("save task %s: %w", out.taskID, err)
	out.next = "the next run downloads it again, without a new task"
	var occupied *occupiedError
	switch {
	case errors.As(err, &occupied):
		out.err = occupied
		out.next = fmt.Sprintf("the result is in %s: move %s away, then run again to save it, without a new task", occupied.staged, occupied.path)
	case errors.Is(err, qwenedit.ErrResultExpired):
		out.next = "the results expired: the next run submits it again"
		b.journalFailure(jb, out.taskID, err)
	case ctx.Err() != nil:
		out.state, out.next = resumable, "finished but is not downloaded: the next run downloads it, without a new task"
	}
	return out
}

// journalFailure records that a file's task can give no result, so that the next run submits anew.
func (b *batch) journalFailure(jb job, taskID string, err error) {
	r := b.record(jb, taskID, statusFailed)
	r.Error = err.Error()
	if jerr := b.journal.append(r); jerr != nil {
		b.prog.warnf("%s: %v", jb.file, jerr)
	}
}

// record is the journal line of jb's task in this run.
func (b *batch) record(jb job, taskID, status string) record {
	return record{File: jb.file, In: b.in, SHA256: jb.sum, TaskID: taskID, Status: status,
		Prompt: b.opts.prompt, Server: b.server, BuiltinFake: b.fake}
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
// task, and renames them after the input: stem.png, or stem_1.png,
// stem_2.png, ... for several. Both steps are atomic: a file in -out is
// complete. It never replaces a file of -out with other content: if one
// is in the way, it moves no result and returns an *occupiedError.
func (b *batch) save(ctx context.Context, task *qwenedit.Task, stem string) ([]string, error) {
	paths, err := b.client.SaveImages(ctx, task, filepath.Join(b.opts.out, stagingDir))
	if err != nil {
		return nil, err
	}
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = stem + filepath.Ext(p)
		if len(paths) > 1 {
			names[i] = fmt.Sprintf("%s_%d%s", stem, i+1, filepath.Ext(p))
		}
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

// summarize prints the totals and every file left undone, and returns the
// program's error: nil only if every file is saved.
func summarize(w io.Writer, o *options, outcomes []outcome, fatal, interrupted error) error {
	var count [4]int
	byFake := 0
	for _, out := range outcomes {
		count[out.state]++
		if out.byFake {
			byFake++
		}
	}
	fmt.Fprintf(w, "%d images: %d edited, %d already saved, %d failed, %d to resume\n",
		len(outcomes), count[edited], count[skipped], count[failed], count[resumable])
	if byFake > 0 {
		fmt.Fprintf(w, "  %d of the results already saved were made by the built-in fake server, not by MuleRouter: delete them to have them edited for real\n", byFake)
	}
	for _, out := range outcomes {
		switch {
		case out.state == failed:
			fmt.Fprintf(w, "  %s: %v\n      %s\n", out.file, out.err, out.next)
		case out.state == resumable && out.taskID != "":
			fmt.Fprintf(w, "  %s: %s\n", out.file, out.pending())
		}
	}
	fmt.Fprintf(w, "results in %s, journal %s\n", o.out, filepath.Join(o.out, journalName))

	undone := count[failed] + count[resumable]
	switch {
	case fatal != nil:
		return fmt.Errorf("stopped: %w", fatal)
	case interrupted != nil:
		return fmt.Errorf("interrupted with %d of %d images not done: run the same command again to resume", undone, len(outcomes))
	case undone > 0:
		return fmt.Errorf("%d of %d images not done", undone, len(outcomes))
	}
	return nil
}
