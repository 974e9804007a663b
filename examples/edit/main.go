// Command edit edits one to three images with a text instruction using
// Qwen Image Edit Max on MuleRouter, and saves the results.
//
//	go run ./examples/edit -image testdata/sample.png -prompt "Turn the sky purple" -out out
//
// With MULEROUTER_API_KEY set it calls the real API (and is charged). Without
// it, or with -fake, it starts the qwenedittest fake server in-process and
// says so: nothing leaves the machine and the results are generated locally.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/seed-b62e15c8/qwenedit"
	"github.com/seed-b62e15c8/qwenedit/examples/internal/demo"
)

// imageList collects repeated -image flags.
type imageList []string

func (l *imageList) String() string     { return strings.Join(*l, ",") }
func (l *imageList) Set(v string) error { *l = append(*l, v); return nil }

// optionalBool is a flag that stays unset unless given, so the server default applies.
type optionalBool struct{ v *bool }

func (b *optionalBool) String() string {
	if b.v == nil {
		return "server default"
	}
	return strconv.FormatBool(*b.v)
}

func (b *optionalBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	b.v = &v
	return nil
}

func (b *optionalBool) IsBoolFlag() bool { return true }

type options struct {
	demo.Flags   // -fake, -fake-duration, -max-wait, -poll
	images       imageList
	prompt       string
	negative     string
	n            int
	seed         int
	seedSet      bool // -seed was given: any value is sent, and the SDK checks it
	size         string
	promptExtend optionalBool
	safety       optionalBool
	out          string
	resume       string
	model        string
}

func main() { demo.Main("edit", run) }

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("edit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Var(&o.images, "image", "input image: a file path or an http(s) URL; repeat for up to 3 (\"Image 1\", \"Image 2\", \"Image 3\" in the prompt)")
	fs.StringVar(&o.prompt, "prompt", "", "the edit instruction, at most 800 characters (required unless -resume)")
	fs.StringVar(&o.negative, "negative", "", "what to avoid, at most 500 characters")
	fs.IntVar(&o.n, "n", 0, "number of output images, 1-6 (0: server default, 1)")
	fs.IntVar(&o.seed, "seed", 0, "random seed 0-2147483647 (default: none, the server picks one)")
	fs.StringVar(&o.size, "size", "", "output size WIDTH*HEIGHT, each side 512-2048 (default: follows the last image)")
	fs.Var(&o.promptExtend, "prompt-extend", "let a language model rewrite the prompt (server default true)")
	fs.Var(&o.safety, "safety-filter", "content safety filter (server default true)")
	fs.StringVar(&o.out, "out", "out", "folder for the result images")
	fs.StringVar(&o.resume, "resume", "", "a task ID to wait for instead of submitting a new task")
	fs.StringVar(&o.model, "model", qwenedit.DefaultModel, "model: qwen-image-edit-max or qwen-image-edit-plus")
	o.Register(fs, "the result")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	fs.Visit(func(f *flag.Flag) { o.seedSet = o.seedSet || f.Name == "seed" })
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q; use -image for each image", fs.Args())
	}
	if o.resume == "" && (len(o.images) == 0 || o.prompt == "") {
		fs.Usage()
		return nil, errors.New("need -image and -prompt (or -resume TASK_ID)")
	}
	if o.Poll <= 0 {
		return nil, errors.New("-poll must be positive")
	}
	return o, nil
}

// run is the whole program; main only adds the signal handling and the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}

	client, stop, err := demo.NewClient(o.Fake, o.FakeDuration, stderr, qwenedit.WithModel(o.model), qwenedit.WithUserAgent("examples-edit"))
	if err != nil {
		return err
	}
	defer stop()
	if o.resume != "" && demo.UsesFake(o.Fake) {
		fmt.Fprintln(stderr, "Note: the built-in fake starts empty on every run, so it knows no earlier task; to try -resume offline, run go run ./examples/fakeserver and set MULEROUTER_API_KEY and MULEROUTER_BASE_URL to what it prints.")
	}

	taskID := o.resume
	if taskID == "" {
		req, err := o.request()
		if err != nil {
			return err
		}
		info, err := client.Submit(ctx, req)
		if err != nil {
			return explain(err)
		}
		taskID = info.ID
		fmt.Fprintf(stdout, "task %s submitted\n", taskID)
	}

	start := time.Now()
	progress := qwenedit.WithOnPoll(func(t *qwenedit.Task) {
		fmt.Fprintf(stderr, "  %-10s %5.1fs\n", t.Status, time.Since(start).Seconds())
	})
	task, err := client.WaitForResult(ctx, taskID, append(o.PollOptions(), progress)...)
	if err != nil {
		return resumeHint(taskID, o.out, explain(err))
	}
	paths, err := client.SaveImages(ctx, task, o.out)
	for _, p := range paths {
		fmt.Fprintln(stdout, "saved", p)
	}
	return err
}

// request builds the EditRequest from the flags.
func (o *options) request() (*qwenedit.EditRequest, error) {
	req := &qwenedit.EditRequest{
		Prompt:         o.prompt,
		NegativePrompt: o.negative,
		N:              o.n,
		PromptExtend:   o.promptExtend.v,
		SafetyFilter:   o.safety.v,
	}
	for _, img := range o.images {
		if lower := strings.ToLower(img); strings.HasPrefix(lower, "http://") || strings.HasPrefix(lower, "https://") {
			req.Images = append(req.Images, qwenedit.ImageURL(img))
		} else {
			req.Images = append(req.Images, qwenedit.ImageFile(img))
		}
	}
	if o.seedSet {
		req.Seed = qwenedit.Ptr(o.seed)
	}
	if o.size != "" {
		size, err := qwenedit.ParseSize(o.size)
		if err != nil {
			return nil, err
		}
		req.Size = size
	}
	return req, nil
}

// explain adds what a user can do about the common errors.
func explain(err error) error {
	var amb *qwenedit.AmbiguousSubmitError
	var failed *qwenedit.TaskFailedError
	switch {
	case errors.Is(err, qwenedit.ErrUnauthorized):
		return fmt.Errorf("%w\n(check MULEROUTER_API_KEY)", err)
	case errors.Is(err, qwenedit.ErrPaymentRequired):
		return fmt.Errorf("%w\n(top up your MuleRouter balance)", err)
	case errors.As(err, &amb):
		return fmt.Errorf("%w\n(do not resubmit blindly: a task may exist)", err)
	case errors.As(err, &failed):
		return fmt.Errorf("%w\n(the task was processed and failed; change the prompt or images)", err)
	}
	return err
}

func resumeHint(taskID, out string, err error) error {
	var timeout *qwenedit.WaitTimeoutError
	if errors.As(err, &timeout) || errors.Is(err, context.Canceled) {
		return fmt.Errorf("%w\nresume with: go run ./examples/edit -resume %s -out %q", err, taskID, out)
	}
	return err
}
