//go:build !unix

package qwenedit

import "errors"

func mkfifo(string) error { return errors.New("no FIFOs on this system") }
