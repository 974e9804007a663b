// Command multi edits with two or three images and a prompt that names
// them: "Image 1", "Image 2" and "Image 3" are EditRequest.Images in order,
// and the output's aspect ratio follows the last one.
//
//	go run ./examples/multi -image person.png -image beach.png \
//		-prompt "Put the person of Image 1 on the beach of Image 2" -out out
//
// With MULEROUTER_API_KEY set it calls MuleRouter, and the call is charged.
// Without it, it uses the SDK's fake server and says so; the fake ignores
// the prompt and returns the last image with its colours inverted.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/seed-b62e15c8/qwenedit"
	"github.com/seed-b62e15c8/qwenedit/qwenedittest"
)

// images collects the repeated -image flags, in order.
type images []string

func (l *images) String() string     { return strings.Join(*l, ", ") }
func (l *images) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var files images
	flag.Var(&files, "image", "an input image file; give it 2 or 3 times: Image 1, Image 2, Image 3")
	prompt := flag.String("prompt", "", `an instruction naming the images, e.g. "Put the person of Image 1 on the beach of Image 2"`)
	out := flag.String("out", "out", "folder for the result")
	flag.Parse()
	// The API takes at most 3 images; Submit's validation says so too, but
	// this program's usage is 2 or 3.
	if len(files) < 2 || len(files) > 3 || *prompt == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: multi -image FILE -image FILE [-image FILE] -prompt TEXT [-out DIR]")
		os.Exit(2)
	}
	req, err := request(files, *prompt)
	if err == nil {
		for i, f := range files {
			fmt.Printf("Image %d: %s\n", i+1, f)
		}
		var poll []qwenedit.PollOption
		var client *qwenedit.Client
		var closeFake func()
		if client, poll, closeFake, err = newClient(os.Stderr); err == nil {
			err = edit(context.Background(), client, req, *out, os.Stdout, poll...)
			closeFake()
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// mentions finds "Image 1", "image 2", ... in a prompt.
var mentions = regexp.MustCompile(`(?i)\bimage\s*(\d+)\b`)

// request is the edit of files, in order, with prompt. It checks the files
// first (a missing one is the problem, not the prompt that names it), then
// that the prompt names no image beyond the last.
func request(files []string, prompt string) (*qwenedit.EditRequest, error) {
	req := &qwenedit.EditRequest{Prompt: prompt}
	for _, f := range files {
		req.Images = append(req.Images, qwenedit.ImageFile(f))
	}
	if err := req.Validate(); err != nil {
		return nil, err // a *qwenedit.ValidationError; its fields are images[0], images[1], ...
	}
	for _, m := range mentions.FindAllStringSubmatch(prompt, -1) {
		if n, _ := strconv.Atoi(m[1]); n < 1 || n > len(files) {
			return nil, fmt.Errorf("the prompt names %q, but only %d images were given", m[0], len(files))
		}
	}
	return req, nil
}

// newClient is a client for MuleRouter (MULEROUTER_API_KEY), or without a
// key for a fake server started here, which it announces.
func newClient(stderr io.Writer) (client *qwenedit.Client, poll []qwenedit.PollOption, closeFake func(), err error) {
	var opts []qwenedit.Option
	closeFake = func() {}
	if os.Getenv("MULEROUTER_API_KEY") == "" {
		srv := qwenedittest.NewServer()
		closeFake = srv.Close
		fmt.Fprintf(stderr, "MULEROUTER_API_KEY is not set: using the fake server at %s; nothing is charged.\n"+
			"The fake ignores the prompt: its result is the last image with the colours inverted.\n", srv.URL())
		opts = append(opts, qwenedit.WithAPIKey(srv.APIKey()), qwenedit.WithBaseURL(srv.URL()))
		poll = append(poll, qwenedit.WithPollInterval(10*time.Millisecond))
	}
	if client, err = qwenedit.NewClient(opts...); err != nil {
		closeFake()
	}
	return client, poll, closeFake, err
}

// edit edits and saves the result into out.
func edit(ctx context.Context, client *qwenedit.Client, req *qwenedit.EditRequest, out string, stdout io.Writer, poll ...qwenedit.PollOption) error {
	task, err := client.Edit(ctx, req, poll...)
	if err != nil {
		return err
	}
	paths, err := client.SaveImages(ctx, task, out)
	for _, p := range paths {
		fmt.Fprintln(stdout, "saved", p)
	}
	return err
}
