package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/seed-b62e15c8/qwenedit"
)

var downloadCommand = &command{
	name:    "download",
	args:    "URL [URL ...] | TASK_ID [-out DIR] [flags]",
	summary: "save result URLs, or the results of a finished task",
	about: `Given result URLs (http or https), saves each into -out under the last two parts of
its path (<task id>_result_00.png). Given a TASK_ID, saves the results of that finished
task named after it, like wait but without waiting. Result URLs are valid for 24 hours.
TASK_ID needs MULEROUTER_API_KEY; URLs do not.

` + resultsNaming + ` For a TASK_ID the stem is the task ID.

` + outputHelp,
	run: runDownload,
}

func runDownload(ctx context.Context, c *cli, args []string) error {
	var (
		model, out string
	)
	flags := newFlagSet("download")
	flags.StringVar(&out, "out", "out", "folder for the images")
	registerModel(flags, &model)
	c.registerJSON(flags)
	positional, err := c.parse(flags, args)
	if err != nil {
		return err
	}
	urls := 0
	for _, arg := range positional {
		isURL, bad := urlArg(arg)
		if bad != "" {
			return usagef("%s: unsupported URL scheme %s (use http or https)", arg, bad)
		}
		if isURL {
			urls++
		}
	}
	switch {
	case len(positional) == 0:
		return usagef("want result URLs or one TASK_ID")
	case urls == 0 && len(positional) > 1:
		return usagef("want one TASK_ID, got %d arguments (URLs start with https://)", len(positional))
	case urls > 0 && urls < len(positional):
		return usagef("want result URLs or one TASK_ID, not both")
	}
	if err := checkOutDir(out); err != nil {
		return err
	}
	use := keyOptional
	if urls == 0 {
		use = keyRequired
	}
	b, err := c.connect(model, use, nil)
	if err != nil {
		return err
	}
	defer b.stop()
	x := &explainer{base: b.base, model: model, out: out}
	if urls == 0 {
		return c.downloadTask(ctx, b.client, positional[0], x)
	}

	var last *failure
	failures := 0
	for _, u := range positional {
		res := result{URL: u}
		s, err := downloadURL(ctx, b.client, u, out)
		if err != nil {
			failures++
			last = x.explain(err)
			res.failed(last)
			if len(positional) > 1 {
				fmt.Fprintf(c.stderr, "qwenedit download: %s\n", last.msg)
			}
		} else {
			res.Saved = []string{s.path}
			c.noteSaved(&res, s)
			if !c.json {
				fmt.Fprintln(c.stdout, "saved", s.path)
			}
		}
		if c.json {
			c.printJSON(res)
		}
	}
	switch {
	case failures == 1 && len(positional) == 1:
		return last
	case failures > 0:
		return &failure{msg: fmt.Sprintf("%d of %d downloads failed", failures, len(positional)), code: exitFailure, kind: last.kind, err: last}
	}
	return nil
}

// downloadTask saves the results of a finished task.
func (c *cli) downloadTask(ctx context.Context, client *qwenedit.Client, id string, x *explainer) error {
	res := result{TaskID: id}
	task, err := client.Get(ctx, id)
	var f *failure
	switch {
	case err != nil:
		f = x.explain(err)
	case task.Status.IsFailure():
		f = x.explain(taskError(task))
	case !task.Status.IsSuccess():
		f = &failure{msg: fmt.Sprintf("task %s is %s, not finished: wait for it with %s", id, task.Status, waitCommandLine(id, x.model, x.out)),
			code: exitFailure, kind: "not_finished", taskID: id}
	}
	if f != nil {
		if task != nil {
			res.Status = string(task.Status)
		}
		return c.fail(res, f)
	}
	res.Status, res.Images = string(task.Status), task.Images
	return c.save(ctx, client, task, x, &res)
}

// unsafeName matches what a file name made from a URL must not contain.
var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// downloadURL saves the image at u into dir under a name of its own: the
// last two parts of its path. It downloads into an incoming folder, and
// puts the whole image in place without replacing any file (see place).
func downloadURL(ctx context.Context, client *qwenedit.Client, u, dir string) (placed, error) {
	incoming, err := newIncoming(dir)
	if err != nil {
		return placed{}, err
	}
	defer os.RemoveAll(incoming)
	name := urlFileName(u)
	f, err := os.OpenFile(filepath.Join(incoming, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return placed{}, err
	}
	_, err = client.Download(ctx, u, f)
	if err == nil {
		err = f.Sync() // before a name in dir says the image is complete
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return placed{}, err
	}
	return place(f.Name(), filepath.Join(dir, name))
}

// urlFileName is the file name for the image at u: the last two parts of
// its path (<task id>_result_00.png), made safe, with .png (what the API
// makes) if it has no extension.
func urlFileName(u string) string {
	name := "image.png"
	if parsed, err := url.Parse(u); err == nil {
		parts := strings.Split(strings.Trim(parsed.Path, "/"), "/")
		if len(parts) > 2 {
			parts = parts[len(parts)-2:]
		}
		if n := strings.Trim(unsafeName.ReplaceAllString(strings.Join(parts, "_"), "_"), "._"); n != "" {
			name = n
		}
	}
	if filepath.Ext(name) == "" {
		name += ".png"
	}
	return name
}
