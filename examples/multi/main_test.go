package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"image"
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

// writePNG writes a blank w×h PNG and returns its path.
func writePNG(t *testing.T, name string, w, h int) string {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, image.NewGray(image.Rect(0, 0, w, h))))
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
	return path
}

func TestImagesAreSentInTheOrderThePromptNamesThem(t *testing.T) {
	srv := qwenedittest.NewServer()
	defer srv.Close()
	client, err := qwenedit.NewClient(qwenedit.WithAPIKey(srv.APIKey()), qwenedit.WithBaseURL(srv.URL()))
	require.NoError(t, err)
	person, beach := writePNG(t, "person.png", 400, 600), writePNG(t, "beach.png", 640, 384)
	req, err := request([]string{person, beach}, "Put the person of Image 1 on the beach of Image 2")
	require.NoError(t, err)
	var stdout bytes.Buffer
	require.NoError(t, edit(context.Background(), client, req, t.TempDir(), &stdout, qwenedit.WithPollInterval(time.Millisecond)))

	require.Equal(t, 1, srv.SubmitCount())
	sent := srv.Tasks()[0].Request.Images
	require.Len(t, sent, 2)
	for i, path := range []string{person, beach} {
		want, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Equal(t, "data:image/png;base64,"+base64.StdEncoding.EncodeToString(want), sent[i], "images[%d] is Image %d", i, i+1)
	}

	// The output's aspect ratio follows the last image (the fake keeps its size).
	saved, ok := strings.CutPrefix(strings.TrimSpace(stdout.String()), "saved ")
	require.True(t, ok, stdout.String())
	f, err := os.Open(saved)
	require.NoError(t, err)
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	require.NoError(t, err)
	assert.Equal(t, [2]int{640, 384}, [2]int{cfg.Width, cfg.Height})
}

func TestAMissingFileIsReportedBeforeThePrompt(t *testing.T) {
	beach := writePNG(t, "beach.png", 640, 384)
	_, err := request([]string{beach, "nope.png"}, "Put Image 2 in Image 3")
	var verr *qwenedit.ValidationError
	require.ErrorAs(t, err, &verr)
	assert.Contains(t, err.Error(), "nope.png")
	assert.NotContains(t, err.Error(), "Image 3")
}

func TestAPromptNamingAMissingImageIsRefused(t *testing.T) {
	a, b := writePNG(t, "a.png", 400, 400), writePNG(t, "b.png", 400, 400)
	_, err := request([]string{a, b}, "Put Image 1 in the style of Image 3")
	require.EqualError(t, err, `the prompt names "Image 3", but only 2 images were given`)
}

func TestWithoutAKeyItUsesTheFakeAndSaysSo(t *testing.T) {
	t.Setenv("MULEROUTER_API_KEY", "")
	var stderr bytes.Buffer
	client, poll, closeFake, err := newClient(&stderr)
	require.NoError(t, err)
	defer closeFake()
	assert.Contains(t, stderr.String(), "MULEROUTER_API_KEY is not set: using the fake server at ")
	assert.NotNil(t, client)
	assert.NotEmpty(t, poll, "a quick poll for the fake")
}
