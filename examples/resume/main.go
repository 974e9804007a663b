// Command resume shows how not to lose a paid task: it stores the task ID
// before it waits, so that a run cut short (Ctrl-C, a crash, -max-wait)
// picks up the same task when started again, instead of paying for a new one.
//
//	go run ./examples/resume -image photo.png -prompt "Make it snow" -state task.txt -out out
//
// The first run submits, writes the task ID into -state, then waits. Stop
// it; the next run finds the ID in -state and calls WaitForResult on it,
// submitting nothing. Once the results are saved (or the task failed),
// -state is removed and the next run submits anew.
//
// Without MULEROUTER_API_KEY it uses the SDK's fake server, which forgets
// its tasks when the program ends. To try resuming offline, run
// go run ./examples/fakeserver and set MULEROUTER_API_KEY and
// MULEROUTER_BASE_URL to what it prints.
package main

import (
	"context"
	"errors"
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

type options struct {
	image, prompt, state, out string
	maxWait                   time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.image, "image", "", "the image to edit")
	flag.StringVar(&o.prompt, "prompt", "", "the edit instruction")
	flag.StringVar(&o.state, "state", "task.txt", "where the task ID is kept between runs")
	flag.StringVar(&o.out, "out", "out", "folder for the results")
	flag.DurationVar(&o.maxWait, "max-wait", (15 * time.Minute), "how long this run waits")
	flag.Parse()
	if o.image == "" || o.prompt == "" {
		fmt.Fprintln(os.Stderr, "usage: resume -image FILE -prompt TEXT [-state FILE] [-out DIR] [-max-wait D]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, stdout, stderr io.Writer) error {
	opts := []qwenedit.Option{}
	poll := []qwenedit.PollOption{qwenedit.WithMaxWait(o.maxWait)}
	if os.Getenv("MULEROUTER_API_KEY") == "" {
		srv := qwenedittest.NewServer()
		defer srv.Close()
		fmt.Fprintf(stderr, "MULEROUTER_API_KEY is not set: using an in-process fake server (nothing is charged); it forgets its tasks when this program ends.\n")
		opts = append(opts, qwenedit.WithAPIKey(srv.APIKey()), qwenedit.WithBaseURL(srv.URL()))
		poll = append(poll, qwenedit.WithPollInterval(10*time.Millisecond))
	}
	client, err := qwenedit.NewClient(opts...)
	if err != nil {
		return err
	}

	id := ""
	if b, err := os.ReadFile(o.state); err == nil {
		id = strings.TrimSpace(string(b))
		fmt.Fprintf(stderr, "resuming task %s from %s: nothing is submitted\n", id, o.state)
	} else {
		req := &qwenedit.EditRequest{Images: []qwenedit.Image{qwenedit.ImageFile(o.image)}, Prompt: o.prompt}
		info, err := client.Submit(ctx, req) // the paid call; it returns at once
		if err != nil {
			return err
		}
		id = info.ID
		// Store the ID before waiting: from here on the task exists and is paid for.
		if err := os.WriteFile(o.state, []byte(id+"\n"), 0o644); err != nil {
			return fmt.Errorf("task %s was submitted, but its ID could not be stored: %w", id, err)
		}
		fmt.Fprintf(stderr, "task %s submitted; its ID is in %s\n", id, o.state)
	}

	task, err := client.WaitForResult(ctx, id, poll...) // polls at once, then with backoff
	var timeout *qwenedit.WaitTimeoutError
	switch {
	case errors.As(err, &timeout) || errors.Is(err, context.Canceled):
		return fmt.Errorf("task %s is still running: run the same command again to resume it (%w)", id, err)
	case errors.Is(err, qwenedit.ErrTaskFailed) || errors.Is(err, qwenedit.ErrNotFound):
		os.Remove(o.state) // nothing more to wait for: the next run submits anew
		return err
	case err != nil:
		return err
	}
	paths, err := client.SaveImages(ctx, task, o.out)
	for _, p := range paths {
		fmt.Fprintln(stdout, "saved", p)
	}
	if err != nil {
		return err // the ID stays in -state: the next run downloads the results again
	}
	return os.Remove(o.state)
}
