package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
