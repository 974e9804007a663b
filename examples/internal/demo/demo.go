// Package demo is what the example programs share and what a program of
// your own would not need: starting the built-in fake server when there is
// no API key, so that every example runs on a fresh machine at no cost.
package demo

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/seed-b62e15c8/qwenedit"
	"github.com/seed-b62e15c8/qwenedit/qwenedittest"
)

// UsesFake reports whether NewClient(force, ...) starts the fake: when
// force is true or MULEROUTER_API_KEY is unset.
func UsesFake(force bool) bool { return force || os.Getenv("MULEROUTER_API_KEY") == "" }

// NewClient returns a client for MuleRouter, configured by opts and the
// MULEROUTER_* environment. When MULEROUTER_API_KEY is unset, or force is
// true, it starts an in-process qwenedittest server whose tasks take
// taskDuration, points the client at it and says so on stderr. Call stop
// when done; it shuts the fake down, if one was started.
func NewClient(force bool, taskDuration time.Duration, stderr io.Writer, opts ...qwenedit.Option) (client *qwenedit.Client, stop func(), err error) {
	stop = func() {}
	if UsesFake(force) {
		// NewServerAt returns an error where NewServer would panic.
		srv, err := qwenedittest.NewServerAt("127.0.0.1:0", "127.0.0.1:0", qwenedittest.WithTaskDuration(taskDuration))
		if err != nil {
			return nil, nil, fmt.Errorf("starting the built-in fake server: %w", err)
		}
		stop = srv.Close
		fmt.Fprintf(stderr, "No MULEROUTER_API_KEY set (or -fake given): using the built-in fake server at %s.\n"+
			"Nothing is sent to MuleRouter and nothing is charged; the results are generated locally.\n", srv.URL())
		opts = append(opts, qwenedit.WithAPIKey(srv.APIKey()), qwenedit.WithBaseURL(srv.URL()))
	}
	client, err = qwenedit.NewClient(opts...)
	if err != nil {
		stop()
		return nil, nil, err
	}
	return client, stop, nil
}

// Main runs a program's run function with a context that ends on Ctrl-C or
// SIGTERM (a second one kills the process at once), and exits with 2 for a UsageError (the flag package has printed
// it), 1 for any other error after printing it as "name: err", 0 otherwise.
func Main(name string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // the first Ctrl-C asks for a clean stop; a second one kills
	}()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(name, err, os.Stderr))
}

// exitCode reports err and picks the exit status.
func exitCode(name string, err error, stderr io.Writer) int {
	var usage UsageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &usage):
		return 2
	}
	fmt.Fprintf(stderr, "%s: %v\n", name, err)
	return 1
}

// UsageError is a bad command line, already reported with the usage.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }

// Unwrap returns the problem with the command line.
func (e UsageError) Unwrap() error { return e.Err }

// Flags are the flags every example program shares. Embed them in a
// program's options and Register them on its FlagSet.
type Flags struct {
	Fake         bool          // -fake: the built-in fake server even with a key
	FakeDuration time.Duration // -fake-duration: how long its tasks take
	MaxWait      time.Duration // -max-wait
	Poll         time.Duration // -poll: the first and shortest wait between polls
}

// Register adds -fake, -fake-duration, -max-wait and -poll to fs; waitHelp
// says what -max-wait waits for.
func (f *Flags) Register(fs *flag.FlagSet, waitHelp string) {
	fs.BoolVar(&f.Fake, "fake", false, "use the built-in fake server even if MULEROUTER_API_KEY is set")
	fs.DurationVar(&f.MaxWait, "max-wait", qwenedit.DefaultMaxWait, "how long to wait for "+waitHelp)
	fs.DurationVar(&f.Poll, "poll", qwenedit.DefaultPollInterval, "first (and shortest) wait between status checks")
	fs.DurationVar(&f.FakeDuration, "fake-duration", 3*time.Second, "how long a task takes on the built-in fake server")
}

// PollOptions are the poll options the flags ask for.
func (f *Flags) PollOptions() []qwenedit.PollOption {
	return []qwenedit.PollOption{qwenedit.WithMaxWait(f.MaxWait), qwenedit.WithPollInterval(f.Poll)}
}

// Parse parses args into fs: flag.ErrHelp as it is, any other failure as a
// UsageError (the flag package has printed it with the usage).
func Parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return UsageError{Err: err}
	}
	return nil
}
