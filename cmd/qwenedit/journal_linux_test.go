package main

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-b62e15c8/qwenedit/qwenedittest"
)

// limitFileSize makes writes past size bytes of any file fail with EFBIG,
// as on a full disk, until the returned function restores the limit. The
// limit is the process's: the test must not run in parallel.
func limitFileSize(t *testing.T, size int64) (restore func()) {
	t.Helper()
	var old syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old))
	lim := old
	lim.Cur = uint64(size)
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim))
	restored := false
	restore = func() {
		if !restored {
			restored = true
			require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old))
		}
	}
	t.Cleanup(restore)
	return restore
}

func TestAFailedAppendLeavesNoHalfLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), journalName)
	j, err := openJournal(path)
	require.NoError(t, err)
	defer j.Close()
	require.NoError(t, j.append(record{File: "a.png", TaskID: "t-a", Status: statusSubmitted}))
	info, err := os.Stat(path)
	require.NoError(t, err)

	restore := limitFileSize(t, info.Size()+40) // room for part of the next line
	require.Error(t, j.append(record{File: "b.png", TaskID: "t-b", Status: statusSubmitted}))
	restore()
	after, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, info.Size(), after.Size(), "the part written is cut off")

	require.NoError(t, j.append(record{File: "c.png", TaskID: "t-c", Status: statusSubmitted}))
	recs, unreadable, err := j.read()
	require.NoError(t, err)
	assert.Zero(t, unreadable)
	require.Len(t, recs, 2)
	assert.Equal(t, "a.png", recs[0].File)
	assert.Equal(t, "c.png", recs[1].File, "the record after the failure is whole")
}

func TestAJournalThatCannotBeWrittenStopsTheBatch(t *testing.T) {
	srv, e := fakeAPI(t)
	in, out := t.TempDir(), t.TempDir()
	writeImages(t, in, "a.png", "b.png", "c.png")

	restore := limitFileSize(t, 40) // the journal is full after 40 bytes
	o := batchRun(context.Background(), e, "-in", in, "-prompt", prompt, "-out", out, "-concurrency", "1")
	restore()
	assert.Equal(t, exitFailure, o.code)
	assert.Contains(t, o.errMsg(), "stopped: task "+srv.Tasks()[0].ID+" was submitted but could not be journaled: write "+filepath.Join(out, journalName))
	assert.Equal(t, 1, srv.SubmitCount(), "no submit after the journal failed: the next run could pay twice")
	assert.Contains(t, o.stdout, "3 images: 0 edited, 0 already saved, 1 failed, 2 to resume")
	assert.Contains(t, o.stdout, "the next run does not know of it and would submit the file again (paying twice)")
	info, err := os.Stat(filepath.Join(out, journalName))
	require.NoError(t, err)
	assert.Zero(t, info.Size(), "no half line left")
}

func TestAnUnknownOutcomeThatCannotBeJournaledStopsTheBatch(t *testing.T) {
	srv, e := fakeAPI(t)
	// The task is created, but the answer is lost.
	srv.InjectFault(qwenedittest.Fault{Method: "POST", Kind: qwenedittest.FaultStatus, Status: 502, AfterCreate: true})
	in, out := t.TempDir(), t.TempDir()
	writeImages(t, in, "a.png", "b.png", "c.png")

	restore := limitFileSize(t, 40)
	o := batchRun(context.Background(), e, "-in", in, "-prompt", prompt, "-out", out, "-concurrency", "1")
	restore()
	assert.Equal(t, exitFailure, o.code)
	assert.Contains(t, o.errMsg(), "; and this could not be journaled: write "+filepath.Join(out, journalName))
	assert.Equal(t, 1, requestsTo(srv, "POST", "/generation"), "no submit after the journal failed")
	assert.Contains(t, o.stdout, "3 images: 0 edited, 0 already saved, 1 failed, 2 to resume")
}
