// Command qwenedit edits images with Qwen Image Edit Max on MuleRouter.
//
//	go install github.com/seed-b62e15c8/qwenedit/cmd/qwenedit@latest
//	qwenedit edit -image cat.png -prompt "Put a red scarf on the cat" -out out
//
// Commands:
//
//	edit      submit an edit of 1 to 3 images, wait for it and save the results
//	status    show a task's status and result URLs
//	wait      wait for a task submitted earlier and save its results
//	download  save result URLs, or a finished task's results
//	batch     edit every image in a folder, or every line of a manifest; a
//	          rerun resumes without paying twice
//
// It reads MULEROUTER_API_KEY, MULEROUTER_BASE_URL and MULEROUTER_SITE, like
// MuleRouter's own command-line tool. Without MULEROUTER_API_KEY (or with
// -fake) edit and batch run against the built-in fake server of package
// qwenedittest: nothing is sent to MuleRouter and nothing is charged, and
// the "edit" is a synthetic transform of the input.
//
// Every command takes -h. Exit status: 0 done, 1 failed, 2 usage error
// (nothing was sent).
//
// Ctrl-C (SIGINT or SIGTERM) stops in two steps. The first starts no new
// submit but lets the ones on the wire finish (for at most 30 s), so that
// edit can print, and batch journal, their task IDs; then the command exits
// 1 with the way to resume. The second aborts at once, leaving a submit cut
// off with an unknown outcome. Commands that submit nothing stop at the first.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/seed-b62e15c8/qwenedit"
)

// Exit statuses, the same for every command.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// command is one subcommand.
type command struct {
	name    string
	args    string // the usage line after "qwenedit <name> "
	summary string // one line, for the command list
	about   string // the paragraphs of its -h
	run     func(ctx context.Context, c *cli, args []string) error
	// finishesUploads: the command watches cli.stop itself, lets the
	// submits on the wire finish after the first Ctrl-C and starts no new
	// one; its ctx ends only at the second Ctrl-C or inFlightGrace after
	// the first. Other commands' ctx ends at the first Ctrl-C.
	finishesUploads bool
}

// commands are the subcommands, in the order the help lists them.
var commands = []*command{editCommand, statusCommand, waitCommand, downloadCommand, batchCommand}

// cli is one invocation: its environment and where it writes.
type cli struct {
	cmd       *command // the command being run
	getenv    func(string) string
	stdout    io.Writer
	stderr    io.Writer
	stderrTTY bool            // stderr is a terminal: progress is redrawn in place
	json      bool            // -json: results as JSON objects on stdout
	printed   bool            // a JSON object was printed
	stop      <-chan struct{} // closed by the first Ctrl-C; nil: never
}

// inFlightGrace bounds how long the submits on the wire may take to finish
// after the first Ctrl-C: an upload that hangs must not hold the user.
const inFlightGrace = 30 * time.Second

func main() {
	ctx, abort := context.WithCancel(context.Background())
	stop := make(chan struct{})
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go relayInterrupts(sigs, stop, abort)
	code := runWith(ctx, interrupts{stop: stop, grace: inFlightGrace}, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	abort()
	os.Exit(code)
}

// run is the whole program: it runs the command args names and returns the
// exit status. getenv reads the environment (os.Getenv in main); nothing
// else is read from the process, so tests run it in-process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	return runWith(ctx, interrupts{}, args, getenv, stdout, stderr)
}

// runWith is run with Ctrl-C in two steps: in.stop, then ctx's end.
func runWith(ctx context.Context, in interrupts, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	c := &cli{getenv: getenv, stdout: stdout, stderr: stderr, stderrTTY: isTerminal(stderr), stop: in.stop}
	if len(args) == 0 {
		fmt.Fprint(stderr, mainHelp())
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "-h", "-help", "--help", "help":
		if len(rest) > 0 && lookup(rest[0]) != nil {
			return runWith(ctx, in, []string{rest[0], "-h"}, getenv, stdout, stderr)
		}
		fmt.Fprint(stdout, mainHelp())
		return exitOK
	case "version", "-version", "--version":
		fmt.Fprintf(stdout, "qwenedit %s\n", qwenedit.Version)
		return exitOK
	}
	cmd := lookup(name)
	if cmd == nil {
		fmt.Fprintf(stderr, "qwenedit: unknown command %q (run 'qwenedit -h' for the commands)\n", name)
		return exitUsage
	}
	c.cmd = cmd
	ctx, cancel := in.context(ctx, cmd.finishesUploads)
	defer cancel()
	err := cmd.run(ctx, c, rest)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errHelp):
		return exitOK
	}
	f := asFailure(err)
	if c.json && !c.printed {
		c.printJSON(result{Error: &jsonError{Kind: f.kind, Message: f.msg, TaskID: f.taskID}, TaskID: f.taskID})
	}
	msg := f.msg
	if f.help {
		msg += " (run 'qwenedit " + cmd.name + " -h' for help)"
	}
	fmt.Fprintf(stderr, "qwenedit %s: %s\n", cmd.name, msg)
	return f.code
}

func lookup(name string) *command {
	for _, cmd := range commands {
		if cmd.name == name {
			return cmd
		}
	}
	return nil
}
