package main

import (
	"context"
	"encoding/json"
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeManifest writes lines, one a line, as dir/edits.jsonl.
func writeManifest(t *testing.T, dir string, lines ...string) string {
	t.Helper()
	path := filepath.Join(dir, "edits.jsonl")
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644))
	return path
}

// TestBatchManifestEditsEachLine: each line is one edit with its own
// images (relative to the manifest's folder), prompt, fields and output
// name; a rerun pays for nothing, and a changed line is a new edit.
func TestBatchManifestEditsEachLine(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t)
	dir, out := t.TempDir(), t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, "shoes"), 0o755))
	writeImages(t, filepath.Join(dir, "shoes"), "red.png")
	writeImages(t, dir, "model.png", "shirt.png")
	lines := []string{
		`{"images": ["shoes/red.png"], "prompt": "Put the shoe on a white background"}`,
		``,
		`{"images": ["model.png", "shirt.png"], "prompt": "Dress the person of Image 1 in the shirt of Image 2", "n": 2, "seed": 7, "size": "1024x768", "out": "dressed"}`,
	}
	manifest := writeManifest(t, dir, lines...)
	args := []string{"-manifest", manifest, "-out", out, "-concurrency", "1"}

	o := batchRun(context.Background(), e, args...)
	require.Equal(t, exitOK, o.code, o.stderr)
	assert.Contains(t, o.stdout, "2 edits: 2 edited, 0 already saved, 0 failed, 0 to resume")
	tasks := srv.Tasks()
	require.Len(t, tasks, 2)
	assert.Equal(t, "Put the shoe on a white background", tasks[0].Request.Prompt)
	require.Len(t, tasks[0].Request.Images, 1)
	assert.Nil(t, tasks[0].Request.N, "unset fields are left to the server")
	assert.Equal(t, "Dress the person of Image 1 in the shirt of Image 2", tasks[1].Request.Prompt)
	require.Len(t, tasks[1].Request.Images, 2, "Image 1 and Image 2")
	require.NotNil(t, tasks[1].Request.Seed)
	assert.Equal(t, 7, *tasks[1].Request.Seed)
	require.NotNil(t, tasks[1].Request.Size)
	assert.Equal(t, "1024*768", *tasks[1].Request.Size)
	assertInverted(t, filepath.Join(dir, "shoes", "red.png"), filepath.Join(out, "red.png"))
	for _, name := range []string{"dressed_1.png", "dressed_2.png"} {
		assert.Equal(t, image.Rect(0, 0, 1024, 768), decodeFile(t, filepath.Join(out, name)).Bounds(), "its size")
	}
	assert.Contains(t, o.stderr, "line 3 (dressed): saved as dressed_1.png, dressed_2.png")
	for _, r := range journalRecords(t, out) {
		assert.True(t, r.Manifest)
		assert.Equal(t, manifest, r.In)
	}

	// Again: nothing to pay for.
	o = batchRun(context.Background(), e, append(args, "-json")...)
	require.Equal(t, exitOK, o.code, o.stderr)
	assert.Equal(t, 2, srv.SubmitCount())
	var first result
	require.NoError(t, json.Unmarshal([]byte(strings.SplitN(o.stdout, "\n", 2)[0]), &first))
	assert.Equal(t, result{Line: 1, Name: "red", TaskID: tasks[0].ID, Outcome: "skipped", Saved: []string{filepath.Join(out, "red.png")}}, first)

	// A changed line is a new edit: not resumed from the old task, and
	// not saved over the old result.
	lines[0] = `{"images": ["shoes/red.png"], "prompt": "Put the shoe on a black background"}`
	writeManifest(t, dir, lines...)
	o = batchRun(context.Background(), e, args...)
	assert.Equal(t, exitFailure, o.code)
	assert.Contains(t, o.stdout, "line 1 (red): changed since its result red.png was saved")
	assert.Equal(t, 2, srv.SubmitCount())

	// -resume finds the manifest in the journal.
	require.NoError(t, os.Remove(filepath.Join(out, "red.png")))
	o = batchRun(context.Background(), e, "-out", out, "-resume")
	require.Equal(t, exitOK, o.code, o.stderr)
	assert.Contains(t, o.stdout, "2 edits: 1 edited, 1 already saved")
	assert.Equal(t, "Put the shoe on a black background", srv.Tasks()[2].Request.Prompt)
}

// TestBatchManifestEveryLineIsCheckedBeforeAnyCall: one bad line stops the
// batch before anything is sent, with exit status 2 and every problem
// named by its line.
func TestBatchManifestEveryLineIsCheckedBeforeAnyCall(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t)
	dir := t.TempDir()
	writeImages(t, dir, "a.png", "b.png")
	manifest := writeManifest(t, dir,
		`{"images": ["a.png"], "prompt": "fine"}`,
		`{"images": ["missing.png"], "prompt": "x"}`,
		`{"images": ["a.png", "a.png", "a.png", "a.png"], "prompt": "x", "out": "four"}`,
		`{"images": ["b.png"], "prompt": "x", "negative-prompt": "y"}`,
		`{"images": ["b.png"], "prompt": "x", "n": "two"}`,
		`{"images": ["b.png"], "prompt": "", "n": 9, "out": "b2"}`,
		`{"images": ["b.png"], "prompt": "x", "out": "A"}`,
		`{"images": ["b.png"], "prompt": "x", "out": "../b"}`,
		`{"images": ["b.png"], "prompt": "x", "size": "huge", "out": "b3"}`,
		`not json`,
	)
	o := batchRun(context.Background(), e, "-manifest", manifest, "-out", t.TempDir())
	assert.Equal(t, exitUsage, o.code, o.stderr)
	assert.Zero(t, len(srv.Requests()), "nothing sent")
	assert.Equal(t, "-manifest "+manifest+": 9 of 10 lines are bad (above); nothing was sent (run 'qwenedit batch -h' for help)", o.errMsg())
	for _, want := range []string{
		`line 2: image 1: no such file "` + filepath.Join(dir, "missing.png") + `"`,
		"line 3: images: give 1 to 3 paths or URLs, not 4",
		`line 4: unknown field "negative-prompt"`,
		"line 5: n: want a whole number, not a JSON string",
		"line 6: prompt is required; n is 9, must be 1 to 6",
		`line 7: out "A": its result A.png is line 1's too`,
		`line 8: out "../b": a name, not a path`,
		`line 9: size "huge": want WIDTHxHEIGHT or WIDTH*HEIGHT`,
		"line 10: not a JSON object",
	} {
		assert.Contains(t, o.stderr, manifest+" "+want, "every problem, by its line")
	}
	assert.NotContains(t, o.stderr, "line 1:")
}

// TestBatchManifestFlags: -manifest takes no -in, -prompt or request
// fields: each line has its own.
func TestBatchManifestFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	manifest := writeManifest(t, dir, `{"images": ["a.png"], "prompt": "x"}`)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-manifest", manifest, "-in", dir}, "-in and -manifest are exclusive"},
		{[]string{"-manifest", manifest, "-prompt", "p"}, "-prompt is given on each line of -manifest"},
		{[]string{"-manifest", manifest, "-n", "2"}, `-n is given on each line of -manifest (as "n")`},
		{[]string{"-manifest", filepath.Join(dir, "none.jsonl")}, "no such file"},
	} {
		o := runCLI(context.Background(), env{}, append([]string{"batch", "-out", t.TempDir()}, tc.args...)...)
		assert.Equal(t, exitUsage, o.code, tc.args)
		assert.Contains(t, o.errMsg(), tc.want, tc.args)
	}
}
