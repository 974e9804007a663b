package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-b62e15c8/qwenedit/qwenedittest"
)

// notAFolder returns a path that no user, root included, can create a
// folder at: its parent is a regular file.
func notAFolder(t *testing.T) (out, file string) {
	t.Helper()
	file = filepath.Join(t.TempDir(), "a-file")
	require.NoError(t, os.WriteFile(file, []byte("not a folder"), 0o644))
	return filepath.Join(file, "sub"), file
}

// outCommands are the commands that save into -out, with their arguments
// for the task id (and url, one of its results).
func outCommands(id, url string) [][]string {
	return [][]string{
		{"edit", "-poll", "10ms", "-image", sample, "-prompt", "Add a moon"},
		{"wait", id},
		{"download", id},
		{"download", url},
		{"batch", "-in", filepath.Dir(sample), "-prompt", "Add a moon"},
	}
}

func TestAnOutputFolderThatCannotBeCreatedStopsEveryCommandBeforeAnyCall(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t)
	id := submit(t, srv, 0, sample)
	url := srv.ResultsURL() + "/results/" + id + "/result_0.png"
	out, file := notAFolder(t)
	before := len(srv.Requests())

	for _, args := range outCommands(id, url) {
		o := runCLI(context.Background(), e, append(args, "-out", out)...)
		assert.Equal(t, exitUsage, o.code, "%v: %s", args, o.stderr)
		assert.Equal(t, "qwenedit "+args[0]+": -out "+out+": cannot create the folder: mkdir "+file+": not a directory; nothing was sent",
			o.lastLine(), args)
		assert.Empty(t, o.stdout, args)
	}
	assert.Equal(t, 1, srv.SubmitCount(), "no task but the test's own")
	assert.Equal(t, before, len(srv.Requests()), "nothing reaches the server")

	o := runCLI(context.Background(), e, "edit", "-json", "-image", sample, "-prompt", "Add a moon", "-out", out)
	assert.Equal(t, exitUsage, o.code)
	var res map[string]any
	require.NoError(t, json.Unmarshal([]byte(o.stdout), &res), o.stdout)
	assert.Equal(t, map[string]any{"kind": "config",
		"message": "-out " + out + ": cannot create the folder: mkdir " + file + ": not a directory; nothing was sent"}, res["error"])
	assert.Equal(t, 1, srv.SubmitCount())
}

func TestAReadOnlyOutputFolderStopsEveryCommandBeforeAnyCall(t *testing.T) {
	t.Parallel()
	ro := t.TempDir()
	require.NoError(t, os.Chmod(ro, 0o500))
	t.Cleanup(func() { _ = os.Chmod(ro, 0o700) })
	if f, err := os.CreateTemp(ro, "probe"); err == nil {
		f.Close()
		os.Remove(f.Name())
		t.Skip("this user writes into a 0o500 folder (root): see the test with a file as parent")
	}
	srv, e := fakeAPI(t)
	id := submit(t, srv, 0, sample)
	url := srv.ResultsURL() + "/results/" + id + "/result_0.png"
	before := len(srv.Requests())

	for _, args := range outCommands(id, url) {
		o := runCLI(context.Background(), e, append(args, "-out", ro)...)
		assert.Equal(t, exitUsage, o.code, "%v: %s", args, o.stderr)
		assert.Equal(t, "qwenedit "+args[0]+": -out "+ro+": cannot write a file into the folder: permission denied; nothing was sent",
			o.lastLine(), args)

		sub := filepath.Join(ro, "sub")
		o = runCLI(context.Background(), e, append(args, "-out", sub)...)
		assert.Equal(t, exitUsage, o.code, "%v: %s", args, o.stderr)
		assert.Equal(t, "qwenedit "+args[0]+": -out "+sub+": cannot create the folder: mkdir "+sub+": permission denied; nothing was sent",
			o.lastLine(), args)
	}
	assert.Equal(t, 1, srv.SubmitCount(), "no task but the test's own")
	assert.Equal(t, before, len(srv.Requests()), "nothing reaches the server")
}

func TestTheOutputCheckLeavesNothingBehind(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t)
	srv.FailNextTask(1301, "InvalidParameter", "the sky cannot be found")
	out := filepath.Join(t.TempDir(), "new", "results")

	o := edit(context.Background(), e, "-image", sample, "-prompt", "Turn the sky purple", "-out", out)
	assert.Equal(t, exitFailure, o.code)
	assert.NoDirExists(t, filepath.Dir(out), "the folders the check made are removed again")

	o = edit(context.Background(), e, "-image", sample, "-prompt", "Turn the sky purple", "-out", out)
	require.Equal(t, exitOK, o.code, o.stderr)
	id := srv.Tasks()[1].ID
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no probe, no staging folder: %v", entries)
	assert.Equal(t, id+".png", entries[0].Name(), "a single result is <task id>.png")
}

// mineIn writes a file of the user's into dir under name.
func mineIn(t *testing.T, dir, name string) (path string, content []byte) {
	t.Helper()
	content = []byte("a file of the user's, not an image of this task")
	path = filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, content, 0o644))
	return path, content
}

// assertOnly checks that dir holds exactly these file names.
func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	assert.ElementsMatch(t, names, got)
}

func TestDownloadTaskNeverReplacesAFileAndSaysWhereTheResultWent(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t)
	id := submit(t, srv, 0, sample)
	out := t.TempDir()
	mine, content := mineIn(t, out, id+".png")
	next := filepath.Join(out, id+"_1.png")

	o := runCLI(context.Background(), e, "download", id, "-out", out)
	require.Equal(t, exitOK, o.code, o.stderr)
	assert.Equal(t, "saved "+next+"\n", o.stdout)
	assert.Contains(t, o.stderr, mine+" already exists with other content: not replaced; saved as "+next+"\n")
	got, err := os.ReadFile(mine)
	require.NoError(t, err)
	assert.Equal(t, content, got, "not replaced")
	assertInverted(t, sample, next)

	// Again, with -json: the same image is there already; no third file.
	o = runCLI(context.Background(), e, "download", "-json", id, "-out", out)
	require.Equal(t, exitOK, o.code, o.stderr)
	var res map[string]any
	require.NoError(t, json.Unmarshal([]byte(o.stdout), &res), o.stdout)
	assert.Equal(t, []any{next}, res["saved"])
	assert.Equal(t, []any{map[string]any{"path": mine, "saved_as": next}}, res["not_replaced"])
	assert.Equal(t, []any{next}, res["already_saved"])
	assert.Contains(t, o.stderr, mine+" already exists with other content: not replaced; "+next+" holds this result already\n")
	assertOnly(t, out, id+".png", id+"_1.png")
}

func TestWaitNeverReplacesAFile(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t)
	id := submit(t, srv, 2, sample)
	out := t.TempDir()
	mine, content := mineIn(t, out, id+"_2.png")

	o := runCLI(context.Background(), e, "wait", id, "-out", out)
	require.Equal(t, exitOK, o.code, o.stderr)
	assert.Equal(t, []string{filepath.Join(out, id+"_1.png"), filepath.Join(out, id+"_2_1.png")}, savedPaths(o.stdout))
	got, err := os.ReadFile(mine)
	require.NoError(t, err)
	assert.Equal(t, content, got, "not replaced")

	// A second wait finds both results saved: nothing new is written.
	o = runCLI(context.Background(), e, "wait", id, "-out", out)
	require.Equal(t, exitOK, o.code, o.stderr)
	assert.Equal(t, []string{filepath.Join(out, id+"_1.png"), filepath.Join(out, id+"_2_1.png")}, savedPaths(o.stdout))
	assert.Contains(t, o.stderr, filepath.Join(out, id+"_1.png")+" holds this result already\n")
	assertOnly(t, out, id+"_1.png", id+"_2.png", id+"_2_1.png")
}

func TestEditNeverReplacesAFile(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t, qwenedittest.WithTaskDuration(time.Hour))
	out := t.TempDir()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(context.Background(), []string{"edit", "-json", "-poll", "10ms", "-image", sample, "-prompt", "Add a moon", "-out", out},
			e.get, &stdout, &stderr)
	}()
	require.Eventually(t, func() bool { return srv.SubmitCount() == 1 }, 10*time.Second, 5*time.Millisecond)
	id := srv.Tasks()[0].ID
	mine, content := mineIn(t, out, id+".png") // written while the task runs
	require.NoError(t, srv.SetTaskStatus(id, "completed"))
	require.Equal(t, exitOK, <-done, stderr.String())

	next := filepath.Join(out, id+"_1.png")
	var res map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout.String()), &res), stdout.String())
	assert.Equal(t, []any{next}, res["saved"])
	assert.Equal(t, []any{map[string]any{"path": mine, "saved_as": next}}, res["not_replaced"])
	assert.NotContains(t, res, "already_saved")
	got, err := os.ReadFile(mine)
	require.NoError(t, err)
	assert.Equal(t, content, got, "not replaced")
	assertInverted(t, sample, next)
}

func TestDownloadURLKeepsTheSameImageAndNumbersAnother(t *testing.T) {
	t.Parallel()
	srv, _ := fakeAPI(t)
	id := submit(t, srv, 0, sample)
	url := srv.ResultsURL() + "/results/" + id + "/result_0.png"
	out := t.TempDir()
	first := filepath.Join(out, id+"_result_0.png")

	o := runCLI(context.Background(), env{}, "download", url, "-out", out)
	require.Equal(t, exitOK, o.code, o.stderr)
	o = runCLI(context.Background(), env{}, "download", url, "-out", out)
	require.Equal(t, exitOK, o.code, o.stderr)
	assert.Equal(t, "saved "+first+"\n", o.stdout, "the same image, downloaded again, is the file already there")
	assert.Contains(t, o.stderr, first+" holds this result already\n")
	assertOnly(t, out, id+"_result_0.png")
}

func TestHelpStatesTheOutputGuarantees(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"edit", "wait", "download"} {
		o := runCLI(context.Background(), env{}, name, "-h")
		require.Equal(t, exitOK, o.code)
		text := strings.Join(strings.Fields(o.stdout), " ")
		for _, want := range []string{
			"Before anything is sent, -out is checked",
			"exit status 2",
			"No file is ever replaced",
			"_1, _2",
		} {
			assert.Contains(t, text, want, name)
		}
	}
}

func TestAnEmptyOutIsAUsageError(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t)
	o := edit(context.Background(), e, "-image", sample, "-prompt", "Add a moon", "-out", "")
	assert.Equal(t, exitUsage, o.code)
	assert.Equal(t, "qwenedit edit: -out is empty: give a folder (. for this one) (run 'qwenedit edit -h' for help)", o.lastLine())
	assert.Zero(t, len(srv.Requests()))
}

// Runs that check one new folder at once must all pass, though each removes
// the folder again if it made it (while another run may be using it: then
// it stays).
func TestConcurrentChecksOfOneNewFolderAllPass(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "new", "out")
	errs := make(chan error, 8*20)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				errs <- checkOutDir(dir)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}
