//go:build windows

package main

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/windows"
)

// lockFile takes an exclusive lock on the open journal f with LockFileEx,
// or fails at once if another run holds it. The lock goes with the handle:
// Windows releases it when f is closed or the process ends, crash
// included, so no stale lock file is ever left to delete by hand.
func lockFile(f *os.File) (unlock func(), err error) {
	conn, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var lockErr error
	if err := conn.Control(func(fd uintptr) {
		// The whole file, whatever its length: the lock is on the journal,
		// not on a range of its bytes.
		lockErr = windows.LockFileEx(windows.Handle(fd), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY,
			0, ^uint32(0), ^uint32(0), new(windows.Overlapped))
	}); err != nil {
		return nil, err
	}
	switch {
	case errors.Is(lockErr, windows.ERROR_LOCK_VIOLATION):
		return nil, fmt.Errorf("%s is locked by another run on the same -out: wait for it to end, or use another -out", f.Name())
	case lockErr != nil:
		return nil, fmt.Errorf("lock %s: %w", f.Name(), lockErr)
	}
	return func() {}, nil
}

// syncDir does nothing: on Windows a folder cannot be opened for syncing
// (NTFS journals the names itself).
func syncDir(string) error { return nil }
