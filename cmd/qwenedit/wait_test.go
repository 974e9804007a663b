package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-b62e15c8/qwenedit/qwenedittest"
)

func TestWaitSavesAnEarlierTaskWithoutANewOne(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t)
	in := writePicture(t, t.TempDir(), "in.png", 512, 384, 200)
	id := submit(t, srv, 2, in)
	out := t.TempDir()

	// The flags may come after the task ID.
	o := runCLI(context.Background(), e, "wait", id, "-out", out)
	require.Equal(t, exitOK, o.code, o.stderr)
	assert.Equal(t, 1, srv.SubmitCount(), "no new task")
	assert.Equal(t, 1, requestsTo(srv, "GET", "/generation/"+id), "the first poll is at once and finds it done")
	assert.Contains(t, o.stderr, "task "+id+": completed\n")
	saved := savedPaths(o.stdout)
	require.Equal(t, []string{filepath.Join(out, id+"_1.png"), filepath.Join(out, id+"_2.png")}, saved, "several results count from 1")
	assertInverted(t, in, saved[0])
}

func TestWaitJSON(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t)
	id := submit(t, srv, 0, sample)
	out := t.TempDir()
	o := runCLI(context.Background(), e, "wait", "-json", "-out", out, id)
	require.Equal(t, exitOK, o.code, o.stderr)
	var res result
	require.NoError(t, json.Unmarshal([]byte(o.stdout), &res))
	assert.Equal(t, id, res.TaskID)
	assert.Equal(t, "completed", res.Status)
	assert.Equal(t, []string{filepath.Join(out, id+".png")}, res.Saved, "a single result is <task id>.png")
	assert.Nil(t, res.Error)
}

func TestWaitErrors(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t, qwenedittest.WithTaskDuration(time.Hour))
	id := submit(t, srv, 0, sample)

	o := runCLI(context.Background(), e, "wait", id, "-poll", "10ms", "-max-wait", "30ms", "-out", "res")
	assert.Equal(t, exitFailure, o.code)
	assert.True(t, strings.HasSuffix(o.lastLine(), "; the task goes on and is charged: resume with qwenedit wait "+id+" -out res"), o.lastLine())

	o = runCLI(context.Background(), e, "wait", id, "-json", "-poll", "10ms", "-max-wait", "30ms")
	var res result
	require.NoError(t, json.Unmarshal([]byte(o.stdout), &res))
	assert.Equal(t, "pending", res.Status)
	require.NotNil(t, res.Error)
	assert.Equal(t, jsonError{Kind: "wait_timeout", Message: res.Error.Message, TaskID: id}, *res.Error)

	srv.DeleteTask(id)
	o = runCLI(context.Background(), e, "wait", id)
	assert.Equal(t, exitFailure, o.code)
	assert.True(t, strings.HasPrefix(o.lastLine(), "qwenedit wait: task "+id+" not found at "+srv.URL()+" (HTTP 404: "), o.lastLine())
	assert.True(t, strings.HasSuffix(o.lastLine(), ", code 2005): check the ID and -model; tasks are kept for 24 hours"), o.lastLine())

	e["MULEROUTER_API_KEY"] = "wrong"
	o = runCLI(context.Background(), e, "wait", id)
	assert.Equal(t, exitFailure, o.code)
	assert.True(t, strings.HasPrefix(o.lastLine(), "qwenedit wait: stopped waiting for task "+id+": "+srv.URL()+" refused the API key (HTTP 401"), o.lastLine())
	assert.True(t, strings.HasSuffix(o.lastLine(), "check MULEROUTER_API_KEY"), o.lastLine())

	o = runCLI(context.Background(), env{}, "wait", id)
	assert.Equal(t, exitUsage, o.code)
	assert.Contains(t, o.stderr, "MULEROUTER_API_KEY is not set")
}
