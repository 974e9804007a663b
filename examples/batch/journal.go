package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"time"
)

// journalName is the journal's file name inside the output folder.
const journalName = "batch.jsonl"

// Journal statuses.
const (
	statusSubmitted = "submitted" // a task exists (and is paid for): wait for it, never submit again
	statusSaved     = "saved"     // the results are in the output folder
	statusFailed    = "failed"    // the task failed or is gone: the next run submits a new one
	statusUnknown   = "unknown"   // a submit whose outcome is unknown: a task may exist
)

// record is one line of the journal. The last line for a file says where it stands.
type record struct {
	File    string    `json:"file"`              // name inside the input folder
	TaskID  string    `json:"task_id,omitempty"` // MuleRouter's task ID
	Status  string    `json:"status"`
	Outputs []string  `json:"outputs,omitempty"` // names inside the output folder, for saved
	Error   string    `json:"error,omitempty"`
	Prompt  string    `json:"prompt"`
	Server  string    `json:"server"` // the API base URL: task IDs mean nothing elsewhere
	Time    time.Time `json:"time"`
}

// journal appends records to batch.jsonl, one JSON object a line, and syncs
// each to disk before returning, so that a task ID survives a crash right
// after the submit. It is safe for concurrent use.
type journal struct {
	mu sync.Mutex
	f  *os.File
}

// readJournal returns the last record of every file whose records came from
// server, and the number of lines it skipped: those of other servers (an
// earlier run against the built-in fake, whose tasks died with it) and
// unreadable ones (a line cut short by a crash). A missing journal is empty.
func readJournal(path, server string) (last map[string]record, skipped int, err error) {
	last = map[string]record{}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return last, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil || r.File == "" || r.Server != server {
			skipped++
			continue
		}
		last[r.File] = r
	}
	if err := sc.Err(); err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", path, err)
	}
	return last, skipped, nil
}

// openJournal opens path for appending, creating it if needed. If a crash
// cut the last line short, it ends that line first so that the next record
// starts on a line of its own.
func openJournal(path string) (*journal, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	if err := endLastLine(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &journal{f: f}, nil
}

func endLastLine(f *os.File) error {
	info, err := f.Stat()
	if err != nil || info.Size() == 0 {
		return err
	}
	last := make([]byte, 1)
	if _, err := f.ReadAt(last, info.Size()-1); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if last[0] == '\n' {
		return nil
	}
	_, err = f.Write([]byte{'\n'})
	return err
}

// append writes r as one line and syncs it to disk.
func (j *journal) append(r record) error {
	if r.Time.IsZero() {
		r.Time = time.Now().UTC()
	}
	line, err := json.Marshal(r)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, err := j.f.Write(line); err != nil {
		return fmt.Errorf("write %s: %w", j.f.Name(), err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", j.f.Name(), err)
	}
	return nil
}

func (j *journal) Close() error { return j.f.Close() }
