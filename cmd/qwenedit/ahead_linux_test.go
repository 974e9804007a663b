package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests limit the process's file size: they must not run in parallel.

func TestAJournalThatCannotRecordASubmitStartingSendsNothing(t *testing.T) {
	srv, e := fakeAPI(t)
	in, out := t.TempDir(), t.TempDir()
	writeImages(t, in, "a.png", "b.png", "c.png")

	restore := limitFileSize(t, 40) // the journal is full after 40 bytes
	o := batchRun(context.Background(), e, "-in", in, "-prompt", prompt, "-out", out, "-concurrency", "1")
	restore()
	assert.Equal(t, exitFailure, o.code)
	assert.Contains(t, o.errMsg(), "stopped: not submitted, as the journal could not record that its submit starts: write "+filepath.Join(out, journalName))
	assert.Zero(t, requestsTo(srv, http.MethodPost, "/generation"), "no submit without its start journaled")
	assert.Zero(t, srv.SubmitCount())
	assert.Contains(t, o.stdout, "3 images: 0 edited, 0 already saved, 1 failed, 2 to resume")
	assert.Contains(t, o.stdout, "nothing was sent: make room for the journal, then run again")
	info, err := os.Stat(filepath.Join(out, journalName))
	require.NoError(t, err)
	assert.Zero(t, info.Size(), "no half line left")
}

func TestATaskIDThatCannotBeJournaledIsNotSubmittedAgain(t *testing.T) {
	srv, e := fakeAPI(t)
	in, out := t.TempDir(), t.TempDir()
	writeImages(t, in, "a.png")
	args := []string{"-in", in, "-prompt", prompt, "-out", out}

	// Room for the line that says the submit starts (its time takes 20 to
	// 30 characters), not for the one with the task ID (47 more).
	sum, err := fileSum(filepath.Join(in, "a.png"))
	require.NoError(t, err)
	line, err := json.Marshal(record{File: "a.png", In: absIn(t, in), SHA256: sum, Status: statusSubmitting, Prompt: prompt, Server: srv.URL()})
	require.NoError(t, err)
	restore := limitFileSize(t, int64(len(line))+1+25)
	o := batchRun(context.Background(), e, args...)
	restore()
	assert.Equal(t, exitFailure, o.code)
	require.Equal(t, 1, srv.SubmitCount())
	id := srv.Tasks()[0].ID
	assert.Contains(t, o.errMsg(), "stopped: task "+id+" was submitted but could not be journaled: write "+filepath.Join(out, journalName))
	assert.Contains(t, o.stdout, "the journal records only that its submit started: the next run reports an unknown outcome and does not submit it again")
	recs := journalRecords(t, out)
	require.Len(t, recs, 1)
	assert.Equal(t, statusSubmitting, recs[0].Status)

	o = batchRun(context.Background(), e, args...)
	assert.Equal(t, exitFailure, o.code)
	assert.Equal(t, 1, srv.SubmitCount(), "not submitted again")
	assert.Contains(t, o.stdout, "a.png: an earlier run stopped while submitting it")
}
