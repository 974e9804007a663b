package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/seed-b62e15c8/qwenedit"
)

// errHelp is returned after -h printed a command's help: exit status 0.
var errHelp = errors.New("help printed")

// newFlagSet returns a FlagSet that prints nothing itself: parse does.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parse parses args into fs and returns the positional arguments. Flags
// and positional arguments may come in any order (qwenedit wait ID -out
// DIR); "--" ends the flags. -h prints the command's help on stdout and
// returns errHelp; a bad flag returns a usage failure.
func (c *cli) parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(c.stdout, commandHelp(c.cmd, fs))
				return nil, errHelp
			}
			return nil, usagef("%v", err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

const envHelp = `Environment:
  MULEROUTER_API_KEY   your API key (https://www.mulerouter.ai/app/api-keys). Without it, edit
                       and batch run against the built-in fake server and nothing is charged;
                       status, wait and download TASK_ID need it.
  MULEROUTER_BASE_URL  the API origin, e.g. https://api.mulerouter.ai; wins over MULEROUTER_SITE
  MULEROUTER_SITE      mulerouter (https://api.mulerouter.ai, the default) or
                       mulerun (https://api.mulerun.com)
`

const exitHelp = `Exit status:
  0  done
  1  failed (the message says whether a task exists, and how to resume it)
  2  usage error: bad flags, arguments or environment, or a request refused
     before sending it; nothing was sent
`

// commandHelp is what -h prints for cmd.
func commandHelp(cmd *command, fs *flag.FlagSet) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: qwenedit %s %s\n\n%s\n\nFlags (-flag or --flag):\n", cmd.name, cmd.args, cmd.about)
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	b.WriteString("\n" + envHelp + "\n" + exitHelp)
	return b.String()
}

// mainHelp is what qwenedit -h prints.
func mainHelp() string {
	var b strings.Builder
	b.WriteString("qwenedit edits images with Qwen Image Edit Max on MuleRouter.\n\nUsage:\n")
	for _, cmd := range commands {
		fmt.Fprintf(&b, "  qwenedit %s %s\n", cmd.name, cmd.args)
	}
	b.WriteString("\nCommands:\n")
	for _, cmd := range commands {
		fmt.Fprintf(&b, "  %-9s %s\n", cmd.name, cmd.summary)
	}
	b.WriteString("  version   print the version\n\nRun 'qwenedit COMMAND -h' for a command's flags.\n\n" + envHelp + "\n" + exitHelp)
	return b.String()
}

// imageList collects repeated -image flags.
type imageList []string

func (l *imageList) String() string     { return strings.Join(*l, ",") }
func (l *imageList) Set(v string) error { *l = append(*l, v); return nil }

// optionalBool is a boolean flag that stays unset unless given, so that
// the server's default applies; a bare -flag means true.
type optionalBool struct{ v *bool }

func (b *optionalBool) String() string {
	if b == nil || b.v == nil {
		return ""
	}
	return strconv.FormatBool(*b.v)
}

func (b *optionalBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("want true or false")
	}
	b.v = &v
	return nil
}

// IsBoolFlag lets the flag be given bare, as -flag.
func (b *optionalBool) IsBoolFlag() bool { return true }

// waitFlags are the flags of the commands that wait for a task.
type waitFlags struct {
	poll    time.Duration
	maxWait time.Duration
}

// register adds -poll and -max-wait; resume says how a task that outlives
// -max-wait is picked up.
func (w *waitFlags) register(fs *flag.FlagSet, resume string) {
	fs.DurationVar(&w.poll, "poll", 0, "first (and shortest) wait between status checks; it grows to 10s (default 3s; 10ms on the built-in fake)")
	fs.DurationVar(&w.maxWait, "max-wait", (15 * time.Minute), "stop waiting for a task after this long (0: no limit); the task goes on: "+resume)
}

func (w *waitFlags) check() error {
	switch {
	case w.poll < 0:
		return usagef("-poll must not be negative")
	case w.maxWait < 0:
		return usagef("-max-wait must not be negative")
	}
	return nil
}

// options are the poll options for WaitForResult and Edit: the flags,
// else the SDK's defaults, else, on the built-in fake, whose tasks take no
// time, a fast schedule.
func (w *waitFlags) options(fake bool) []qwenedit.PollOption {
	opts := []qwenedit.PollOption{qwenedit.WithMaxWait(w.maxWait)}
	switch {
	case w.poll > 0:
		opts = append(opts, qwenedit.WithPollInterval(w.poll))
	case fake:
		opts = append(opts, qwenedit.WithPollInterval(10*time.Millisecond), qwenedit.WithMaxPollInterval(200*time.Millisecond))
	}
	return opts
}

// registerModel adds -model.
func registerModel(fs *flag.FlagSet, model *string) {
	fs.StringVar(model, "model", qwenedit.DefaultModel, "the model, qwen-image-edit-max or qwen-image-edit-plus (they take the same requests)")
}

// registerJSON adds -json.
func (c *cli) registerJSON(fs *flag.FlagSet) {
	fs.BoolVar(&c.json, "json", false, "print one JSON object per task on stdout, for scripts (download: per URL; batch: per image or manifest line), "+
		"with \"saved\" listing every file of its results and an \"error\" {kind, message, task_id} on failure (messages still go to stderr)")
}

// shellQuote quotes s for a POSIX shell when it needs it, for the commands
// the program suggests.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@+,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
