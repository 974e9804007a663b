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
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/seed-b62e15c8/qwenedit"
)

var batchCommand = &command{
	name:    "batch",
	args:    "-in DIR -prompt TEXT | -manifest FILE [-out DIR] [-resume] [flags]",
	summary: "edit every image in a folder, or every line of a manifest; a rerun resumes without paying twice",
	about: `Edits each image directly in -in (.jpg .jpeg .png .webp .bmp .tif .tiff .gif; symbolic
links to files included) with -prompt and the request flags (-n, -size, -seed,
-negative-prompt, -prompt-extend, -safety-filter, -model, as edit has them), -concurrency
at a time, and saves its results into -out under the input's name: photos/beach.jpg
becomes edited/beach.png (edited/beach_1.png, edited/beach_2.png, ... with -n 2 or more).
` + resultsNaming + ` The stem is the input's name without its
extension. A symbolic link that leads nowhere (dangling, or a loop) is reported as
failed, not skipped.

` + manifestHelp + `

Every paid submit is journaled ahead in -out/batch.jsonl, each line synced to disk: that a
submit of the file (its SHA-256, with the prompt and fields) starts, before the request
leaves; then its task ID, when the answer comes and before the wait starts. Run the same
command again (or qwenedit batch -out DIR -resume, which takes -in or -manifest, -prompt,
the request fields and -model from the journal) after a crash, kill, Ctrl-C or -max-wait:
saved files are skipped, files whose task ID is journaled are waited for, not submitted
again, and failed tasks are submitted again.

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

One -out holds one batch (one -in folder with one prompt and one set of request fields, or
one manifest), run by one process at a time (a lock); another prompt or other fields are
refused with exit status 2. A changed file (by SHA-256) is a new file. No result ever
replaces another file of -out. Before the first paid submit a free request checks the key:
a rejected key (401), an empty balance (402) or a server that cannot be reached stops the
batch at once, with nothing submitted; one image's failure does not stop it. A server that
goes away later is reported ("server unreachable since 15:04:05, retrying") while the
waits retry. With MULEROUTER_API_KEY every new task is charged; without it, or with
-fake, the built-in fake server answers and nothing is charged.

An account runs a limited number of tasks at once, and MuleRouter answers a submit beyond
it with 429. That never fails an image: the batch keeps at most as many tasks running as
the server accepted when a 429 came ("server limit: 3 running, 21 waiting"), waits for
its Retry-After or for one of its tasks to finish, and tries one more after every few
accepted submits. -concurrency is the most it ever runs; the next images are checked and
hashed while they wait for a place. A 429 while none of the batch's tasks run (a quota, a
spend limit, someone else's tasks) is waited out too, 1s, then 2s, ... up to a minute
between tries, and said on stderr.`,
	run:             runBatch,
	finishesUploads: true,
}

// batchOptions are batch's flags.
type batchOptions struct {
	in, manifest, out, prompt string
	req                       requestFlags // the fields of every request of -in, and -model
	concurrency               int
	resume                    bool
	resubmitUnknown           bool
	wait                      waitFlags
	fake                      fakeFlags
}

func parseBatch(c *cli, args []string) (*batchOptions, error) {
	o := &batchOptions{}
	fs := newFlagSet("batch")
	fs.StringVar(&o.in, "in", "", "folder of images to edit, each with -prompt (required, unless -manifest or -resume)")
	fs.StringVar(&o.manifest, "manifest", "", "a JSON Lines `FILE`, one edit per line, instead of -in and -prompt (see above)")
	fs.StringVar(&o.prompt, "prompt", "", "the edit instruction for every image of -in, at most 800 characters (required with -in, unless -resume)")
	o.req.register(fs)
	fs.StringVar(&o.out, "out", "edited", "folder for the results and the journal "+journalName+"; the same -out resumes")
	fs.IntVar(&o.concurrency, "concurrency", 4, "how many images to edit at once")
	fs.BoolVar(&o.resume, "resume", false, "resume the batch journaled in -out, with its -in or -manifest, -prompt, request fields and -model")
	fs.BoolVar(&o.resubmitUnknown, "resubmit-unknown", false, "submit again the images whose earlier task cannot be followed: a submit with an unknown outcome, or a task on another server (you may pay twice)")
	c.registerJSON(fs)
	o.wait.register(fs, "the next run waits for it, without a new task")
	o.fake.register(fs)
	positional, err := c.parse(fs, args)
	if err != nil {
		return nil, err
	}
	o.req.given(fs)
	if len(positional) > 0 {
		return nil, usagef("unexpected argument %q", positional[0])
	}
	if err := o.check(); err != nil {
		return nil, err
	}
	return o, o.wait.check()
}

// check refuses the combinations of flags that make no batch.
func (o *batchOptions) check() error {
	field := o.req.anyField()
	switch {
	case o.in != "" && o.manifest != "":
		return usagef("-in and -manifest are exclusive: a batch edits a folder or the lines of a manifest")
	case o.manifest != "" && o.prompt != "":
		return usagef("-prompt is given on each line of -manifest, not as a flag")
	case o.manifest != "" && field != "":
		return usagef("%s is given on each line of -manifest (as %q), not as a flag", field, wireName(field))
	case !o.resume && o.manifest == "" && (o.in == "" || o.prompt == ""):
		return usagef("need -in and -prompt, or -manifest (or -resume)")
	case o.out == "":
		return usagef("-out must not be empty")
	case o.concurrency < 1:
		return usagef("-concurrency must be at least 1")
	case o.in != "" && sameDir(o.in, o.out):
		return usagef("-out must differ from -in: the results would be edited again on the next run")
	}
	return nil
}

func sameDir(a, b string) bool {
	a, errA := filepath.Abs(a)
	b, errB := filepath.Abs(b)
	return errA == nil && errB == nil && a == b
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
		if o.in != "" && sameDir(o.in, o.out) {
			return usagef("-out must differ from -in: the results would be edited again on the next run")
		}
	}
	// Every check that needs no server comes before the first call.
	src, err := o.source(c)
	if err != nil {
		return err
	}
	if err := checkOutDir(o.out); err != nil {
		return err // exit status 2, naming the folder and the cause
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return fmt.Errorf("create -out: %w", err)
	}

	// Lock the journal, then read what earlier runs did and append to it.
	journalPath := filepath.Join(o.out, journalName)
	j, last, err := openBatch(journalPath, src.identity, c.stderr)
	if err != nil {
		return err
	}
	defer j.Close()
	taken, err := existingResults(o.out)
	if err != nil {
		return fmt.Errorf("read -out: %w", err)
	}

	back, err := c.connect(o.req.model, keyOrFake, &o.fake)
	if err != nil {
		return err
	}
	defer back.stop()
	if !back.fake {
		fmt.Fprintf(c.stderr, "submitting to %s (%s): %s; files saved or journaled already are not submitted again\n",
			back.base, o.req.model, batchChargeNote(back.base))
	}

	b := &batch{client: back.client, once: back.once, journal: j, opts: o, src: src, taken: taken,
		server: back.base, fake: back.fake, up: &uploads{stop: c.stop}, slots: newSlots(o.concurrency, time.Now),
		x:    &explainer{base: back.base, model: o.req.model, fake: back.fake, oneImage: !src.identity.manifest},
		prog: newBatchProgress(c.stderr, c.stderrTTY, len(src.jobs))}
	back.reach.watch(b.prog.serverReach)
	outcomes, fatal := b.runAll(ctx, src.jobs, last)
	back.reach.watch(nil)
	b.prog.close()
	os.Remove(filepath.Join(o.out, stagingDir)) // only if empty: a crash may leave parts to look at

	interrupted := ctx.Err()
	if interrupted == nil && b.up.isStopped() {
		interrupted = errInterrupted
	}
	return b.summarize(c, outcomes, fatal, interrupted)
}

// source is what a batch edits: its jobs, and what its journal must keep.
type source struct {
	jobs     []job
	identity batchIdentity
}

// noun is what the jobs are, in the summary: "images" or "edits".
func (s *source) noun() string {
	if s.identity.manifest {
		return "edits"
	}
	return "images"
}

// what is what a job is, in a message: "file" or "line".
func (s *source) what() string {
	if s.identity.manifest {
		return "line"
	}
	return "file"
}

// source reads the input: the images of -in, or the lines of -manifest,
// all checked. Whatever is wrong with it exits 2: nothing was sent.
func (o *batchOptions) source(c *cli) (*source, error) {
	if o.manifest != "" {
		path, err := filepath.Abs(o.manifest)
		if err != nil {
			return nil, configf("-manifest %s: %v", o.manifest, err)
		}
		jobs, err := readManifest(c, path)
		if err != nil {
			return nil, err
		}
		return &source{jobs: jobs, identity: batchIdentity{in: path, manifest: true, model: o.req.model}}, nil
	}
	if err := checkInputDir(o.in); err != nil {
		return nil, err
	}
	in, err := absDir(o.in)
	if err != nil {
		return nil, configf("-in %s: %v", o.in, err)
	}
	files, err := findImages(in)
	if err != nil {
		return nil, configf("-in %s: %v; nothing was sent", o.in, bareError(err))
	}
	if len(files) == 0 {
		return nil, configf("no images (%s) in %s; nothing was sent", strings.Join(imageExts, " "), o.in)
	}
	fields := o.req.fields.normalized()
	if err := checkRequest(o.prompt, fields); err != nil {
		return nil, err
	}
	return &source{jobs: folderJobs(in, files, o.prompt, fields),
		identity: batchIdentity{in: in, prompt: o.prompt, fields: fields, model: o.req.model}}, nil
}

// checkRequest checks the prompt and fields every image of -in is sent
// with, once for all, before anything is sent: a -n out of range would
// fail every image the same way.
func checkRequest(prompt string, fields requestFields) error {
	req := &qwenedit.EditRequest{Prompt: prompt, Images: []qwenedit.Image{qwenedit.ImageURL(checkImageURL)}}
	if err := fields.apply(req, "-size"); err != nil {
		return err
	}
	if err := req.Validate(); err != nil {
		return (&explainer{}).explain(err)
	}
	return nil
}

// checkImageURL stands for the images in checkRequest: a URL is not
// fetched by Validate, so only the prompt and fields are checked.
const checkImageURL = "https://example.com/image.png"

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
// another batch than want, and returns the last record of every file.
func openBatch(path string, want batchIdentity, stderr io.Writer) (*journal, map[string]record, error) {
	j, err := openJournal(path)
	if err != nil {
		return nil, nil, fmt.Errorf("open the journal: %w", err)
	}
	recs, unreadable, err := j.read()
	if err == nil {
		err = checkBatch(path, recs, want)
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

// resumeFrom fills in what the flags do not give from the journal at path
// (read without its lock: these never change in a journal): -in or
// -manifest, and for -in the prompt and the request fields; and -model.
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
	first := recs[0]
	switch {
	case o.in == "" && o.manifest == "" && first.Manifest:
		o.manifest = first.In
	case o.in == "" && o.manifest == "":
		o.in = first.In
	}
	if o.manifest == "" {
		if o.prompt == "" {
			o.prompt = first.Prompt
		}
		if o.req.anyField() == "" {
			o.req.fields = first.requestFields
		}
	}
	if !o.req.set["model"] {
		o.req.model = first.model()
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

// runAll works through jobs with at most -concurrency at once. It returns
// each job's outcome, and the error that stopped the batch early, if any.
//
// The first Ctrl-C starts no new submit and ends the waits and downloads
// (their task IDs are journaled: the next run takes them up), but lets
// the submits on the wire finish, so that their IDs are journaled too;
// only the end of ctx (a second Ctrl-C, or the bound after the first)
// cuts those off, leaving them unknown.
func (b *batch) runAll(ctx context.Context, jobs []job, last map[string]record) ([]outcome, error) {
	outcomes := make([]outcome, len(jobs))
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
	var keyFatal error
	for i, jb := range jobs {
		jb, settled := b.plan(jb, last)
		if settled != nil {
			outcomes[i] = *settled
			continue
		}
		if work.Err() != nil { // stopped: leave the rest for the next run
			outcomes[i] = notStarted(jb, work.Err())
			continue
		}
		if out, err := b.checkKeyBefore(work, jb); err != nil {
			outcomes[i], keyFatal = out, err
			stopWork() // every other submit would fail the same way
			continue
		}
		g.Go(func() error {
			b.prog.started()
			out := b.process(gctx, work, jb)
			outcomes[i] = out
			switch out.state {
			case edited:
				b.prog.ended(edited, "%s: saved as %s", jb.label(), strings.Join(out.outputs, ", "))
			case resumable:
				b.prog.ended(resumable, "%s: %s", jb.label(), out.pending())
			default:
				b.prog.ended(failed, "%s: %s (%s)", jb.label(), out.msg, out.next)
			}
			if out.stop || errors.Is(out.err, qwenedit.ErrUnauthorized) || errors.Is(out.err, qwenedit.ErrPaymentRequired) {
				return out.err // every other image would fail the same way, or cost twice: stop them all
			}
			return nil // one image's failure is reported at the end, it does not stop the others
		})
	}
	err := g.Wait()
	if keyFatal != nil {
		return outcomes, keyFatal
	}
	return outcomes, err
}

// checkKeyBefore checks the key (see verifyKey), once, before the first
// job that needs a submit, so that a key the server refuses, or a server
// that cannot be reached, stops the batch before any job starts. It
// returns the job's outcome and the error that stops the batch, or a nil
// error to go on.
func (b *batch) checkKeyBefore(ctx context.Context, jb job) (outcome, error) {
	if jb.taskID != "" {
		return outcome{}, nil // a task to follow: no submit
	}
	err := b.keyChecked(ctx)
	switch {
	case err == nil:
		return outcome{}, nil
	case ctx.Err() != nil:
		// The first Ctrl-C, not the check's own timeout (which wraps
		// context.DeadlineExceeded too): the loop leaves the rest.
		return outcome{}, nil
	case unreachable(err) != nil:
		return notStarted(jb, err), &unreachableError{host: hostOf(b.server), err: err}
	}
	b.prog.started()
	out := b.submitFailed(jb, outcome{file: jb.file, line: jb.line}, err, false)
	b.prog.ended(failed, "%s: %s (%s)", jb.label(), out.msg, out.next)
	return out, err
}

// unreachableError is a server that gave no answer to the key check, made
// before the first submit: the batch stops with nothing submitted.
type unreachableError struct {
	host string
	err  error
}

func (e *unreachableError) Error() string {
	return "cannot reach " + e.host + ": " + clean(unreachable(e.err).Error()) +
		"; nothing was submitted: check the network (and MULEROUTER_BASE_URL), then run the same command again"
}

func (e *unreachableError) Unwrap() error { return e.err }

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
	fmt.Fprintf(w, "%d %s: %d edited, %d already saved, %d failed, %d to resume\n",
		len(outcomes), b.src.noun(), count[edited], count[skipped], count[failed], count[resumable])
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
			fmt.Fprintf(w, "  %s: %s\n      %s\n", out.label(), out.msg, out.next)
		case out.state == resumable && out.taskID != "":
			fmt.Fprintf(w, "  %s: %s\n", out.label(), out.pending())
		}
	}
	fmt.Fprintf(w, "results in %s, journal %s\n", b.opts.out, filepath.Join(b.opts.out, journalName))

	undone := count[failed] + count[resumable]
	var unreached *unreachableError
	switch {
	case errors.As(fatal, &unreached):
		return &failure{msg: unreached.Error(), code: exitFailure, kind: "unreachable", err: fatal}
	case fatal != nil:
		f := b.x.explain(fatal)
		return &failure{msg: "stopped: " + f.msg, code: exitFailure, kind: f.kind, err: fatal}
	case interrupted != nil:
		return &failure{msg: fmt.Sprintf("interrupted with %d of %d %s not done: run the same command again (or qwenedit batch -out %s -resume) to resume",
			undone, len(outcomes), b.src.noun(), shellQuote(b.opts.out)), code: exitFailure, kind: "interrupted"}
	case undone > 0:
		return &failure{msg: fmt.Sprintf("%d of %d %s not done", undone, len(outcomes), b.src.noun()), code: exitFailure, kind: "not_done"}
	}
	return nil
}

// jsonResult is a file's outcome as -json prints it.
func (b *batch) jsonResult(out outcome) result {
	r := result{File: out.file, TaskID: out.taskID, Outcome: out.state.String(), Fake: b.fake || out.byFake}
	if out.line > 0 { // a manifest's line, named by its out name
		r.File, r.Line, r.Name = "", out.line, out.file
	}
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
