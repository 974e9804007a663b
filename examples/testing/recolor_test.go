package recolor_test

import (
	"context"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-b62e15c8/qwenedit"
	recolor "github.com/seed-b62e15c8/qwenedit/examples/testing"
	"github.com/seed-b62e15c8/qwenedit/qwenedittest"
)

var photo = filepath.Join("..", "..", "testdata", "sample.png")

// fast polls every millisecond instead of the SDK's 3 s. The fake's tasks
// are done when created, so most tests need no poll option at all; only
// the ones that make the fake answer "not yet" (a 503, a slow task) do.
var fast = qwenedit.WithPollInterval(time.Millisecond)

// newClient is a client of srv: its key and its base URL.
func newClient(t *testing.T, srv *qwenedittest.Server) *qwenedit.Client {
	t.Helper()
	client, err := qwenedit.NewClient(qwenedit.WithAPIKey(srv.APIKey()), qwenedit.WithBaseURL(srv.URL()))
	require.NoError(t, err)
	return client
}

func TestSkySendsOneTaskAndSavesItsResult(t *testing.T) {
	srv := qwenedittest.NewServer()
	defer srv.Close()

	path, err := recolor.Sky(context.Background(), newClient(t, srv), photo, "purple", t.TempDir())
	require.NoError(t, err)

	// What was sent: exactly one paid task, with our prompt and seed.
	require.Equal(t, 1, srv.SubmitCount())
	req := srv.Tasks()[0].Request
	assert.Equal(t, "Turn the sky purple, keep everything else as it is", req.Prompt)
	require.NotNil(t, req.Seed)
	assert.Equal(t, recolor.Seed, *req.Seed)
	require.NotNil(t, req.NegativePrompt)
	assert.Equal(t, "text, watermark", *req.NegativePrompt)

	// What came back: a real PNG (the fake's, the size of the photo).
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	require.NoError(t, err)
	assert.Equal(t, [2]int{640, 480}, [2]int{cfg.Width, cfg.Height})

	// The key went to the API only, never to the result host.
	for _, r := range srv.Requests() {
		if r.Origin == qwenedittest.OriginResults {
			assert.Empty(t, r.Header.Get("Authorization"))
		}
	}
}

func TestSkyReportsAFailedTask(t *testing.T) {
	srv := qwenedittest.NewServer()
	defer srv.Close()
	srv.FailNextTask(3001, "Invalid Request", "The prompt contains prohibited content")
	dir := t.TempDir()

	_, err := recolor.Sky(context.Background(), newClient(t, srv), photo, "purple", dir)
	var failed *qwenedit.TaskFailedError
	require.ErrorAs(t, err, &failed)
	assert.Equal(t, 3001, failed.Code)
	assert.Equal(t, srv.Tasks()[0].ID, failed.TaskID)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "nothing saved")
}

func TestSkyRidesOutABusyServer(t *testing.T) {
	srv := qwenedittest.NewServer()
	defer srv.Close()
	// The first poll gets a 503: the SDK keeps polling.
	srv.InjectFault(qwenedittest.Fault{Method: "GET", Kind: qwenedittest.FaultStatus, Status: 503})

	_, err := recolor.Sky(context.Background(), newClient(t, srv), photo, "purple", t.TempDir(), fast)
	require.NoError(t, err)
	assert.Zero(t, srv.PendingFaults(), "the fault was hit")
	assert.Equal(t, 1, srv.SubmitCount(), "and no second task was paid for")
}

func TestSkyGivesUpOnASlowTaskWithItsID(t *testing.T) {
	srv := qwenedittest.NewServer(qwenedittest.WithTaskDuration(time.Hour))
	defer srv.Close()

	_, err := recolor.Sky(context.Background(), newClient(t, srv), photo, "purple", t.TempDir(), fast, qwenedit.WithMaxWait(20*time.Millisecond))
	var timeout *qwenedit.WaitTimeoutError
	require.ErrorAs(t, err, &timeout)
	assert.Equal(t, srv.Tasks()[0].ID, timeout.TaskID, "enough to resume with WaitForResult")
}

func TestSkyNeedsAColourAndSendsNothingWithout(t *testing.T) {
	srv := qwenedittest.NewServer()
	defer srv.Close()
	_, err := recolor.Sky(context.Background(), newClient(t, srv), photo, "", t.TempDir())
	require.EqualError(t, err, "recolor: no colour")
	assert.Zero(t, len(srv.Requests()))
}
