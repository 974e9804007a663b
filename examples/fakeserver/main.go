// Command fakeserver runs the qwenedittest fake MuleRouter server as a
// process, for trying the API with curl or testing clients written in other
// languages, offline and free of charge.
//
//	go run ./examples/fakeserver -addr 127.0.0.1:8080 -key my-test-key -duration 5s -vocab pending
//
// It serves the qwen-image-edit-max submit and poll endpoints on -addr and
// the result images from a second port (-results-addr), then runs until
// interrupted (Ctrl-C or SIGTERM). It listens on loopback only, unless
// -public is given: the fake accepts a fixed, published key.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/seed-b62e15c8/qwenedit/qwenedittest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, nil)
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		// -h: the usage has been printed; asking for help is not a failure.
	default:
		fmt.Fprintln(os.Stderr, "fakeserver:", err)
		stop()
		os.Exit(2)
	}
}

// config is the parsed command line.
type config struct {
	addr, resultsAddr string
	key               string
	duration          time.Duration
	vocab             qwenedittest.Vocabulary
	errorCodeField    string
	public            bool
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	var vocab string
	fs := flag.NewFlagSet("fakeserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "`host:port` of the API (port 0 picks a free one)")
	fs.StringVar(&c.resultsAddr, "results-addr", "", "`host:port` serving result images (default: the -addr host, a free port)")
	fs.StringVar(&c.key, "key", qwenedittest.DefaultAPIKey, "bearer `key` the fake accepts")
	fs.DurationVar(&c.duration, "duration", 5*time.Second, "how long each task takes")
	fs.StringVar(&vocab, "vocab", "pending", "status names: pending (pending/processing/completed) or queued (queued/running/succeeded)")
	fs.StringVar(&c.errorCodeField, "error-code-field", "code", "name of the numeric field in a failed task's error: code or error_code")
	fs.BoolVar(&c.public, "public", false, "allow listening on non-loopback addresses (anyone who can reach it can use the published key)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: fakeserver [flags]\n\nRuns a fake MuleRouter qwen-image-edit-max API until interrupted.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	switch vocab {
	case "pending":
		c.vocab = qwenedittest.VocabularyPending
	case "queued":
		c.vocab = qwenedittest.VocabularyQueued
	default:
		return config{}, fmt.Errorf("-vocab %q: want pending or queued", vocab)
	}
	if c.key == "" {
		return config{}, errors.New("-key must not be empty")
	}
	if c.duration < 0 {
		return config{}, fmt.Errorf("-duration %v: must not be negative", c.duration)
	}
	if c.errorCodeField == "" {
		return config{}, errors.New("-error-code-field must not be empty")
	}
	host, _, err := net.SplitHostPort(c.addr)
	if err != nil {
		return config{}, fmt.Errorf("-addr %q: %w", c.addr, err)
	}
	if c.resultsAddr == "" {
		c.resultsAddr = net.JoinHostPort(host, "0")
	}
	for _, a := range []struct{ flag, addr string }{{"-addr", c.addr}, {"-results-addr", c.resultsAddr}} {
		ok, err := isLoopback(a.addr)
		if err != nil {
			return config{}, fmt.Errorf("%s %q: %w", a.flag, a.addr, err)
		}
		if !ok && !c.public {
			return config{}, fmt.Errorf("%s %q is not a loopback address; the fake accepts a published key, so pass -public to expose it anyway", a.flag, a.addr)
		}
	}
	return c, nil
}

// isLoopback reports whether addr (host:port) names a loopback host. An
// empty host means every interface, so it is not loopback.
func isLoopback(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, err
	}
	if strings.EqualFold(host, "localhost") {
		return true, nil
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback(), nil
}

// run serves until ctx ends. ready, if not nil, is called once the server
// listens, so that tests need not parse the output.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, ready func(*qwenedittest.Server)) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	srv, err := qwenedittest.NewServerAt(c.addr, c.resultsAddr,
		qwenedittest.WithAPIKey(c.key),
		qwenedittest.WithTaskDuration(c.duration),
		qwenedittest.WithVocabulary(c.vocab),
		qwenedittest.WithErrorCodeField(c.errorCodeField),
	)
	if err != nil {
		return err
	}
	defer srv.Close()

	endpoint := srv.URL() + "/vendors/alibaba/v1/qwen-image-edit-max/generation"
	auth := shellQuote("Authorization: Bearer " + srv.APIKey())
	fmt.Fprintf(stdout, "qwenedit fake server: base URL %s (key %q)\n", srv.URL(), srv.APIKey())
	fmt.Fprintf(stdout, "result images from %s; each task takes %v; statuses: %s\n", srv.ResultsURL(), c.duration, statusNames(c.vocab))
	fmt.Fprintf(stdout, "\nTry:\n  curl -s %s -H %s -H 'Content-Type: application/json' \\\n    -d '{\"images\":[\"https://example.com/cat.png\"],\"prompt\":\"Give the cat a hat\"}'\n", endpoint, auth)
	fmt.Fprintf(stdout, "  curl -s %s/<task_id> -H %s\n\nPress Ctrl-C to stop.\n", endpoint, auth)
	if ready != nil {
		ready(srv)
	}

	<-ctx.Done()
	fmt.Fprintln(stdout, "qwenedit fake server: stopped")
	return nil
}

func statusNames(v qwenedittest.Vocabulary) string {
	if v == qwenedittest.VocabularyQueued {
		return "queued → running → succeeded"
	}
	return "pending → processing → completed"
}

// shellQuote quotes s for a POSIX shell, so that the printed curl commands
// work whatever the key contains.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
