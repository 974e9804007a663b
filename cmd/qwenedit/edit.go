package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/seed-b62e15c8/qwenedit"
	"github.com/seed-b62e15c8/qwenedit/internal/limits"
)

var editCommand = &command{
	name:    "edit",
	args:    "-image FILE|URL [-image FILE|URL ...] -prompt TEXT [-out DIR] [flags]",
	summary: "edit 1 to 3 images with an instruction and save the results",
	about: `Submits one edit task, waits for it and saves its results into -out, named after the
task. The images are "Image 1", "Image 2" and "Image 3" in the prompt, in the order given;
the output's aspect ratio follows the last one. Unset request flags are left to the server.

` + resultsNaming + ` The stem is the task ID.

With MULEROUTER_API_KEY set the task is charged: the host is named before the call, and
the task ID as soon as it exists, with the command that resumes an interrupted wait
(qwenedit wait TASK_ID -out DIR). Without it, or with -fake, the built-in fake server
answers: nothing is charged, and its "edit" ignores the prompt and inverts the colours of
the last image.

The first Ctrl-C (or SIGTERM) during the submit lets it finish, for at most 30s ("finishing
1 upload in flight; Ctrl-C again to abort"), then prints the task ID and the command that
waits for it, and exits 1 without waiting; a second Ctrl-C aborts the submit, whose outcome
is then unknown. During the wait, Ctrl-C stops it: the task goes on and is charged.

` + outputHelp,
	run:             runEdit,
	finishesUploads: true,
}

// editOptions are edit's flags.
type editOptions struct {
	images imageList
	prompt string
	req    requestFlags // the other fields and -model, as batch has them
	out    string
	wait   waitFlags
	fake   fakeFlags
}

func runEdit(ctx context.Context, c *cli, args []string) error {
	o := &editOptions{}
	fs := newFlagSet("edit")
	fs.Var(&o.images, "image", "the `FILE|URL` (http or https) of an input image; repeat for up to 3: \"Image 1\" to \"Image 3\" in the prompt")
	fs.StringVar(&o.prompt, "prompt", "", "the edit instruction, at most 800 characters (required)")
	o.req.register(fs)
	fs.StringVar(&o.out, "out", "out", "folder for the results")
	c.registerJSON(fs)
	o.wait.register(fs, "resume with qwenedit wait")
	o.fake.register(fs)
	positional, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	o.req.given(fs)
	if len(positional) > 0 {
		return usagef("unexpected argument %q: give each image with -image", positional[0])
	}
	req, err := o.request()
	if err != nil {
		return err
	}
	if err := o.wait.check(); err != nil {
		return err
	}

	x := &explainer{model: o.req.model, images: o.images, out: o.out}
	res := result{}
	// Check all that can be checked before a server is chosen, let alone charged.
	if err := req.Validate(); err != nil {
		return c.fail(res, x.explain(err))
	}
	if err := checkOutDir(o.out); err != nil {
		return err
	}
	b, err := c.connect(o.req.model, keyOrFake, &o.fake)
	if err != nil {
		return err
	}
	defer b.stop()
	x.base, x.fake, res.Fake = b.base, b.fake, b.fake
	if b.fake {
		fmt.Fprintf(c.stderr, "submitting to the built-in fake server (%s): not charged\n", o.req.model)
	} else {
		fmt.Fprintf(c.stderr, "submitting to %s (%s): %s\n", b.base, o.req.model, chargeNote(b.base))
	}

	// The first Ctrl-C lets the submit on the wire finish, so that its task
	// ID is printed, and ends ctx then; during the wait it ends it at once.
	ctx, upload := c.watchOneUpload(ctx)
	defer upload.close()
	if !upload.start() {
		return c.fail(res, interruptedBeforeSubmit())
	}
	var progress *taskProgress
	task, err := b.client.Edit(ctx, req, append(o.wait.options(b.fake),
		qwenedit.WithOnSubmitted(func(t *qwenedit.TaskInfo) {
			upload.ended()
			res.TaskID = t.ID
			if b.fake {
				fmt.Fprintf(c.stderr, "task %s submitted\n", t.ID)
			} else {
				fmt.Fprintf(c.stderr, "task %s submitted; if this stops, resume with: %s\n", t.ID, waitCommandLine(t.ID, o.req.model, o.out))
			}
			progress = c.newTaskProgress(t.ID)
		}),
		qwenedit.WithOnPoll(func(t *qwenedit.Task) { progress.update(t) }))...)
	upload.ended()
	progress.done()
	if err != nil {
		return c.fail(res, x.explain(err))
	}
	res.Status, res.Images = string(task.Status), task.Images
	return c.save(ctx, b.client, task, x, &res)
}

// save saves a finished task's results into x.out and reports them: a
// "saved <path>" line each, or res as JSON.
func (c *cli) save(ctx context.Context, client *qwenedit.Client, task *qwenedit.Task, x *explainer, res *result) error {
	paths, err := c.saveTask(ctx, client, task, x.out, res)
	res.Saved = paths
	if !c.json {
		for _, p := range paths {
			fmt.Fprintln(c.stdout, "saved", p)
		}
	}
	if err != nil {
		f := x.explain(err)
		f.msg, f.taskID = x.saveMessage(task.ID, len(paths), err), task.ID
		err = f
		res.failed(f)
	}
	if c.json {
		c.printJSON(*res)
	}
	return err
}

// urlScheme finds the scheme of an argument shaped like a URL.
var urlScheme = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*)://`)

// urlArg reports whether arg is shaped like a URL and, if its scheme is
// not http or https, that scheme as written.
func urlArg(arg string) (isURL bool, badScheme string) {
	m := urlScheme.FindStringSubmatch(arg)
	if m == nil {
		return false, ""
	}
	if scheme := strings.ToLower(m[1]); scheme != "http" && scheme != "https" {
		return true, m[1]
	}
	return true, ""
}

// request builds the EditRequest from the flags. What the flags alone show
// to be wrong is a usage error here; the SDK checks the rest.
func (o *editOptions) request() (*qwenedit.EditRequest, error) {
	switch {
	case len(o.images) == 0:
		return nil, usagef("need -image (1 to %d, a file or an http(s) URL)", limits.MaxImages)
	case len(o.images) > limits.MaxImages:
		return nil, usagef("-image given %d times: the API takes 1 to %d images", len(o.images), limits.MaxImages)
	case o.prompt == "":
		return nil, usagef("need -prompt")
	}
	return newRequest(o.images, o.prompt, o.req.fields, "-size")
}

// imageArg is the i-th -image: an http(s) URL, or a local file.
func imageArg(i int, arg string) (qwenedit.Image, error) {
	isURL, bad := urlArg(arg)
	if bad != "" {
		return qwenedit.Image{}, usagef("image %d: unsupported URL scheme %s (use http, https or a local file)", i+1, bad)
	}
	if isURL {
		return qwenedit.ImageURL(arg), nil
	}
	if strings.HasPrefix(strings.ToLower(arg), "data:") {
		return qwenedit.Image{}, usagef("image %d: data: URIs are not taken on the command line; save the image to a file", i+1)
	}
	return qwenedit.ImageFile(arg), nil
}
