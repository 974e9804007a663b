package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-b62e15c8/qwenedit/qwenedittest"
)

func TestDownloadATask(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t)
	id := submit(t, srv, 0, sample)
	out := t.TempDir()

	o := runCLI(context.Background(), e, "download", id, "-out", out)
	require.Equal(t, exitOK, o.code, o.stderr)
	assert.Equal(t, "saved "+filepath.Join(out, id+".png")+"\n", o.stdout)
	assertInverted(t, sample, filepath.Join(out, id+".png"))
	assert.Equal(t, 1, requestsTo(srv, "GET", "/generation/"+id))
}

func TestDownloadURLsNeedNoKeyAndReplaceNothing(t *testing.T) {
	t.Parallel()
	srv, _ := fakeAPI(t)
	id := submit(t, srv, 2, sample)
	base := srv.ResultsURL() + "/results/" + id
	out := t.TempDir()
	mine := []byte("a file of the user's")
	require.NoError(t, os.WriteFile(filepath.Join(out, id+"_result_1.png"), mine, 0o644))

	o := runCLI(context.Background(), env{}, "download", base+"/result_0.png", base+"/result_1.png", "-out", out)
	require.Equal(t, exitOK, o.code, o.stderr)
	assert.Equal(t, "saved "+filepath.Join(out, id+"_result_0.png")+"\nsaved "+filepath.Join(out, id+"_result_1_1.png")+"\n", o.stdout)
	assertInverted(t, sample, filepath.Join(out, id+"_result_0.png"))
	got, err := os.ReadFile(filepath.Join(out, id+"_result_1.png"))
	require.NoError(t, err)
	assert.Equal(t, mine, got, "not replaced")
	for _, r := range srv.Requests() {
		if r.Origin == qwenedittest.OriginResults {
			assert.Empty(t, r.Header.Get("Authorization"), "no key sent to the result host: %s", r.Path)
		}
	}

	// The same image again is the file saved already; the user's file is still not replaced.
	o = runCLI(context.Background(), env{}, "download", "-json", base+"/result_0.png", base+"/result_1.png", "-out", out)
	require.Equal(t, exitOK, o.code, o.stderr)
	dec := json.NewDecoder(strings.NewReader(o.stdout))
	for _, want := range []result{
		{URL: base + "/result_0.png", Saved: []string{filepath.Join(out, id+"_result_0.png")},
			AlreadySaved: []string{filepath.Join(out, id+"_result_0.png")}},
		{URL: base + "/result_1.png", Saved: []string{filepath.Join(out, id+"_result_1_1.png")},
			AlreadySaved: []string{filepath.Join(out, id+"_result_1_1.png")},
			NotReplaced:  []notReplaced{{Path: filepath.Join(out, id+"_result_1.png"), SavedAs: filepath.Join(out, id+"_result_1_1.png")}}},
	} {
		var res result
		require.NoError(t, dec.Decode(&res))
		assert.Equal(t, want, res)
	}
}

func TestDownloadErrors(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t, qwenedittest.WithTaskDuration(time.Hour))
	id := submit(t, srv, 0, sample)
	out := t.TempDir()

	o := runCLI(context.Background(), e, "download", id, "-out", out)
	assert.Equal(t, exitFailure, o.code)
	assert.Equal(t, "qwenedit download: task "+id+" is pending, not finished: wait for it with qwenedit wait "+id+" -out "+out, o.lastLine())

	require.NoError(t, srv.SetTaskStatus(id, "completed"))
	srv.ExpireResults()
	url := srv.ResultsURL() + "/results/" + id + "/result_0.png"
	o = runCLI(context.Background(), e, "download", url, "-out", out)
	assert.Equal(t, exitFailure, o.code)
	assert.True(t, strings.HasPrefix(o.lastLine(), "qwenedit download: result "), o.lastLine())
	assert.True(t, strings.HasSuffix(o.lastLine(), " is expired or unknown (HTTP 403): result URLs are valid for 24 hours after the task finished"), o.lastLine())
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	assert.Empty(t, entries, "nothing left of a failed download")

	o = runCLI(context.Background(), e, "download", id, "-out", out)
	assert.Equal(t, exitFailure, o.code)
	assert.Contains(t, o.lastLine(), "qwenedit download: task "+id+" is done, but saving its result 1 into "+out+" failed: result ")

	for _, args := range [][]string{{"ftp://example.com/a.png"}, {url, id}, {"a", "b"}} {
		o = runCLI(context.Background(), e, append([]string{"download"}, args...)...)
		assert.Equal(t, exitUsage, o.code, args)
	}
	o = runCLI(context.Background(), env{}, "download", id)
	assert.Equal(t, exitUsage, o.code, "a task ID needs the key")
}
