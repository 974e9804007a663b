//go:build unix

package main

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockFile takes an exclusive lock on the open journal f, or fails at once
// if another run holds it. The lock goes with the file: the kernel releases
// it when f is closed or the process ends, crash included, so unlock has
// nothing to do.
func lockFile(f *os.File) (unlock func(), err error) {
	conn, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var lockErr error
	if err := conn.Control(func(fd uintptr) {
		lockErr = syscall.Flock(int(fd), syscall.LOCK_EX|syscall.LOCK_NB)
	}); err != nil {
		return nil, err
	}
	switch {
	case errors.Is(lockErr, syscall.EWOULDBLOCK):
		return nil, fmt.Errorf("%s is locked by another run on the same -out: wait for it to end, or use another -out", f.Name())
	case lockErr != nil:
		return nil, fmt.Errorf("lock %s: %w", f.Name(), lockErr)
	}
	return func() {}, nil
}

// syncDir syncs the folder dir, so that the names just created in it
// survive a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
