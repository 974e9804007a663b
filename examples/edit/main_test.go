package main

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
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

var sample = filepath.Join("..", "..", "testdata", "sample.png")

func TestWithoutAKeyItEditsAgainstTheFakeAndSaysSo(t *testing.T) {
	t.Setenv("MULEROUTER_API_KEY", "")
	var stdout, stderr bytes.Buffer
	client, poll, closeFake, err := newClient(&stderr)
	require.NoError(t, err)
	defer closeFake()
	out := t.TempDir()
	require.NoError(t, edit(context.Background(), client, sample, "Turn the sky purple", out, &stdout, &stderr, poll...))

	assert.Contains(t, stderr.String(), "MULEROUTER_API_KEY is not set: using the fake server at http://127.0.0.1:")
	assert.Contains(t, stderr.String(), "nothing is charged")
	path, ok := strings.CutPrefix(strings.TrimSpace(stdout.String()), "saved ")
	require.True(t, ok, stdout.String())
	assert.Equal(t, out, filepath.Dir(path))

	// What the banner says: the sample with its colours inverted.
	in, got := decode(t, sample), decode(t, path)
	require.Equal(t, in.Bounds(), got.Bounds())
	for _, p := range [][2]int{{0, 0}, {320, 240}, {639, 479}} {
		a := color.NRGBAModel.Convert(in.At(p[0], p[1])).(color.NRGBA)
		b := color.NRGBAModel.Convert(got.At(p[0], p[1])).(color.NRGBA)
		assert.Equal(t, color.NRGBA{255 - a.R, 255 - a.G, 255 - a.B, a.A}, b, "pixel %v", p)
	}
}

func TestEditSendsOneTask(t *testing.T) {
	srv := qwenedittest.NewServer()
	defer srv.Close()
	client, err := qwenedit.NewClient(qwenedit.WithAPIKey(srv.APIKey()), qwenedit.WithBaseURL(srv.URL()))
	require.NoError(t, err)
	var stderr bytes.Buffer
	err = edit(context.Background(), client, "https://example.com/cat.png", "Put a red scarf on the cat", t.TempDir(),
		&bytes.Buffer{}, &stderr, qwenedit.WithPollInterval(time.Millisecond))
	require.NoError(t, err)

	require.Equal(t, 1, srv.SubmitCount())
	task := srv.Tasks()[0]
	assert.Equal(t, "Put a red scarf on the cat", task.Request.Prompt)
	assert.Equal(t, []string{"https://example.com/cat.png"}, task.Request.Images, "a URL is passed through")
	assert.Equal(t, "task "+task.ID+" submitted\n", stderr.String())
}

func TestAMissingFileSendsNothing(t *testing.T) {
	srv := qwenedittest.NewServer()
	defer srv.Close()
	client, err := qwenedit.NewClient(qwenedit.WithAPIKey(srv.APIKey()), qwenedit.WithBaseURL(srv.URL()))
	require.NoError(t, err)
	err = edit(context.Background(), client, "nope.png", "Turn the sky purple", t.TempDir(), &bytes.Buffer{}, &bytes.Buffer{})
	var verr *qwenedit.ValidationError
	require.ErrorAs(t, err, &verr)
	assert.Contains(t, err.Error(), "nope.png")
	assert.Zero(t, len(srv.Requests()))
}

func decode(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err, "%s is a PNG", path)
	return img
}
