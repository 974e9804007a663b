package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// isTerminal reports whether w is a terminal (a character device), without
// any dependency. Pipes, files and test buffers are not.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// progress reports a batch on stderr: on a terminal as a bar redrawn in
// place with the important lines above it, elsewhere (a pipe, a log file,
// CI) as one plain line per event. It is safe for concurrent use.
type progress struct {
	mu                        sync.Mutex
	w                         io.Writer
	tty                       bool
	total                     int
	finished, failed, running int
	start                     time.Time
	stop                      chan struct{}
	stopped                   sync.WaitGroup
}

// newProgress starts reporting on w. On a terminal a goroutine redraws the
// bar every second, so the elapsed time moves; call close to stop it.
func newProgress(w io.Writer, tty bool, total int) *progress {
	p := &progress{w: w, tty: tty, total: total, start: time.Now(), stop: make(chan struct{})}
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
func (p *progress) started() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.running++
	p.redraw()
}

// ended counts a file as done with (edited or failed), or as left to the
// next run (resumable), and logs msg: on a terminal only failures.
func (p *progress) ended(st state, format string, args ...any) {
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
func (p *progress) skipped(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finished++
	p.line(false, format, args...)
}

// logf logs an intermediate event: a plain line, nothing on a terminal.
func (p *progress) logf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.line(false, format, args...)
}

// warnf logs something the user must see, in both modes.
func (p *progress) warnf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.line(true, format, args...)
}

// line writes one message; on a terminal only the important ones, above the bar.
func (p *progress) line(important bool, format string, args ...any) {
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

func (p *progress) redraw() {
	if p.tty {
		fmt.Fprintf(p.w, "\r%s\033[K", bar(p.finished, p.failed, p.running, p.total, time.Since(p.start)))
	}
}

// close stops the redrawing and leaves the final bar on its own line.
func (p *progress) close() {
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
