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
// One image's failure does not stop the others: failures are listed at the
// end and the exit status is 1. A rejected key (401) or an empty balance
// (402) stops the whole batch, since every other image would fail the same way.
//
// On a terminal stderr shows a progress bar; otherwise (a pipe, a log file,
// CI) one line per event.
//
// With MULEROUTER_API_KEY set it calls the real API (and is charged). Without
// it, or with -fake, it starts the qwenedittest fake server in-process and
// says so: nothing leaves the machine and the results are generated locally.
// The fake's tasks end with the process, so its journal lines are not
// resumed by a later run. To try resuming offline, run the fake as a process
// (go run ./examples/fakeserver) and point this program at it with
// MULEROUTER_API_KEY=qwenedittest-key MULEROUTER_BASE_URL=http://127.0.0.1:8080.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/seed-b62e15c8/qwenedit"
	"github.com/seed-b62e15c8/qwenedit/examples/internal/demo"
)

func main() { demo.Main("batch", run) }

type options struct {
	in, out, prompt string
	concurrency     int
	fake            bool
	resubmitUnknown bool
	maxWait         time.Duration
	poll            time.Duration
	fakeDuration    time.Duration
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("batch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.in, "in", "", "folder of images to edit (required)")
	fs.StringVar(&o.prompt, "prompt", "", "the edit instruction for every image, at most 800 characters (required)")
	fs.StringVar(&o.out, "out", "edited", "folder for the results and the journal "+journalName+"; reuse it to resume")
	fs.IntVar(&o.concurrency, "concurrency", 4, "how many images to edit at once")
	fs.BoolVar(&o.fake, "fake", false, "use the built-in fake server even if MULEROUTER_API_KEY is set")
	fs.BoolVar(&o.resubmitUnknown, "resubmit-unknown", false, "submit again the images whose earlier submit had an unknown outcome (a task may exist: you may pay twice)")
	fs.DurationVar(&o.maxWait, "max-wait", qwenedit.DefaultMaxWait, "how long to wait for each task; a task still running then is resumed by the next run")
	fs.DurationVar(&o.poll, "poll", qwenedit.DefaultPollInterval, "first (and shortest) wait between status checks of a task")
	fs.DurationVar(&o.fakeDuration, "fake-duration", 3*time.Second, "how long a task takes on the built-in fake server")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: batch -in DIR -prompt TEXT [-out DIR] [-concurrency N]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, demo.UsageError{Err: err}
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
	case o.poll <= 0:
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

	client, cleanup, err := newClient(o, stderr)
	if err != nil {
		return err
	}
	defer cleanup()

	// Read what earlier runs did against this server, then append to the same journal.
	journalPath := filepath.Join(o.out, journalName)
	last, skipped, err := readJournal(journalPath, client.BaseURL())
	if err != nil {
		return fmt.Errorf("read the journal: %w", err)
	}
	if skipped > 0 {
		fmt.Fprintf(stderr, "%s: ignored %d line(s) from another server (such as the built-in fake) or cut short\n", journalPath, skipped)
	}
	for _, r := range last {
		if r.Prompt != o.prompt {
			return fmt.Errorf("%s records a batch with another prompt (%q); use another -out, or the same -prompt to resume it", journalPath, r.Prompt)
		}
	}
	j, err := openJournal(journalPath)
	if err != nil {
		return fmt.Errorf("open the journal: %w", err)
	}
	defer j.Close()

	b := &batch{client: client, journal: j, opts: o, server: client.BaseURL(),
		prog: newProgress(stderr, isTerminal(stderr), len(files))}
	outcomes, fatal := b.runAll(ctx, files, last)
	b.prog.close()
	os.Remove(filepath.Join(o.out, stagingDir)) // only if empty: a crash may leave parts to look at

	return summarize(stdout, o, outcomes, fatal, ctx.Err())
}

// newClient returns a client for MuleRouter, or for an in-process fake
// server when there is no API key or -fake is given. Call cleanup when done.
func newClient(o *options, stderr io.Writer) (client *qwenedit.Client, cleanup func(), err error) {
	return demo.NewClient(o.fake, o.fakeDuration, stderr, qwenedit.WithUserAgent("examples-batch"))
}

// stagingDir, inside -out, receives results before they are renamed after their input.
const stagingDir = ".incoming"

// batch is one run over a folder.
type batch struct {
	client  *qwenedit.Client
	journal *journal
	opts    *options
	server  string
	prog    *progress
}

// outcome is what became of one input file in this run.
type outcome struct {
	file    string
	state   state
	taskID  string
	outputs []string // names inside -out
	err     error
	next    string // what the next run will do about it
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
		jb := job{file: file, stem: stems[file]}
		if r, ok := last[file]; ok {
			switch r.Status {
			case statusSaved:
				if b.allExist(r.Outputs) {
					outcomes[i] = outcome{file: file, state: skipped, taskID: r.TaskID, outputs: r.Outputs}
					b.prog.skipped("%s: already saved as %s", file, strings.Join(r.Outputs, ", "))
					continue
				}
				jb.taskID = r.TaskID // the results were removed: download them again
			case statusSubmitted:
				jb.taskID = r.TaskID
			case statusUnknown:
				if !b.opts.resubmitUnknown {
					outcomes[i] = outcome{file: file, state: failed, err: errors.New("an earlier submit had an unknown outcome: a task may exist and be charged"),
						next: "check your MuleRouter dashboard, then rerun with -resubmit-unknown to submit it again"}
					b.prog.started()
					b.prog.ended(failed, "%s: not submitted again: an earlier submit had an unknown outcome (see -resubmit-unknown)", file)
					continue
				}
			}
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
			if errors.Is(out.err, qwenedit.ErrUnauthorized) || errors.Is(out.err, qwenedit.ErrPaymentRequired) {
				return out.err // every other image would fail the same way: stop them all
			}
			return nil // one image's failure is reported at the end, it does not stop the others
		})
	}
	return outcomes, g.Wait()
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
			return b.submitFailed(out, err)
		}
		out.taskID = info.ID
		// Journal the ID before waiting: from now on the task is paid for,
		// and a crash must not lead the next run to submit it again.
		if err := b.journal.append(b.record(jb.file, info.ID, statusSubmitted)); err != nil {
			b.prog.warnf("%s: task %s was submitted but could not be journaled (%v): a rerun would submit it again", jb.file, info.ID, err)
		}
		b.prog.logf("%s: submitted as task %s", jb.file, info.ID)
	} else {
		b.prog.logf("%s: resuming task %s from an earlier run (not submitted again)", jb.file, out.taskID)
	}

	task, err := b.client.WaitForResult(ctx, out.taskID,
		qwenedit.WithMaxWait(b.opts.maxWait),
		qwenedit.WithPollInterval(b.opts.poll),
	)
	if err != nil {
		return b.waitFailed(out, err)
	}

	outputs, err := b.save(ctx, task, jb.stem)
	if err != nil {
		out.state, out.err = failed, fmt.Errorf("save task %s: %w", out.taskID, err)
		out.next = "the next run downloads it again, without a new task"
		if errors.Is(err, qwenedit.ErrResultExpired) {
			out.next = "the results expired: the next run submits it again"
			b.journalFailure(jb.file, out.taskID, err)
		} else if ctx.Err() != nil {
			out.state, out.next = resumable, "finished but is not downloaded: the next run downloads it, without a new task"
		}
		return out
	}
	out.state, out.outputs = edited, outputs
	r := b.record(jb.file, out.taskID, statusSaved)
	r.Outputs = outputs
	if err := b.journal.append(r); err != nil {
		b.prog.warnf("%s: saved but not journaled (%v): the next run downloads it again", jb.file, err)
	}
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

func (b *batch) submitFailed(out outcome, err error) outcome {
	out.state, out.err = failed, fmt.Errorf("submit: %w", err)
	var amb *qwenedit.AmbiguousSubmitError
	switch {
	case errors.As(err, &amb):
		// A task may exist. Say so in the journal so that the next run does
		// not submit it blindly: paying twice is the one thing to avoid.
		if jerr := b.journal.append(record{File: out.file, Status: statusUnknown, Error: err.Error(), Prompt: b.opts.prompt, Server: b.server}); jerr != nil {
			b.prog.warnf("%s: %v", out.file, jerr)
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

func (b *batch) waitFailed(out outcome, err error) outcome {
	out.state, out.err = failed, err
	if !strings.Contains(err.Error(), out.taskID) {
		out.err = fmt.Errorf("task %s: %w", out.taskID, err)
	}
	var timeout *qwenedit.WaitTimeoutError
	switch {
	case errors.Is(err, qwenedit.ErrTaskFailed):
		b.journalFailure(out.file, out.taskID, err)
		out.next = "the next run submits it again"
	case errors.Is(err, qwenedit.ErrNotFound):
		// The task is gone (its 24 hours are over): its results cannot be had.
		b.journalFailure(out.file, out.taskID, err)
		out.next = "the task is unknown to the server: the next run submits it again"
	case errors.As(err, &timeout), ctxDone(err):
		out.state, out.next = resumable, "is still running on the server: the next run waits for it, without a new task"
	default:
		out.next = "the next run waits for the same task again, without a new one"
	}
	return out
}

// journalFailure records that a file's task can give no result, so that the next run submits anew.
func (b *batch) journalFailure(file, taskID string, err error) {
	r := b.record(file, taskID, statusFailed)
	r.Error = err.Error()
	if jerr := b.journal.append(r); jerr != nil {
		b.prog.warnf("%s: %v", file, jerr)
	}
}

func (b *batch) record(file, taskID, status string) record {
	return record{File: file, TaskID: taskID, Status: status, Prompt: b.opts.prompt, Server: b.server}
}

// save downloads the results with SaveImages, which names them after the
// task, and renames them after the input: stem.png, or stem_1.png,
// stem_2.png, ... for several. Both steps are atomic: a file in -out is complete.
func (b *batch) save(ctx context.Context, task *qwenedit.Task, stem string) ([]string, error) {
	paths, err := b.client.SaveImages(ctx, task, filepath.Join(b.opts.out, stagingDir))
	if err != nil {
		return nil, err
	}
	names := make([]string, len(paths))
	for i, p := range paths {
		name := stem + filepath.Ext(p)
		if len(paths) > 1 {
			name = fmt.Sprintf("%s_%d%s", stem, i+1, filepath.Ext(p))
		}
		if err := os.Rename(p, filepath.Join(b.opts.out, name)); err != nil {
			return nil, err
		}
		names[i] = name
	}
	return names, nil
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
	for _, out := range outcomes {
		count[out.state]++
	}
	fmt.Fprintf(w, "%d images: %d edited, %d already saved, %d failed, %d to resume\n",
		len(outcomes), count[edited], count[skipped], count[failed], count[resumable])
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
