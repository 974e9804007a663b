package main

// The images of an input folder (batch -in), each edited with -prompt and
// the request flags.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// imageExts are the extensions of the formats the API takes. The filter is
// only by name: the SDK checks each file's content before it is sent.
var imageExts = []string{".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}

// inputFile is an image file found in -in. A symbolic link that leads to
// no regular file (a loop, a dangling link) is listed too, with its
// problem: the user put it there to be edited, so it is reported, not
// skipped in silence.
type inputFile struct {
	name    string // inside -in
	problem error  // why it cannot be read; nil for a file to edit
}

// checkInputDir refuses an -in that is missing or is not a folder: an
// error in the command line, found before anything is sent (exit status 2).
func checkInputDir(dir string) error {
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return configf("-in %s: no such folder; nothing was sent", dir)
	case err != nil:
		return configf("-in %s: %v; nothing was sent", dir, bareError(err))
	case !info.IsDir():
		return configf("-in %s is a file, not a folder: batch edits the images of a folder (edit takes one -image)", dir)
	}
	return nil
}

// findImages lists the image files directly inside dir, sorted by name,
// symbolic links to regular files included.
func findImages(dir string) ([]inputFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []inputFile
	for _, e := range entries {
		if !imageName(e.Name(), imageExts) {
			continue
		}
		switch {
		case e.Type().IsRegular():
			files = append(files, inputFile{name: e.Name()})
		case e.Type()&fs.ModeSymlink != 0:
			if f, ok := followLink(dir, e.Name()); ok {
				files = append(files, f)
			}
		}
	}
	return files, nil // os.ReadDir sorts by name
}

// followLink is the symbolic link name in dir: a file to edit if it leads
// to a regular file, a file with its problem if it leads nowhere, and
// false if it leads to something else (a folder), which is no image.
func followLink(dir, name string) (inputFile, bool) {
	path := filepath.Join(dir, name)
	info, err := os.Stat(path)
	if err == nil {
		return inputFile{name: name}, info.Mode().IsRegular()
	}
	target, _ := os.Readlink(path)
	switch {
	case isLinkLoop(err):
		err = errors.New("a symbolic link in a loop (it leads back to itself)")
	case errors.Is(err, fs.ErrNotExist):
		err = fmt.Errorf("a dangling symbolic link: %s does not exist", target)
	default:
		err = fmt.Errorf("a symbolic link to %s, which cannot be read: %w", target, bareError(err))
	}
	return inputFile{name: name, problem: err}, true
}

// imageEntry reports a regular, visible file whose extension is in exts.
func imageEntry(e fs.DirEntry, exts []string) bool {
	return e.Type().IsRegular() && imageName(e.Name(), exts)
}

// imageName reports a visible name whose extension is in exts.
func imageName(name string, exts []string) bool {
	return !strings.HasPrefix(name, ".") && slices.Contains(exts, strings.ToLower(filepath.Ext(name)))
}

// outputStems names each file's results: its name without the extension,
// or with the extension spelled in when two inputs share a stem (a.jpg and
// a.png become a_jpg and a_png).
func outputStems(files []string) map[string]string {
	count := map[string]int{}
	for _, f := range files {
		count[strings.ToLower(strings.TrimSuffix(f, filepath.Ext(f)))]++
	}
	stems := make(map[string]string, len(files))
	for _, f := range files {
		stem := strings.TrimSuffix(f, filepath.Ext(f))
		if count[strings.ToLower(stem)] > 1 {
			stem = strings.ReplaceAll(f, ".", "_")
		}
		stems[f] = stem
	}
	return stems
}

// folderJobs are the jobs of the images in -in (absolute: in), each edited
// with the same prompt and fields. Their SHA-256 is computed as each is
// planned.
func folderJobs(in string, files []inputFile, prompt string, fields requestFields) []job {
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.name
	}
	stems := outputStems(names)
	jobs := make([]job, len(files))
	for i, f := range files {
		jobs[i] = job{file: f.name, stem: stems[f.name], problem: f.problem,
			edit: editSpec{images: []string{filepath.Join(in, f.name)}, prompt: prompt, fields: fields}}
	}
	return jobs
}
