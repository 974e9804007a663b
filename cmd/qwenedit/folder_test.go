package main

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBatchFollowsSymbolicLinks: a link to an image is edited like the
// image; a dangling link and a loop are reported in the summary, not
// skipped in silence.
func TestBatchFollowsSymbolicLinks(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("symbolic links need privileges on Windows")
	}
	srv, e := fakeAPI(t)
	in, elsewhere, out := t.TempDir(), t.TempDir(), t.TempDir()
	writeImages(t, in, "a.png")
	writeImages(t, elsewhere, "x.png", "target.png")
	require.NoError(t, os.Symlink(filepath.Join(elsewhere, "target.png"), filepath.Join(in, "linked.png")))
	require.NoError(t, os.Symlink(filepath.Join(elsewhere, "gone.png"), filepath.Join(in, "dangling.png")))
	require.NoError(t, os.Symlink("loop.png", filepath.Join(in, "loop.png")))
	require.NoError(t, os.Symlink(elsewhere, filepath.Join(in, "folder.png"))) // a folder: no image

	o := batchRun(context.Background(), e, "-in", in, "-prompt", prompt, "-out", out)
	assert.Equal(t, exitFailure, o.code)
	assert.Equal(t, "2 of 4 images not done", o.errMsg())
	assert.Contains(t, o.stdout, "4 images: 2 edited, 0 already saved, 2 failed, 0 to resume")
	assert.Equal(t, 2, srv.SubmitCount())
	assertInverted(t, filepath.Join(elsewhere, "target.png"), filepath.Join(out, "linked.png"))
	assertInverted(t, filepath.Join(in, "a.png"), filepath.Join(out, "a.png"))
	assert.Contains(t, o.stdout, "  dangling.png: a dangling symbolic link: "+filepath.Join(elsewhere, "gone.png")+" does not exist\n      fix or remove the link\n")
	assert.Contains(t, o.stdout, "  loop.png: a symbolic link in a loop")
	assert.NotContains(t, o.stdout, "folder.png")
}

// TestBatchInputErrorsExit2: an -in that cannot be a batch's input is an
// error of the command line, found before anything is sent.
func TestBatchInputErrorsExit2(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "photo.png")
	writeImages(t, dir, "photo.png")
	for _, tc := range []struct {
		in, want string
	}{
		{filepath.Join(dir, "none"), "-in " + filepath.Join(dir, "none") + ": no such folder; nothing was sent"},
		{file, "-in " + file + " is a file, not a folder"},
	} {
		o := batchRun(context.Background(), e, "-in", tc.in, "-prompt", prompt, "-out", filepath.Join(t.TempDir(), "out"))
		assert.Equal(t, exitUsage, o.code, tc.in)
		assert.Contains(t, o.errMsg(), tc.want)
	}
	assert.Zero(t, len(srv.Requests()))
}
