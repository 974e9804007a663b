// Command multi edits with three input images and shows how a prompt refers
// to them: "Image 1", "Image 2" and "Image 3" are the images in the order
// they are given, and the output's aspect ratio follows the last one.
//
//	go run ./examples/multi -image person.jpg -image beach.jpg -image painting.jpg \
//		-prompt "Put the person from Image 1 in the scene of Image 2, in the style of Image 3" -out out
//
// Without -image it draws three demo pictures (a person, a scene and a style
// swatch) into a temporary folder and uses those. It prints which file is
// Image 1, 2 and 3 before it submits, then waits and saves the results into
// -out.
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
	"image"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	// Decoders for the dimensions printed next to each image.
	_ "image/gif"
	_ "image/jpeg"
	_ "image/png"

	_ "golang.org/x/image/bmp"
	_ "golang.org/x/image/tiff"
	_ "golang.org/x/image/webp"

	"github.com/seed-b62e15c8/qwenedit"
	"github.com/seed-b62e15c8/qwenedit/examples/internal/demo"
)

const defaultPrompt = "Put the person from Image 1 in the scene of Image 2, in the style of Image 3"

func main() { demo.Main("multi", run) }

// imageList collects repeated -image flags.
type imageList []string

func (l *imageList) String() string     { return strings.Join(*l, ",") }
func (l *imageList) Set(v string) error { *l = append(*l, v); return nil }

type options struct {
	demo.Flags // -fake, -fake-duration, -max-wait, -poll
	images     imageList
	prompt     string
	out        string
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("multi", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Var(&o.images, "image", "input image, a file or an http(s) URL; repeat it: the first is \"Image 1\" in the prompt, the second \"Image 2\", the third \"Image 3\" (default: three generated demo images)")
	fs.StringVar(&o.prompt, "prompt", defaultPrompt, "the edit instruction, at most 800 characters")
	fs.StringVar(&o.out, "out", "out", "folder for the result images")
	o.Register(fs, "the result")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: multi [-image FILE -image FILE -image FILE] [-prompt TEXT] [-out DIR]\n\n")
		fs.PrintDefaults()
	}
	if err := demo.Parse(fs, args); err != nil {
		return nil, err
	}
	var problem string
	switch {
	case fs.NArg() > 0:
		problem = fmt.Sprintf("unexpected arguments %q; use -image for each image", fs.Args())
	case len(o.images) > qwenedit.MaxImages:
		problem = fmt.Sprintf("%d images given; the API takes at most %d", len(o.images), qwenedit.MaxImages)
	case o.Poll <= 0:
		problem = "-poll must be positive"
	}
	if problem != "" {
		fmt.Fprintln(stderr, problem)
		fs.Usage()
		return nil, demo.UsageError{Err: errors.New(problem)}
	}
	return o, nil
}

// run is the whole program; main only adds the signal handling and the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}

	paths := []string(o.images)
	demo := len(paths) == 0
	if demo {
		dir, err := os.MkdirTemp("", "qwenedit-multi-")
		if err != nil {
			return fmt.Errorf("create a folder for the demo images: %w", err)
		}
		defer os.RemoveAll(dir)
		if paths, err = writeDemoImages(dir); err != nil {
			return fmt.Errorf("write the demo images: %w", err)
		}
	}
	if err := checkReferences(o.prompt, len(paths)); err != nil {
		return err
	}

	client, cleanup, err := newClient(o, stderr)
	if err != nil {
		return err
	}
	defer cleanup()

	// Tell the user which file the prompt's "Image N" means, in order.
	req := &qwenedit.EditRequest{Prompt: o.prompt}
	for i, p := range paths {
		req.Images = append(req.Images, toImage(p))
		note := describe(p)
		if demo {
			note = joinNotes("demo: "+demoImages[i].role, note)
		}
		if i == len(paths)-1 && len(paths) > 1 {
			note = joinNotes(note, "the output's aspect ratio follows this last image")
		}
		if note != "" {
			note = "  (" + note + ")"
		}
		fmt.Fprintf(stdout, "Image %d: %s%s\n", i+1, p, note)
	}
	fmt.Fprintf(stdout, "Prompt:  %s\n", o.prompt)
	if len(paths) > 1 && !mentionsImages.MatchString(o.prompt) {
		fmt.Fprintln(stderr, `note: the prompt names no image; say "Image 1", "Image 2", ... to tell the model which is which`)
	}

	info, err := client.Submit(ctx, req)
	if err != nil {
		return fmt.Errorf("submit: %w", err)
	}
	fmt.Fprintf(stdout, "task %s submitted\n", info.ID)

	start := time.Now()
	progress := qwenedit.WithOnPoll(func(t *qwenedit.Task) {
		fmt.Fprintf(stderr, "  %-10s %5.1fs\n", t.Status, time.Since(start).Seconds())
	})
	task, err := client.WaitForResult(ctx, info.ID, append(o.PollOptions(), progress)...)
	if err != nil {
		var timeout *qwenedit.WaitTimeoutError
		if errors.As(err, &timeout) || errors.Is(err, context.Canceled) {
			// The task goes on (and is paid for): the edit example can pick it up.
			return fmt.Errorf("wait for task %s: %w\nresume with: go run ./examples/edit -resume %s -out %s", info.ID, err, info.ID, o.out)
		}
		return fmt.Errorf("wait for task %s: %w", info.ID, err)
	}
	saved, err := client.SaveImages(ctx, task, o.out)
	for _, p := range saved {
		fmt.Fprintln(stdout, "saved", p)
	}
	if err != nil {
		return fmt.Errorf("save the results: %w", err)
	}
	return nil
}

// newClient returns a client for MuleRouter, or for an in-process fake
// server when there is no API key or -fake is given. Call cleanup when done.
func newClient(o *options, stderr io.Writer) (client *qwenedit.Client, cleanup func(), err error) {
	return demo.NewClient(o.Fake, o.FakeDuration, stderr, qwenedit.WithUserAgent("examples-multi"))
}

func toImage(p string) qwenedit.Image {
	if isURL(p) {
		return qwenedit.ImageURL(p)
	}
	return qwenedit.ImageFile(p)
}

func isURL(p string) bool {
	return strings.HasPrefix(p, "http://") || strings.HasPrefix(p, "https://")
}

// describe returns "640×480 png" for a local image it can read, else "".
// The SDK checks the images again, thoroughly, before it sends them.
func describe(p string) string {
	if isURL(p) {
		return "URL, fetched by the server"
	}
	f, err := os.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	cfg, format, err := image.DecodeConfig(f)
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%d×%d %s", cfg.Width, cfg.Height, format)
}

func joinNotes(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + ", " + b
}

// mentionsImages finds "Image 1", "image2", ... in a prompt.
var mentionsImages = regexp.MustCompile(`(?i)\bimage\s*([0-9]+)\b`)

// checkReferences refuses a prompt that names an image that was not given,
// such as "Image 3" with two images: the model would have to guess.
func checkReferences(prompt string, n int) error {
	for _, m := range mentionsImages.FindAllStringSubmatch(prompt, -1) {
		k, err := strconv.Atoi(m[1])
		if err != nil || k < 1 || k > n {
			return fmt.Errorf("the prompt mentions %q but %d image(s) were given: Image 1 is the first -image, Image 2 the second, Image 3 the third", m[0], n)
		}
	}
	return nil
}
