package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/seed-b62e15c8/qwenedit"
)

// isTerminal reports whether w is a terminal, as the system says it (a
// terminal's settings can be read), so that /dev/null, a character device
// too, is not one. Pipes, files and test buffers are not.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// result is what -json prints for one task (or URL, or batch file or
// manifest line): one JSON object on a line of stdout, Saved listing every
// file of its results.
type result struct {
	File         string        `json:"file,omitempty"`          // batch: the input file
	Line         int           `json:"line,omitempty"`          // batch -manifest: the line
	Name         string        `json:"name,omitempty"`          // batch -manifest: the line's out name, the stem of its results
	URL          string        `json:"url,omitempty"`           // download: the URL
	TaskID       string        `json:"task_id,omitempty"`       // the task, once there is one
	Status       string        `json:"status,omitempty"`        // the task's status, as the server said it
	Outcome      string        `json:"outcome,omitempty"`       // batch: edited, skipped, failed or resumable
	Images       []string      `json:"images,omitempty"`        // result URLs, valid for 24 hours
	Saved        []string      `json:"saved,omitempty"`         // the files that hold the results
	NotReplaced  []notReplaced `json:"not_replaced,omitempty"`  // files in the way, left alone
	AlreadySaved []string      `json:"already_saved,omitempty"` // files of saved that held their result already: nothing written
	Next         string        `json:"next,omitempty"`          // batch: what the next run does about the file
	Fake         bool          `json:"fake,omitempty"`          // made by the built-in fake server: not a real edit
	Error        *jsonError    `json:"error,omitempty"`         // set on failure
}

// notReplaced is a file that had the name a result was to be saved under,
// with other content: it was left alone, and the result saved as SavedAs.
type notReplaced struct {
	Path    string `json:"path"`
	SavedAs string `json:"saved_as"`
}

// jsonError is a failure in -json output.
type jsonError struct {
	Kind    string `json:"kind"` // usage, invalid_request, unauthorized, task_failed, wait_timeout, ...
	Message string `json:"message"`
	TaskID  string `json:"task_id,omitempty"`
}

// failed sets r's error from f, and its task and status if f knows them.
func (r *result) failed(f *failure) {
	if r.TaskID == "" {
		r.TaskID = f.taskID
	}
	if r.Status == "" {
		r.Status = string(lastStatusOf(f.err))
	}
	r.Error = &jsonError{Kind: f.kind, Message: f.msg, TaskID: r.TaskID}
}

// fail reports f: with -json, res with f as its error on stdout. It
// returns f, for the command to return.
func (c *cli) fail(res result, f *failure) error {
	if c.json {
		res.failed(f)
		c.printJSON(res)
	}
	return f
}

// printJSON writes r as one line of JSON on stdout.
func (c *cli) printJSON(r result) {
	c.printed = true
	enc := json.NewEncoder(c.stdout)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(r)
}

// taskProgress shows one task's progress on stderr: on a terminal a status
// line rewritten in place, elsewhere (a pipe, a log file, CI) one line per
// change of status. It is safe for concurrent use.
type taskProgress struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	id    string
	start time.Time
	last  qwenedit.TaskStatus
	drawn bool
}

func (c *cli) newTaskProgress(id string) *taskProgress {
	return &taskProgress{w: c.stderr, tty: c.stderrTTY, id: id, start: time.Now()}
}

// update shows the status of a poll.
func (p *taskProgress) update(t *qwenedit.Task) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[Ktask %s: %s  %s", p.id, t.Status, time.Since(p.start).Truncate(time.Second))
		p.drawn = true
	} else if t.Status != p.last {
		fmt.Fprintf(p.w, "task %s: %s\n", p.id, t.Status)
	}
	p.last = t.Status
}

// done ends the status line on a terminal; p may be nil.
func (p *taskProgress) done() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}

// batchProgress reports a batch on stderr: on a terminal as a bar redrawn
// in place with the important lines above it, elsewhere as one plain line
// per event. It is safe for concurrent use.
type batchProgress struct {
	mu                        sync.Mutex
	w                         io.Writer
	tty                       bool
	total                     int
	finished, failed, running int
	start                     time.Time
	downSince                 time.Time // the server has not answered since; zero: it answers
	stop                      chan struct{}
	stopped                   sync.WaitGroup
}

// newBatchProgress starts reporting on w. On a terminal a goroutine redraws
// the bar every second, so the elapsed time moves; call close to stop it.
func newBatchProgress(w io.Writer, tty bool, total int) *batchProgress {
	p := &batchProgress{w: w, tty: tty, total: total, start: time.Now(), stop: make(chan struct{})}
	if tty {
		p.redraw()
		p.stopped.Add(1)
		go func() {
			defer p.stopped.Done()
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-t.C:
					p.mu.Lock()
					p.redraw()
					p.mu.Unlock()
				case <-p.stop:
					return
				}
			}
		}()
	}
	return p
}

// started counts a file as in progress.
func (p *batchProgress) started() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.running++
	p.redraw()
}

// ended counts a file as done with (edited or failed), or as left to the
// next run (resumable), and logs msg: on a terminal only failures.
func (p *batchProgress) ended(st state, format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.running--
	if st != resumable {
		p.finished++
	}
	if st == failed {
		p.failed++
	}
	p.line(st == failed, format, args...)
}

// skipped counts a file that needs no work, and logs msg.
func (p *batchProgress) skipped(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finished++
	p.line(false, format, args...)
}

// limit says that the server runs at most running of the batch's tasks at
// once (a 429 said so), and how many files wait for one of them to finish.
func (p *batchProgress) limit(running int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.line(true, "server limit: %d running, %d waiting", running, max(0, p.total-p.finished-running))
}

// logf logs an intermediate event: a plain line, nothing on a terminal.
func (p *batchProgress) logf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.line(false, format, args...)
}

// warnf logs something the user must see, in both modes.
func (p *batchProgress) warnf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.line(true, format, args...)
}

// line writes one message; on a terminal only the important ones, above the bar.
func (p *batchProgress) line(important bool, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if !p.tty {
		fmt.Fprintf(p.w, "[%*d/%d] %s\n", len(fmt.Sprint(p.total)), p.finished, p.total, msg)
		return
	}
	if important {
		fmt.Fprintf(p.w, "\r\033[K%s\n", msg)
	}
	p.redraw()
}

func (p *batchProgress) redraw() {
	if !p.tty {
		return
	}
	line := bar(p.finished, p.failed, p.running, p.total, time.Since(p.start))
	if !p.downSince.IsZero() {
		line += "  " + unreachableSince(p.downSince)
	}
	fmt.Fprintf(p.w, "\r%s\033[K", line)
}

// serverReach reports that the server stopped answering at since (down),
// or answers again; reachability calls it.
func (p *batchProgress) serverReach(down bool, since time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if down {
		p.downSince = since
		p.line(true, "%s", unreachableSince(since))
		return
	}
	p.downSince = time.Time{}
	p.line(true, "server answers again (unreachable from %s to %s)", since.Format(time.TimeOnly), time.Now().Format(time.TimeOnly))
}

// unreachableSince says that the server has not answered since t, and
// that the waits go on.
func unreachableSince(t time.Time) string {
	return "server unreachable since " + t.Format(time.TimeOnly) + ", retrying"
}

// close stops the redrawing and leaves the final bar on its own line.
func (p *batchProgress) close() {
	close(p.stop)
	p.stopped.Wait()
	if p.tty {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.redraw()
		fmt.Fprintln(p.w)
	}
}

// bar renders "[#########.....................]  3/10  1 failed  4 running  12s".
func bar(finished, failed, running, total int, elapsed time.Duration) string {
	const width = 30
	filled := 0
	if total > 0 {
		filled = min(width, width*finished/total)
	}
	return fmt.Sprintf("[%s%s] %*d/%d  %d failed  %d running  %s",
		strings.Repeat("#", filled), strings.Repeat(".", width-filled),
		len(fmt.Sprint(total)), finished, total, failed, running, elapsed.Truncate(time.Second))
}
