package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-b62e15c8/qwenedit"
	"github.com/seed-b62e15c8/qwenedit/qwenedittest"
)

// useServer points the program's environment at srv, as a user with a key would.
func useServer(t *testing.T, srv *qwenedittest.Server) {
	t.Setenv("MULEROUTER_API_KEY", srv.APIKey())
	t.Setenv("MULEROUTER_BASE_URL", srv.URL())
}

func TestASecondRunResumesTheTaskInsteadOfPayingAgain(t *testing.T) {
	srv := qwenedittest.NewServer(qwenedittest.WithTaskDuration(time.Hour))
	defer srv.Close()
	useServer(t, srv)
	dir := t.TempDir()
	o := options{image: filepath.Join("..", "..", "testdata", "sample.png"), prompt: "Make it snow",
		state: filepath.Join(dir, "task.txt"), out: filepath.Join(dir, "out"), maxWait: 50 * time.Millisecond}

	// Run 1 gives up while the task runs; the ID is stored.
	err := run(context.Background(), o, &bytes.Buffer{}, &bytes.Buffer{})
	require.ErrorIs(t, err, qwenedit.ErrWaitTimeout)
	require.Equal(t, 1, srv.SubmitCount())
	id := srv.Tasks()[0].ID
	assert.Contains(t, err.Error(), "task "+id+" is still running: run the same command again to resume it")
	stored, err := os.ReadFile(o.state)
	require.NoError(t, err)
	assert.Equal(t, id+"\n", string(stored))

	// Run 2, once the task is done: no new task, the results are saved, the state is gone.
	require.NoError(t, srv.SetTaskStatus(id, "completed"))
	var stdout, stderr bytes.Buffer
	require.NoError(t, run(context.Background(), o, &stdout, &stderr))
	assert.Equal(t, 1, srv.SubmitCount(), "nothing submitted twice")
	assert.Contains(t, stderr.String(), "resuming task "+id)
	assert.Equal(t, "saved "+filepath.Join(o.out, id+"_0.png"), strings.TrimSpace(stdout.String()))
	assert.NoFileExists(t, o.state)
}

func TestAFailedTaskIsForgotten(t *testing.T) {
	srv := qwenedittest.NewServer()
	defer srv.Close()
	useServer(t, srv)
	srv.FailNextTask(3001, "Invalid Request", "The prompt contains prohibited content")
	dir := t.TempDir()
	o := options{image: filepath.Join("..", "..", "testdata", "sample.png"), prompt: "Make it snow",
		state: filepath.Join(dir, "task.txt"), out: dir, maxWait: time.Minute}

	err := run(context.Background(), o, &bytes.Buffer{}, &bytes.Buffer{})
	var failed *qwenedit.TaskFailedError
	require.ErrorAs(t, err, &failed)
	assert.Equal(t, 3001, failed.Code)
	assert.NoFileExists(t, o.state, "the next run submits anew")
}
