//go:build !unix

package qwenedit

// openNonBlocking is 0 where the system has no such flag; the type check
// before opening still refuses a FIFO (see openRegular).
const openNonBlocking = 0
