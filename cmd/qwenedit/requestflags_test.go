package main

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBatchSendsEveryRequestFlag: batch takes every request field edit
// takes, sends them with every image, journals them, and refuses a rerun
// with other fields as it refuses another prompt; -resume takes them from
// the journal.
func TestBatchSendsEveryRequestFlag(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t)
	in, out := t.TempDir(), t.TempDir()
	writeImages(t, in, "a.png", "b.png")
	fields := []string{"-n", "2", "-size", "1024x768", "-seed", "0", "-negative-prompt", "blurry",
		"-prompt-extend=false", "-safety-filter", "-model", "qwen-image-edit-plus"}
	args := append([]string{"-in", in, "-prompt", prompt, "-out", out}, fields...)

	o := batchRun(context.Background(), e, args...)
	require.Equal(t, exitOK, o.code, o.stderr)
	require.Equal(t, 2, srv.SubmitCount())
	for _, task := range srv.Tasks() {
		assert.Equal(t, "qwen-image-edit-plus", task.Model)
		req := task.Request
		require.NotNil(t, req.N)
		assert.Equal(t, 2, *req.N)
		require.NotNil(t, req.Size)
		assert.Equal(t, "1024*768", *req.Size)
		require.NotNil(t, req.Seed, "-seed 0 is a seed")
		assert.Equal(t, 0, *req.Seed)
		require.NotNil(t, req.NegativePrompt)
		assert.Equal(t, "blurry", *req.NegativePrompt)
		require.NotNil(t, req.PromptExtend)
		assert.False(t, *req.PromptExtend)
		require.NotNil(t, req.SafetyFilter)
		assert.True(t, *req.SafetyFilter)
	}
	for _, name := range []string{"a_1.png", "a_2.png", "b_1.png", "b_2.png"} {
		assert.FileExists(t, filepath.Join(out, name), "several results count from 1")
	}
	saved := withStatus(journalRecords(t, out), statusSaved)
	require.Len(t, saved, 2)
	assert.Equal(t, 2, saved[0].N, "the journal records the fields")
	assert.Equal(t, "1024*768", saved[0].Size)
	assert.Equal(t, "qwen-image-edit-plus", saved[0].Model)

	// Other fields in the same -out: refused before anything is sent.
	before := len(srv.Requests())
	o = batchRun(context.Background(), e, append(args, "-n", "3")...)
	assert.Equal(t, exitUsage, o.code)
	assert.Contains(t, o.errMsg(), "records a batch with other request fields (-negative-prompt \"blurry\" -n 2 -seed 0 -size 1024*768 -prompt-extend=false -safety-filter=true), not -negative-prompt \"blurry\" -n 3")
	o = batchRun(context.Background(), e, "-in", in, "-prompt", prompt, "-out", out)
	assert.Equal(t, exitUsage, o.code)
	assert.Contains(t, o.errMsg(), "records a batch with -model qwen-image-edit-plus, not qwen-image-edit-max")
	assert.Equal(t, before, len(srv.Requests()), "nothing sent")

	// -resume takes them all from the journal: everything is saved.
	o = batchRun(context.Background(), e, "-out", out, "-resume")
	require.Equal(t, exitOK, o.code, o.stderr)
	assert.Contains(t, o.stdout, "2 images: 0 edited, 2 already saved")
	assert.Equal(t, 2, srv.SubmitCount())
}

// TestBatchRequestFlagsAreCheckedBeforeAnyCall: a field out of range is
// refused for every image before the first paid call.
func TestBatchRequestFlagsAreCheckedBeforeAnyCall(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t)
	in := t.TempDir()
	writeImages(t, in, "a.png")
	o := batchRun(context.Background(), e, "-in", in, "-prompt", prompt, "-out", t.TempDir(), "-size", "big")
	assert.Equal(t, exitUsage, o.code)
	assert.Contains(t, o.errMsg(), `-size "big": want WIDTHxHEIGHT or WIDTH*HEIGHT`)
	assert.Zero(t, len(srv.Requests()))
}
