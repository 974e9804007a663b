package main

// The output folder: checked before anything is sent, and results saved
// into it without ever replacing a file.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/seed-b62e15c8/qwenedit"
)

// outputHelp is what edit, wait and download promise about -out, for their -h.
const outputHelp = `Before anything is sent, -out is checked: created if missing, a file written into it and
removed, then left as it was found. A folder that cannot hold the results stops the command
there, with exit status 2: nothing is sent, nothing is charged. No file is ever replaced: a
result whose name holds another file is saved under the next free name, with _1, _2, ...
before the extension (<task id>_1.png for <task id>.png), and stderr and -json's
"not_replaced" say so; a file that holds the very same image already is kept as the
result ("already_saved") and nothing is written, so running the command again makes no
copies.`

// raceAttempts bounds the retries of retryFolderRace: another run's check
// has a folder for an instant only, so a few attempts suffice.
const raceAttempts = 5

// retryFolderRace runs fn, which creates folders and then uses them, again
// while it fails as when a folder comes and goes under it, up to
// raceAttempts times. checkOutDir removes the folders it created, and
// another run's may do so just as this run creates or uses them: a folder
// then vanishes (fs.ErrNotExist), or os.MkdirAll finds it made and gone
// (fs.ErrExist).
func retryFolderRace(fn func() error) error {
	var err error
	for range raceAttempts {
		if err = fn(); !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	return err
}

// checkOutDir finds out, before anything is sent, whether dir can hold
// results: a command must not pay for a task, or wait for one, only to fail
// at saving. It creates dir as saving would, writes and removes a probe
// file, and removes again the folders it created, so that a run that saves
// nothing leaves no trace (but for another run's using the same new folder
// at that instant). A folder that fails is a configuration failure
// (exit status 2) naming dir and the cause.
func checkOutDir(dir string) error {
	if dir == "" {
		return usagef("-out is empty: give a folder (. for this one)")
	}
	created := missingDirs(dir)
	defer removeEmpty(created)
	var failed string
	err := retryFolderRace(func() error {
		failed = "cannot create the folder"
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		failed = "cannot write a file into the folder"
		return probe(dir)
	})
	if err != nil {
		return outFailure(dir, failed, err)
	}
	return nil
}

// outFailure is checkOutDir's failure: what could not be done with dir, and why.
func outFailure(dir, what string, err error) *failure {
	f := configf("-out %s: %s: %v; nothing was sent", dir, what, err)
	f.err = err
	return f
}

// missingDirs returns dir and those of its parents that do not exist, the
// deepest first: what os.MkdirAll(dir) would create.
func missingDirs(dir string) []string {
	var missing []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); !errors.Is(err, fs.ErrNotExist) {
			return missing
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			return missing
		}
	}
}

// removeEmpty removes the folders dirs, in order, as long as they are empty.
func removeEmpty(dirs []string) {
	for _, d := range dirs {
		if os.Remove(d) != nil {
			return
		}
	}
}

// probe writes a file into dir and removes it. That dir exists proves
// little: it may be read-only, or another user's.
func probe(dir string) error {
	f, err := os.CreateTemp(dir, ".qwenedit-probe-*")
	if err != nil {
		return bareError(err)
	}
	_, err = f.WriteString("qwenedit checks that it can save here\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if rerr := os.Remove(f.Name()); err == nil {
		err = rerr
	}
	return bareError(err)
}

// bareError is err without the operation and path of an *fs.PathError:
// the probe's random file name means nothing to the user.
func bareError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// incomingPattern names the hidden folder, inside -out, that receives a
// download until it is complete: a name in -out only ever holds a whole
// image. os.MkdirTemp makes one per save, so runs sharing -out keep apart.
const incomingPattern = ".qwenedit-incoming-*"

// maxNumbered bounds the search for a free name.
const maxNumbered = 1000

// newIncoming creates dir, if need be, and a new incoming folder inside it.
// The caller removes the folder with os.RemoveAll.
func newIncoming(dir string) (string, error) {
	var incoming string
	err := retryFolderRace(func() error {
		err := os.MkdirAll(dir, 0o755)
		if err == nil {
			incoming, err = os.MkdirTemp(dir, incomingPattern)
		}
		return err
	})
	return incoming, err
}

// saveTask saves task's results into dir named after the task, as
// resultName names them (<task id>.png, or <task id>_1.png, ... for
// several), without replacing any file (see place), and
// reports in res, and on stderr, each name found taken. SaveImages renames
// over whatever has the name, so it saves into an incoming folder first.
// It returns the paths of the results saved, in order, up to the first
// failure.
func (c *cli) saveTask(ctx context.Context, client *qwenedit.Client, task *qwenedit.Task, dir string, res *result) ([]string, error) {
	incoming, err := newIncoming(dir)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(incoming)
	staged, saveErr := client.SaveImages(ctx, task, incoming)
	paths := make([]string, 0, len(staged))
	for i, p := range staged {
		s, err := place(p, filepath.Join(dir, resultName(task.ID, i, len(task.Images), filepath.Ext(p))))
		if err != nil {
			return paths, err
		}
		c.noteSaved(res, s)
		paths = append(paths, s.path)
	}
	return paths, saveErr
}

// placed is where place put a result.
type placed struct {
	path  string // the file that holds the result
	taken string // the name asked for, if another file had it: left alone
	same  bool   // path held the result already: nothing was written
}

// place gives the complete file src the name dst without ever replacing a
// file, and removes src. If dst holds another file, it takes the first
// free name of dst_1, dst_2, ... (before the extension). A name that holds
// the same bytes already counts as saved, so that running wait or download
// again makes no copies.
func place(src, dst string) (placed, error) {
	defer os.Remove(src)
	for i := 0; i <= maxNumbered; i++ {
		name := numbered(dst, i)
		err := linkNew(src, name)
		if err != nil && !errors.Is(err, fs.ErrExist) {
			return placed{}, err
		}
		if err == nil || sameContent(src, name) {
			p := placed{path: name, same: err != nil}
			if i > 0 {
				p.taken = dst
			}
			return p, nil
		}
	}
	return placed{}, fmt.Errorf("%s and the %d numbered names after it are all taken", dst, maxNumbered)
}

// numbered is path with _i before its extension, or path itself for i 0:
// the one rule every command names a result by when its name is taken.
func numbered(path string, i int) string {
	if i == 0 {
		return path
	}
	ext := filepath.Ext(path)
	return fmt.Sprintf("%s_%d%s", strings.TrimSuffix(path, ext), i, ext)
}

// linkNew gives the file src the name dst too, or fails with an error
// matching fs.ErrExist if dst exists: unlike a rename, a hard link never
// replaces. On a filesystem without hard links it checks, then renames:
// only a file created under the same name in between could be replaced.
func linkNew(src, dst string) error {
	err := os.Link(src, dst)
	if err == nil || errors.Is(err, fs.ErrExist) {
		return err
	}
	if _, lerr := os.Lstat(dst); lerr == nil {
		return &fs.PathError{Op: "save", Path: dst, Err: fs.ErrExist}
	} else if !errors.Is(lerr, fs.ErrNotExist) {
		return lerr
	}
	return os.Rename(src, dst)
}

// noteSaved says, on stderr and in res for -json, where a result went if
// not where it was asked to, or that it was there already; "saved <path>"
// says the rest.
func (c *cli) noteSaved(res *result, s placed) {
	switch {
	case s.taken != "" && s.same:
		fmt.Fprintf(c.stderr, "%s already exists with other content: not replaced; %s holds this result already\n", s.taken, s.path)
	case s.taken != "":
		fmt.Fprintf(c.stderr, "%s already exists with other content: not replaced; saved as %s\n", s.taken, s.path)
	case s.same:
		fmt.Fprintf(c.stderr, "%s holds this result already\n", s.path)
	}
	if s.taken != "" {
		res.NotReplaced = append(res.NotReplaced, notReplaced{Path: s.taken, SavedAs: s.path})
	}
	if s.same {
		res.AlreadySaved = append(res.AlreadySaved, s.path)
	}
}
