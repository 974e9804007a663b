package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/seed-b62e15c8/qwenedit"
)

// journalName is the journal's file name inside the output folder.
const journalName = "batch.jsonl"

// Journal statuses. A paid submit is journaled ahead: "submitting" before
// the request leaves, then "submitted" with the task ID once the answer
// came, "unknown" if the outcome is unknown, or "failed" if the submit
// failed in a way known to have created nothing. Whatever instant the
// process dies, the last record of a file that may have a task is never
// one that leads the next run to submit it again.
const (
	statusSubmitting = "submitting" // a submit was on its way: a task may exist, its ID unknown (like statusUnknown)
	statusSubmitted  = "submitted"  // a task exists (and is paid for): wait for it, never submit again
	statusSaved      = "saved"      // the results are in the output folder
	statusFailed     = "failed"     // the task failed or is gone, or the submit created none: the next run submits anew
	statusUnknown    = "unknown"    // a submit whose outcome is unknown: a task may exist
)

// record is one line of the journal. The last line for a file (or a
// manifest's line) says where it stands.
type record struct {
	File     string   `json:"file"`               // name inside the input folder, or a manifest line's out name
	In       string   `json:"in"`                 // the input folder or manifest, absolute: one journal, one input
	Manifest bool     `json:"manifest,omitempty"` // In is a manifest (batch -manifest)
	Line     int      `json:"line,omitempty"`     // the manifest line, for the user's eyes: the key is File
	SHA256   string   `json:"sha256"`             // of the input file, or of a manifest line's identity: a changed one is a new edit
	TaskID   string   `json:"task_id,omitempty"`  // MuleRouter's task ID
	Status   string   `json:"status"`
	Outputs  []string `json:"outputs,omitempty"` // names inside the output folder, for saved
	Error    string   `json:"error,omitempty"`
	Prompt   string   `json:"prompt"`
	// The request's other fields (n, size, seed, ...): with the prompt and
	// the image, whose bytes SHA256 names, the whole request.
	requestFields
	Model       string    `json:"model,omitempty"`        // "" for the default model, as in journals written before the field
	Server      string    `json:"server"`                 // the API base URL: task IDs mean nothing elsewhere
	BuiltinFake bool      `json:"builtin_fake,omitempty"` // written against the in-process fake, whose tasks ended with its run
	Time        time.Time `json:"time"`
}

// model is the model r's request went to.
func (r record) model() string {
	if r.Model == "" {
		return qwenedit.DefaultModel
	}
	return r.Model
}

// journalModel is how a record spells model: "" for the default.
func journalModel(model string) string {
	if model == qwenedit.DefaultModel {
		return ""
	}
	return model
}

// followable reports whether r's task can be waited for, or its results
// downloaded, from server: the task was created there, and not by a
// built-in fake server (a fake on another run's random port, gone with it).
func (r record) followable(server string) bool {
	return !r.BuiltinFake && r.Server == server
}

// journal appends records to batch.jsonl, one JSON object a line, and syncs
// each to disk before returning, so that a submit's start, and then its
// task ID, survive a crash at any instant. It holds a lock on the journal from open to Close, so
// that two runs on one output folder cannot both submit the same files. It
// is safe for concurrent use.
type journal struct {
	mu     sync.Mutex
	f      *os.File
	size   int64 // the whole lines written so far: a failed append is cut back to it
	broken error // set when a failed append could not be cut back: nothing more is appended
	unlock func()
}

// syncDirFunc syncs a folder so that a new name in it survives a crash;
// tests replace it to see it called.
var syncDirFunc = syncDir

// openJournal opens path for appending, creating it if needed, and locks it
// against other runs: it fails if another run holds it. If a crash cut the
// last line short, it ends that line first so that the next record starts
// on a line of its own.
func openJournal(path string) (*journal, error) {
	f, err := openOrCreate(path)
	if err != nil {
		return nil, err
	}
	unlock, err := lockFile(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	j := &journal{f: f, unlock: unlock}
	if err := j.endLastLine(); err != nil {
		j.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return j, nil
}

// openOrCreate opens path for reading and appending. If it creates the
// file, it syncs the folder too: syncing the file alone does not make its
// name survive a crash, and with it every record.
func openOrCreate(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
	}
	if err != nil {
		return nil, err
	}
	if err := syncDirFunc(filepath.Dir(path)); err != nil {
		f.Close()
		return nil, fmt.Errorf("sync %s: %w", filepath.Dir(path), err)
	}
	return f, nil
}

// endLastLine ends a last line cut short by a crash, and notes the size.
func (j *journal) endLastLine() error {
	info, err := j.f.Stat()
	if err != nil || info.Size() == 0 {
		return err
	}
	j.size = info.Size()
	last := make([]byte, 1)
	if _, err := j.f.ReadAt(last, j.size-1); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if last[0] == '\n' {
		return nil
	}
	if _, err := j.f.Write([]byte{'\n'}); err != nil {
		return err
	}
	j.size++
	return nil
}

// read returns the journal's records, oldest first, and the number of
// lines it could not read: a line cut short by a crash, or one that is
// not a record, however long (a line is never a dead end that stops
// every run).
func (j *journal) read() (recs []record, unreadable int, err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	rd := bufio.NewReader(io.NewSectionReader(j.f, 0, j.size))
	for {
		line, err := rd.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			var r record
			if jerr := json.Unmarshal(line, &r); jerr != nil || r.File == "" || r.Status == "" {
				unreadable++
			} else {
				recs = append(recs, r)
			}
		}
		switch {
		case errors.Is(err, io.EOF):
			return recs, unreadable, nil
		case err != nil:
			return nil, 0, fmt.Errorf("read %s: %w", j.f.Name(), err)
		}
	}
}

// lastRecords returns the last record of every file. It leaves out the
// lines of a built-in fake server other than saved ones: its tasks ended
// with its run, but the results it saved are in the output folder. stale
// counts the files whose last line it left out.
func lastRecords(recs []record) (last map[string]record, stale int) {
	last = map[string]record{}
	staleFiles := map[string]bool{}
	for _, r := range recs {
		dead := r.BuiltinFake && r.Status != statusSaved
		staleFiles[r.File] = dead
		if !dead {
			last[r.File] = r
		}
	}
	for _, dead := range staleFiles {
		if dead {
			stale++
		}
	}
	return last, stale
}

// batchIdentity is what one output folder's journal must keep the same
// from run to run: its records name files (or manifest lines) by name
// alone, and the request they stand for.
type batchIdentity struct {
	in       string        // the input folder or manifest, absolute
	manifest bool          // in is a manifest: each line has its prompt and fields
	prompt   string        // a folder's: the prompt of every image
	fields   requestFields // a folder's: the other fields of every request
	model    string
}

// describe is the input as the user gave it: "the folder X" or "the manifest X".
func describeInput(in string, manifest bool) string {
	if manifest {
		return "the manifest " + in
	}
	return "the folder " + in
}

// checkBatch refuses a journal of another batch: one output folder holds
// one batch, an input folder edited with one request, or one manifest.
// Found before anything is sent, a refusal exits 2.
func checkBatch(path string, recs []record, want batchIdentity) error {
	for _, r := range recs {
		switch {
		case r.In == "":
			return configf("%s was written by an older version of this program, which did not record the input folder; use another -out", path)
		case r.In != want.in || r.Manifest != want.manifest:
			flag := "-in"
			if r.Manifest {
				flag = "-manifest"
			}
			return configf("%s records a batch of %s, not of %s; use another -out, or %s %s to resume it",
				path, describeInput(r.In, r.Manifest), describeInput(want.in, want.manifest), flag, shellQuote(r.In))
		case r.model() != want.model:
			return configf("%s records a batch with -model %s, not %s; use another -out, or -model %s to resume it",
				path, r.model(), want.model, r.model())
		case want.manifest:
			// Each line has its own request: its identity is in SHA256.
		case r.Prompt != want.prompt:
			return configf("%s records a batch with another prompt (%q); use another -out, or the same -prompt to resume it", path, r.Prompt)
		case r.String() != want.fields.String():
			return configf("%s records a batch with other request fields (%s), not %s; use another -out, or the same flags to resume it (-resume takes them from the journal)",
				path, orNone(r.String()), orNone(want.fields.String()))
		}
	}
	return nil
}

// orNone is flags, or says that there are none.
func orNone(flags string) string {
	if flags == "" {
		return "none: the server's defaults"
	}
	return flags
}

// append writes r as one line and syncs it to disk. If that fails, it cuts
// off what it wrote, so that the next record starts a line of its own
// instead of being glued to half a line, and lost with it.
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
	if j.broken != nil {
		return j.broken
	}
	if err := j.write(line); err != nil {
		if terr := j.f.Truncate(j.size); terr != nil {
			j.broken = fmt.Errorf("%s ends with half a line (%w): not written to any more", j.f.Name(), terr)
			return errors.Join(err, j.broken)
		}
		return err
	}
	j.size += int64(len(line))
	return nil
}

// write writes line and syncs it; its errors name the file.
func (j *journal) write(line []byte) error {
	if _, err := j.f.Write(line); err != nil {
		return err
	}
	return j.f.Sync()
}

// Close releases the lock and closes the file.
func (j *journal) Close() error {
	err := j.f.Close()
	j.unlock()
	return err
}

// fileSum returns the hex SHA-256 of a file's content.
func fileSum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
