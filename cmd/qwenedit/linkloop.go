//go:build !plan9

package main

import (
	"errors"
	"syscall"
)

// isLinkLoop reports whether err says that a path's symbolic links lead
// back to themselves.
func isLinkLoop(err error) bool { return errors.Is(err, syscall.ELOOP) }
