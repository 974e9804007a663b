// Command edit edits one image with Qwen Image Edit Max on MuleRouter and
// saves the result: the SDK's main job, on one page.
//
//	go run ./examples/edit -image testdata/sample.png -prompt "Turn the sky purple" -out out
//
// With MULEROUTER_API_KEY set it calls MuleRouter, and the call is charged.
// Without it, it starts the SDK's fake server (package qwenedittest) in this
// process and says so: nothing is charged, and the fake does not run the
// model: its "edit" ignores the prompt and inverts the image's colours.
//
// The command-line tool does the same with every request option as a flag,
// JSON output and resuming: go run ./cmd/qwenedit edit -h.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/seed-b62e15c8/qwenedit"
	"github.com/seed-b62e15c8/qwenedit/qwenedittest"
)

func main() {
	image := flag.String("image", "", "the image to edit: a file, or an http(s) URL the server can fetch")
	prompt := flag.String("prompt", "", `the edit instruction, e.g. "Turn the sky purple"`)
	out := flag.String("out", "out", "folder for the result")
	flag.Parse()
	if *image == "" || *prompt == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: edit -image FILE|URL -prompt TEXT [-out DIR]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	client, poll, closeFake, err := newClient(os.Stderr)
	if err == nil {
		err = edit(ctx, client, *image, *prompt, *out, os.Stdout, os.Stderr, poll...)
		closeFake()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// newClient is a client for MuleRouter, configured by MULEROUTER_API_KEY
// (and MULEROUTER_BASE_URL or MULEROUTER_SITE). Without a key it is a client
// for a fake server started here, which it announces, with a quick poll for
// it; call closeFake when done.
func newClient(stderr io.Writer) (client *qwenedit.Client, poll []qwenedit.PollOption, closeFake func(), err error) {
	var opts []qwenedit.Option
	closeFake = func() {}
	if os.Getenv("MULEROUTER_API_KEY") == "" {
		srv := qwenedittest.NewServer()
		closeFake = srv.Close
		fmt.Fprintf(stderr, "MULEROUTER_API_KEY is not set: using the fake server at %s; nothing is charged.\n"+
			"The fake does not run the model: its result is your image with the colours inverted, whatever the prompt.\n", srv.URL())
		opts = append(opts, qwenedit.WithAPIKey(srv.APIKey()), qwenedit.WithBaseURL(srv.URL()))
		poll = append(poll, qwenedit.WithPollInterval(10*time.Millisecond)) // its tasks finish at once
	}
	client, err = qwenedit.NewClient(opts...)
	if err != nil {
		closeFake()
		return nil, nil, nil, err
	}
	return client, poll, closeFake, nil
}

// edit edits image with prompt and saves the result into out.
func edit(ctx context.Context, client *qwenedit.Client, image, prompt, out string, stdout, stderr io.Writer, poll ...qwenedit.PollOption) error {
	img := qwenedit.ImageFile(image) // checked, then streamed from disk as base64
	if lower := strings.ToLower(image); strings.HasPrefix(lower, "http://") || strings.HasPrefix(lower, "https://") {
		img = qwenedit.ImageURL(image) // fetched by the server
	}
	req := &qwenedit.EditRequest{Images: []qwenedit.Image{img}, Prompt: prompt}

	// Edit submits the task (the paid call), then polls until it finishes.
	// Printing the ID as soon as it exists means a task is never lost: after
	// a crash, client.WaitForResult(ctx, id) picks it up (see examples/resume).
	task, err := client.Edit(ctx, req, append(poll, qwenedit.WithOnSubmitted(func(t *qwenedit.TaskInfo) {
		fmt.Fprintf(stderr, "task %s submitted\n", t.ID)
	}))...)
	if err != nil {
		return err // a *ValidationError (nothing was sent), *TaskFailedError, *WaitTimeoutError, ...
	}

	// Result URLs are valid for 24 hours: download them now.
	paths, err := client.SaveImages(ctx, task, out)
	for _, p := range paths {
		fmt.Fprintln(stdout, "saved", p)
	}
	return err
}
