//go:build !unix && !windows

package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// lockFile takes the lock of the open journal f: a file next to it,
// created only if it does not exist, and removed by unlock. A crash leaves
// it behind, so the message says to delete it.
func lockFile(f *os.File) (unlock func(), err error) {
	name := f.Name() + ".lock"
	l, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("%s exists: another run on the same -out holds it (wait for it to end, or use another -out); if none is running, one crashed: delete %s and run again", name, name)
	}
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	l.Close()
	return func() { os.Remove(name) }, nil
}

// syncDir does nothing: on these systems a folder cannot be opened for
// syncing (Windows journals the names of NTFS itself).
func syncDir(string) error { return nil }
