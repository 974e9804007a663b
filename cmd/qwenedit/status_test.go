package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-b62e15c8/qwenedit"
	"github.com/seed-b62e15c8/qwenedit/qwenedittest"
)

// submit creates a task on srv with the SDK, as an earlier run would have,
// and returns its ID.
func submit(t *testing.T, srv *qwenedittest.Server, n int, images ...string) string {
	t.Helper()
	client, err := qwenedit.NewClient(qwenedit.WithAPIKey(srv.APIKey()), qwenedit.WithBaseURL(srv.URL()))
	require.NoError(t, err)
	req := &qwenedit.EditRequest{Prompt: "Add a hat", N: n}
	for _, p := range images {
		req.Images = append(req.Images, qwenedit.ImageFile(p))
	}
	info, err := client.Submit(context.Background(), req)
	require.NoError(t, err)
	return info.ID
}

func TestStatusShowsTheTaskAndItsResults(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t, qwenedittest.WithTaskDuration(time.Hour))
	id := submit(t, srv, 2, sample)

	o := runCLI(context.Background(), e, "status", id)
	require.Equal(t, exitOK, o.code, o.stderr)
	assert.Equal(t, "task "+id+": pending\n", o.stdout)

	require.NoError(t, srv.SetTaskStatus(id, "completed"))
	o = runCLI(context.Background(), e, "status", id)
	require.Equal(t, exitOK, o.code, o.stderr)
	prefix := srv.ResultsURL() + "/results/" + id
	assert.Equal(t, "task "+id+": completed\nresult "+prefix+"/result_0.png\nresult "+prefix+"/result_1.png\n", o.stdout)
	assert.Empty(t, o.stderr)

	o = runCLI(context.Background(), e, "status", "--json", id)
	require.Equal(t, exitOK, o.code, o.stderr)
	var res result
	require.NoError(t, json.Unmarshal([]byte(o.stdout), &res))
	assert.Equal(t, result{TaskID: id, Status: "completed", Images: []string{prefix + "/result_0.png", prefix + "/result_1.png"}}, res)
	assert.Equal(t, 3, requestsTo(srv, "GET", "/generation/"+id), "one GET each, no wait")
}

func TestStatusOfAFailedTaskExitsZeroWithItsError(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t)
	srv.FailNextTask(3001, "Invalid Request", "The prompt contains prohibited content")
	id := submit(t, srv, 0, sample)

	o := runCLI(context.Background(), e, "status", id)
	assert.Equal(t, exitOK, o.code, "the status was read")
	assert.Equal(t, "task "+id+" failed (code 3001): Invalid Request: The prompt contains prohibited content\n", o.stdout)

	o = runCLI(context.Background(), e, "status", id, "-json")
	var res result
	require.NoError(t, json.Unmarshal([]byte(o.stdout), &res))
	assert.Equal(t, "failed", res.Status)
	require.NotNil(t, res.Error)
	assert.Equal(t, "task_failed", res.Error.Kind)
}

func TestStatusErrors(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t)

	o := runCLI(context.Background(), e, "status", "no-such-task")
	assert.Equal(t, exitFailure, o.code)
	assert.True(t, strings.HasPrefix(o.stderr, "qwenedit status: task no-such-task not found at "+srv.URL()+" (HTTP 404: "), o.stderr)
	assert.True(t, strings.HasSuffix(o.stderr, ", code 2005): check the ID and -model; tasks are kept for 24 hours\n"), o.stderr)
	assert.Empty(t, o.stdout)

	bad := env{"MULEROUTER_API_KEY": "wrong", "MULEROUTER_BASE_URL": srv.URL()}
	o = runCLI(context.Background(), bad, "status", "any")
	assert.Equal(t, exitFailure, o.code)
	assert.True(t, strings.HasSuffix(o.stderr, "): check MULEROUTER_API_KEY\n"), o.stderr)

	before := len(srv.Requests())
	o = runCLI(context.Background(), env{}, "status", "any")
	assert.Equal(t, exitUsage, o.code)
	assert.True(t, strings.HasPrefix(o.stderr, "qwenedit status: MULEROUTER_API_KEY is not set: status asks MuleRouter about a task"), o.stderr)
	assert.Equal(t, 1, strings.Count(o.stderr, "\n"))
	assert.Equal(t, before, len(srv.Requests()))
}
