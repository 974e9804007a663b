package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/seed-b62e15c8/qwenedit"
)

var batchCommand = &command{
	name:    "batch",
	args:    "-in DIR -prompt TEXT [-out DIR] [-resume] [flags]",
	summary: "edit every image in a folder; a rerun resumes without paying twice",
	about: `Edits each image directly in -in (.jpg .jpeg .png .webp .bmp .tif .tiff .gif) with
-prompt, -concurrency at a time, and saves its result into -out under the input's name:
photos/beach.jpg becomes edited/beach.png (edited/beach_1.png, ... with several).

Every paid submit is journaled ahead in -out/batch.jsonl, each line synced to disk: that a
submit of the file (its SHA-256, with the prompt) starts, before the request leaves; then its
task ID, when the answer comes and before the wait starts. Run the same command again (or
qwenedit batch -out DIR -resume, which takes -in and -prompt from the journal) after a
crash, kill, Ctrl-C or -max-wait: saved files are skipped, files whose task ID is journaled
are waited for, not submitted again, and failed tasks are submitted again.

Whatever instant the process dies, the rerun submits no file that may have a task already:
a file whose submit started but whose task ID is not journaled (the process died before the
answer came, or the answer was lost) has an unknown outcome, since a task may exist and be
charged. The rerun reports it and leaves it alone unless -resubmit-unknown is given (check
your MuleRouter dashboard first: you may pay twice). A submit known to have created nothing
(refused before sending, or a 4xx answer) is journaled as failed and submitted again.

The first Ctrl-C (or SIGTERM) starts no new submit and stops the waits, but lets the submits
already on the wire finish, for at most 30s ("finishing N uploads in flight; Ctrl-C again to
abort"), and journals their task IDs; then it exits 1 with the command that resumes, and the
rerun submits none of them again. A second Ctrl-C, or the 30s bound, cuts off the submits
still on the wire: their outcome is unknown.

One -out holds one batch (one -in folder, one prompt), run by one process at a time (a
lock). A changed file (by SHA-256) is a new file. No result ever replaces another file of
-out. A rejected key (401) or an empty balance (402) stops the batch; one image's failure
does not. With MULEROUTER_API_KEY every new task is charged (the default model); without
it, or with -fake, the built-in fake server answers and nothing is charged.`,
	run:             runBatch,
	finishesUploads: true,
}

// batchOptions are batch's flags.
type batchOptions struct {
	in, out, prompt string
	concurrency     int
	resume          bool
	resubmitUnknown bool
	wait            waitFlags
	fake            fakeFlags
}

func parseBatch(c *cli, args []string) (*batchOptions, error) {
	o := &batchOptions{}
	fs := newFlagSet("batch")
	fs.StringVar(&o.in, "in", "", "folder of images to edit (required, unless -resume)")
	fs.StringVar(&o.prompt, "prompt", "", "the edit instruction for every image, at most 800 characters (required, unless -resume)")
	fs.StringVar(&o.out, "out", "edited", "folder for the results and the journal "+journalName+"; the same -out resumes")
	fs.IntVar(&o.concurrency, "concurrency", 4, "how many images to edit at once")
	fs.BoolVar(&o.resume, "resume", false, "resume the batch journaled in -out, with its -in and -prompt")
	fs.BoolVar(&o.resubmitUnknown, "resubmit-unknown", false, "submit again the images whose earlier task cannot be followed: a submit with an unknown outcome, or a task on another server (you may pay twice)")
	c.registerJSON(fs)
	o.wait.register(fs, "the next run waits for it, without a new task")
	o.fake.register(fs)
	positional, err := c.parse(fs, args)
	if err != nil {
		return nil, err
	}
	switch {
	case len(positional) > 0:
		return nil, usagef("unexpected argument %q", positional[0])
	case !o.resume && (o.in == "" || o.prompt == ""):
		return nil, usagef("need -in and -prompt (or -resume)")
	case o.out == "":
		return nil, usagef("-out must not be empty")
	case o.concurrency < 1:
		return nil, usagef("-concurrency must be at least 1")
	case o.in != "" && sameDir(o.in, o.out):
		return nil, usagef("-out must differ from -in: the results would be edited again on the next run")
	}
	return o, o.wait.check()
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
		if imageEntry(e, imageExts) {
			files = append(files, e.Name())
		}
	}
	return files, nil // os.ReadDir sorts by name
}

// imageEntry reports a regular, visible file whose extension is in exts.
func imageEntry(e fs.DirEntry, exts []string) bool {
	name := e.Name()
	return e.Type().IsRegular() && !strings.HasPrefix(name, ".") && slices.Contains(exts, strings.ToLower(filepath.Ext(name)))
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

func runBatch(ctx context.Context, c *cli, args []string) error {
	o, err := parseBatch(c, args)
	if err != nil {
		return err
	}
	if o.resume {
		if err := resumeFrom(filepath.Join(o.out, journalName), o); err != nil {
			return err
		}
		if sameDir(o.in, o.out) {
			return usagef("-out must differ from -in: the results would be edited again on the next run")
		}
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
	if err := checkOutDir(o.out); err != nil {
		return err // exit status 2, naming the folder and the cause
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return fmt.Errorf("create -out: %w", err)
	}

	// Lock the journal, then read what earlier runs did and append to it.
	journalPath := filepath.Join(o.out, journalName)
	j, last, err := openBatch(journalPath, in, o.prompt, c.stderr)
	if err != nil {
		return err
	}
	defer j.Close()
	taken, err := existingResults(o.out)
	if err != nil {
		return fmt.Errorf("read -out: %w", err)
	}

	back, err := c.connect(qwenedit.DefaultModel, keyOrFake, &o.fake)
	if err != nil {
		return err
	}
	defer back.stop()
	if !back.fake {
		fmt.Fprintf(c.stderr, "submitting to %s (%s): each new task is charged; files saved or journaled already are not submitted again\n",
			back.base, qwenedit.DefaultModel)
	}

	b := &batch{client: back.client, journal: j, opts: o, in: in, taken: taken,
		server: back.base, fake: back.fake, up: &uploads{stop: c.stop},
		x:    &explainer{base: back.base, model: qwenedit.DefaultModel, fake: back.fake, oneImage: true},
		prog: newBatchProgress(c.stderr, c.stderrTTY, len(files))}
	outcomes, fatal := b.runAll(ctx, files, last)
	b.prog.close()
	os.Remove(filepath.Join(o.out, stagingDir)) // only if empty: a crash may leave parts to look at

	interrupted := ctx.Err()
	if interrupted == nil && b.up.isStopped() {
		interrupted = errInterrupted
	}
	return b.summarize(c, outcomes, fatal, interrupted)
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

// resumeFrom fills in -in and -prompt, where they are not given, from the
// journal at path (read without its lock: they never change in a journal).
func resumeFrom(path string, o *batchOptions) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return usagef("-resume: no batch to resume in %s (no %s)", o.out, journalName)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	recs, _, err := (&journal{f: f, size: info.Size()}).read()
	switch {
	case err != nil:
		return err
	case len(recs) == 0 || recs[0].In == "":
		return usagef("-resume: %s records no batch to resume", path)
	}
	if o.in == "" {
		o.in = recs[0].In
	}
	if o.prompt == "" {
		o.prompt = recs[0].Prompt
	}
	return nil
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
	resultExts := append(slices.Clip(imageExts), ".img") // .img: a result saved under no known extension
	for _, e := range entries {
		if !imageEntry(e, resultExts) {
			continue
		}
		name := e.Name()
		if info, err := e.Info(); err == nil && info.Size() > 0 {
			taken[strings.ToLower(strings.TrimSuffix(name, filepath.Ext(name)))] = name
		}
	}
	return taken, nil
}

// runAll works through files with at most -concurrency at once. It returns
// each file's outcome, and the error that stopped the batch early, if any.
//
// The first Ctrl-C starts no new submit and ends the waits and downloads
// (their task IDs are journaled: the next run takes them up), but lets
// the submits on the wire finish, so that their IDs are journaled too;
// only the end of ctx (a second Ctrl-C, or the bound after the first)
// cuts those off, leaving them unknown.
func (b *batch) runAll(ctx context.Context, files []string, last map[string]record) ([]outcome, error) {
	outcomes := make([]outcome, len(files))
	stems := outputStems(files)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(b.opts.concurrency)
	work, stopWork := context.WithCancel(gctx)
	defer stopWork()
	release := afterStop(b.up.stop, func() {
		if n := b.up.halt(); n > 0 {
			b.prog.warnf("%s", inFlightMessage(n))
		}
		stopWork()
	})
	defer release()
	for i, file := range files {
		jb, settled := b.plan(job{file: file, stem: stems[file]}, last)
		if settled != nil {
			outcomes[i] = *settled
			continue
		}
		if work.Err() != nil { // stopped: leave the rest for the next run
			outcomes[i] = notStarted(jb, work.Err())
			continue
		}
		g.Go(func() error {
			b.prog.started()
			out := b.process(gctx, work, jb)
			outcomes[i] = out
			switch out.state {
			case edited:
				b.prog.ended(edited, "%s: saved as %s", jb.file, strings.Join(out.outputs, ", "))
			case resumable:
				b.prog.ended(resumable, "%s: %s", jb.file, out.pending())
			default:
				b.prog.ended(failed, "%s: %s (%s)", jb.file, out.msg, out.next)
			}
			if out.stop || errors.Is(out.err, qwenedit.ErrUnauthorized) || errors.Is(out.err, qwenedit.ErrPaymentRequired) {
				return out.err // every other image would fail the same way, or cost twice: stop them all
			}
			return nil // one image's failure is reported at the end, it does not stop the others
		})
	}
	return outcomes, g.Wait()
}

// summarize reports every file (plain lines, or a JSON object each) and
// returns the command's error: nil only if every file is saved.
func (b *batch) summarize(c *cli, outcomes []outcome, fatal, interrupted error) error {
	var count [4]int
	byFake, unknown := 0, 0
	for _, out := range outcomes {
		count[out.state]++
		if out.byFake {
			byFake++
		}
		if out.unknown {
			unknown++
		}
	}
	w := c.stdout
	if c.json {
		w = c.stderr // stdout holds the JSON objects only
		for _, out := range outcomes {
			c.printJSON(b.jsonResult(out))
		}
	}
	fmt.Fprintf(w, "%d images: %d edited, %d already saved, %d failed, %d to resume\n",
		len(outcomes), count[edited], count[skipped], count[failed], count[resumable])
	if byFake > 0 {
		fmt.Fprintf(w, "  %d of the results already saved were made by the built-in fake server, not by MuleRouter: delete them to have them edited for real\n", byFake)
	}
	if unknown > 0 {
		fmt.Fprintf(w, "  %d with an unknown outcome: a submit was on its way when its answer was lost or a run died, so a task may exist and be charged; "+
			"they are not submitted again: check your MuleRouter dashboard, then rerun with -resubmit-unknown to submit them again (you may pay twice)\n", unknown)
	}
	for _, out := range outcomes {
		switch {
		case c.json:
		case out.state == failed:
			fmt.Fprintf(w, "  %s: %s\n      %s\n", out.file, out.msg, out.next)
		case out.state == resumable && out.taskID != "":
			fmt.Fprintf(w, "  %s: %s\n", out.file, out.pending())
		}
	}
	fmt.Fprintf(w, "results in %s, journal %s\n", b.opts.out, filepath.Join(b.opts.out, journalName))

	undone := count[failed] + count[resumable]
	switch {
	case fatal != nil:
		f := b.x.explain(fatal)
		return &failure{msg: "stopped: " + f.msg, code: exitFailure, kind: f.kind, err: fatal}
	case interrupted != nil:
		return &failure{msg: fmt.Sprintf("interrupted with %d of %d images not done: run the same command again (or qwenedit batch -out %s -resume) to resume",
			undone, len(outcomes), shellQuote(b.opts.out)), code: exitFailure, kind: "interrupted"}
	case undone > 0:
		return &failure{msg: fmt.Sprintf("%d of %d images not done", undone, len(outcomes)), code: exitFailure, kind: "not_done"}
	}
	return nil
}

// jsonResult is a file's outcome as -json prints it.
func (b *batch) jsonResult(out outcome) result {
	r := result{File: out.file, TaskID: out.taskID, Outcome: out.state.String(), Fake: b.fake || out.byFake}
	for _, name := range out.outputs {
		r.Saved = append(r.Saved, filepath.Join(b.opts.out, name))
	}
	if out.state == failed || out.state == resumable {
		r.Next = out.next
	}
	if out.state == failed {
		r.Error = &jsonError{Kind: kindOf(out.err), Message: out.msg, TaskID: out.taskID}
		if out.unknown {
			r.Error.Kind = "ambiguous_submit"
		}
	}
	return r
}

// unknownTaskID names no task; asking for it costs nothing.
const unknownTaskID = "00000000-0000-0000-0000-000000000000"

// verifyKey asks the API about a task that does not exist, which is free:
// 404 means the key was accepted; a 401 or 403 (or a network failure) is
// returned as it came. A batch checks the key so once, before its first
// paid submit, so that a wrong key stops it with the server's refusal and
// never leaves an image marked "maybe charged".
func verifyKey(ctx context.Context, client *qwenedit.Client) error {
	_, err := client.Get(ctx, unknownTaskID)
	if err == nil || errors.Is(err, qwenedit.ErrNotFound) {
		return nil
	}
	return err
}
