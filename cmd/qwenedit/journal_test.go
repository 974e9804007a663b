package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCreatingTheJournalSyncsItsFolder(t *testing.T) {
	var synced []string
	syncDirFunc = func(dir string) error {
		synced = append(synced, dir)
		return syncDir(dir)
	}
	t.Cleanup(func() { syncDirFunc = syncDir })
	dir := t.TempDir()
	path := filepath.Join(dir, journalName)

	j, err := openJournal(path)
	require.NoError(t, err)
	require.NoError(t, j.append(record{File: "a.png", Status: statusSubmitted}))
	require.NoError(t, j.Close())
	assert.Equal(t, []string{dir}, synced, "the new name is synced")

	j, err = openJournal(path)
	require.NoError(t, err)
	require.NoError(t, j.Close())
	assert.Equal(t, []string{dir}, synced, "an existing journal needs no folder sync")
}

func TestTheJournalIsLockedWhileOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), journalName)
	j, err := openJournal(path)
	require.NoError(t, err)

	_, err = openJournal(path)
	require.Error(t, err)
	assert.Contains(t, err.Error(), path)
	assert.Contains(t, err.Error(), "another run")

	require.NoError(t, j.Close())
	j, err = openJournal(path)
	require.NoError(t, err, "the lock goes with Close")
	require.NoError(t, j.Close())
}

func TestLastRecords(t *testing.T) {
	saved := record{File: "a.png", TaskID: "1", Status: statusSaved, Server: "real"}
	last, stale := lastRecords([]record{
		saved,
		{File: "a.png", TaskID: "2", Status: statusSubmitted, Server: "fake1", BuiltinFake: true},
		{File: "b.png", TaskID: "3", Status: statusSubmitted, Server: "fake1", BuiltinFake: true},
		{File: "b.png", TaskID: "3", Status: statusSaved, Server: "fake1", BuiltinFake: true},
		{File: "c.png", TaskID: "4", Status: statusSubmitted, Server: "real"},
	})
	assert.Equal(t, 1, stale, "a.png's last task died with its fake")
	assert.Equal(t, saved, last["a.png"], "the record before the fake's stands")
	assert.Equal(t, "3", last["b.png"].TaskID, "a result saved by the fake is there")
	assert.Equal(t, statusSaved, last["b.png"].Status)
	assert.Equal(t, "4", last["c.png"].TaskID)
	assert.True(t, last["c.png"].followable("real"))
	assert.False(t, last["b.png"].followable("fake1"), "a fake's task is never followed, even on the same address")
}

// TestAJournalLineLongerThanAnyBufferIsSkipped: a line of any length that
// is not a record is skipped and counted, like a line cut short; it never
// stops the run.
func TestAJournalLineLongerThanAnyBufferIsSkipped(t *testing.T) {
	path := filepath.Join(t.TempDir(), journalName)
	j, err := openJournal(path)
	require.NoError(t, err)
	require.NoError(t, j.append(record{File: "a.png", Status: statusSubmitted}))
	require.NoError(t, j.Close())
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.Write(append(bytes.Repeat([]byte("x"), 3<<20), '\n'))
	require.NoError(t, err)
	require.NoError(t, f.Close())

	j, err = openJournal(path)
	require.NoError(t, err)
	require.NoError(t, j.append(record{File: "b.png", Status: statusSubmitted}))
	recs, unreadable, err := j.read()
	require.NoError(t, err)
	require.NoError(t, j.Close())
	assert.Equal(t, 1, unreadable)
	require.Len(t, recs, 2, "the records before and after it")
	assert.Equal(t, "b.png", recs[1].File)
}
