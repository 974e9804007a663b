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
//	batch     edit every image in a folder; a rerun resumes without paying twice
//
// It reads MULEROUTER_API_KEY, MULEROUTER_BASE_URL and MULEROUTER_SITE, like
// MuleRouter's own command-line tool. Without MULEROUTER_API_KEY (or with
// -fake) edit and batch run against the built-in fake server of package
// qwenedittest: nothing is sent to MuleRouter and nothing is charged, and
// the "edit" is a synthetic transform of the input.
//
// Every command takes -h. Exit status: 0 done, 1 failed, 2 usage error
// (nothing was sent).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

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
}

// commands are the subcommands, in the order the help lists them.
var commands = []*command{editCommand, statusCommand, waitCommand, downloadCommand, batchCommand}

// cli is one invocation: its environment and where it writes.
type cli struct {
	cmd       *command // the command being run
	getenv    func(string) string
	stdout    io.Writer
	stderr    io.Writer
	stderrTTY bool // stderr is a terminal: progress is redrawn in place
	json      bool // -json: results as JSON objects on stdout
	printed   bool // a JSON object was printed
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // the first Ctrl-C asks for a clean stop; a second one kills
	}()
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program: it runs the command args names and returns the
// exit status. getenv reads the environment (os.Getenv in main); nothing
// else is read from the process, so tests run it in-process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	c := &cli{getenv: getenv, stdout: stdout, stderr: stderr, stderrTTY: isTerminal(stderr)}
	if len(args) == 0 {
		fmt.Fprint(stderr, mainHelp())
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "-h", "-help", "--help", "help":
		if len(rest) > 0 && lookup(rest[0]) != nil {
			return run(ctx, []string{rest[0], "-h"}, getenv, stdout, stderr)
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
