//go:build unix

package qwenedit

import "syscall"

// openNonBlocking makes open(2) return at once on a FIFO (see openRegular);
// it changes nothing for the regular files that are read.
const openNonBlocking = syscall.O_NONBLOCK
