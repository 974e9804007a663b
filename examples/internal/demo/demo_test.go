package demo

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-b62e15c8/qwenedit"
	"github.com/seed-b62e15c8/qwenedit/qwenedittest"
)

// TestWithoutKeyUsesTheFake checks that a client made without a key talks
// to a working in-process fake, says so, and that stop shuts it down.
func TestWithoutKeyUsesTheFake(t *testing.T) {
	t.Setenv("MULEROUTER_API_KEY", "")
	var stderr strings.Builder
	client, stop, err := NewClient(false, 0, &stderr)
	require.NoError(t, err)
	assert.Contains(t, stderr.String(), "using the built-in fake server at "+client.BaseURL())
	_, err = client.Get(context.Background(), "no-such-task")
	require.ErrorIs(t, err, qwenedit.ErrNotFound, "the fake answers")
	stop()
	_, err = client.Get(context.Background(), "no-such-task")
	assert.NotErrorIs(t, err, qwenedit.ErrNotFound, "the fake is gone")
}

// TestKeyAndForce checks that a key in the environment is used as given,
// and that force starts the fake all the same.
func TestKeyAndForce(t *testing.T) {
	srv := qwenedittest.NewServer()
	defer srv.Close()
	t.Setenv("MULEROUTER_API_KEY", srv.APIKey())
	t.Setenv("MULEROUTER_BASE_URL", srv.URL())
	var stderr strings.Builder
	client, stop, err := NewClient(false, time.Second, &stderr, qwenedit.WithUserAgent("demo-test"))
	require.NoError(t, err)
	defer stop()
	assert.Empty(t, stderr.String())
	assert.Equal(t, srv.URL(), client.BaseURL())

	forced, stopForced, err := NewClient(true, time.Second, &stderr)
	require.NoError(t, err)
	defer stopForced()
	assert.NotEqual(t, srv.URL(), forced.BaseURL())
	assert.Contains(t, stderr.String(), "built-in fake")
}

// TestExitCode checks the exit status and what is printed for each kind of
// ending.
func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		err     error
		code    int
		printed string
	}{
		{nil, 0, ""},
		{fmt.Errorf("parsing: %w", flag.ErrHelp), 0, ""},
		{UsageError{errors.New("need -in")}, 2, ""},
		{errors.New("boom"), 1, "prog: boom\n"},
	} {
		var stderr strings.Builder
		assert.Equal(t, tc.code, exitCode("prog", tc.err, &stderr), "%v", tc.err)
		assert.Equal(t, tc.printed, stderr.String(), "%v", tc.err)
	}
}

// TestFlags checks the shared flags' defaults and parsing, and that a bad
// flag is a UsageError while -h stays flag.ErrHelp.
func TestFlags(t *testing.T) {
	var f Flags
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f.Register(fs, "the result")
	require.NoError(t, Parse(fs, []string{"-fake", "-poll", "10ms", "-fake-duration", "0s"}))
	assert.Equal(t, Flags{Fake: true, FakeDuration: 0, MaxWait: qwenedit.DefaultMaxWait, Poll: 10 * time.Millisecond}, f)
	assert.Len(t, f.PollOptions(), 2)

	var usage UsageError
	assert.ErrorAs(t, Parse(fs, []string{"-poll", "soon"}), &usage)
	assert.ErrorIs(t, Parse(fs, []string{"-h"}), flag.ErrHelp)
}
