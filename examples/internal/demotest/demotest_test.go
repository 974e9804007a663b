package demotest

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-b62e15c8/qwenedit"
)

// TestSyncBufferKeepsEveryWrite writes from many goroutines (run with
// -race) and checks nothing is lost.
func TestSyncBufferKeepsEveryWrite(t *testing.T) {
	var b SyncBuffer
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() { _, _ = b.Write([]byte("ab")) })
	}
	wg.Wait()
	assert.Equal(t, strings.Repeat("ab", 50), b.String())
}

// TestFakeAPIPointsTheEnvironmentAtTheFake checks that a client built from
// the environment alone reaches the fake, and that RequestsTo counts what
// it sent.
func TestFakeAPIPointsTheEnvironmentAtTheFake(t *testing.T) {
	srv := FakeAPI(t)
	client, err := qwenedit.NewClient()
	require.NoError(t, err)
	_, err = client.Get(context.Background(), "abc")
	require.ErrorIs(t, err, qwenedit.ErrNotFound)
	assert.Equal(t, 1, RequestsTo(srv, "GET", "/generation/abc"))
	assert.Zero(t, RequestsTo(srv, "POST", "/generation"))
}

// TestSavedPaths checks that only "saved " lines count, indented or not.
func TestSavedPaths(t *testing.T) {
	out := "task t submitted\nsaved /a/b.png\n  saved /c.png\nnot saved x\n"
	assert.Equal(t, []string{"/a/b.png", "/c.png"}, SavedPaths(out))
}
