package qwenedit

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-b62e15c8/qwenedit/internal/imageinfo"
	"github.com/seed-b62e15c8/qwenedit/internal/imagetest"
	"github.com/seed-b62e15c8/qwenedit/internal/streambody"
)

// imageProblem validates a request with img and returns its one problem ("" if valid).
func imageProblem(t *testing.T, img Image) string {
	t.Helper()
	err := (&EditRequest{Images: []Image{img}, Prompt: "p"}).Validate()
	if err == nil {
		return ""
	}
	ps := problems(t, err)
	require.Len(t, ps, 1)
	assert.Equal(t, "images[0]", ps[0].Field)
	return ps[0].Message
}

func TestEveryFormatIsAccepted(t *testing.T) {
	for _, f := range []imageinfo.Format{imageinfo.JPEG, imageinfo.PNG, imageinfo.GIF, imageinfo.BMP, imageinfo.TIFF, imageinfo.WEBP} {
		t.Run(string(f), func(t *testing.T) {
			data := imagetest.MustEncode(t, f, 400, 500)
			assert.Empty(t, imageProblem(t, ImageBytes(data)))
			assert.Empty(t, imageProblem(t, ImageReader(bytes.NewReader(data))))
			path := filepath.Join(t.TempDir(), "img.bin") // the name says nothing: bytes decide
			require.NoError(t, os.WriteFile(path, data, 0o600))
			assert.Empty(t, imageProblem(t, ImageFile(path)))

			img, err := ImageBytes(data).prepare(true)
			require.NoError(t, err)
			assert.Equal(t, f.MIME(), img.part.Inline.MediaType)
		})
	}
}

func TestPixelLimits(t *testing.T) {
	cases := []struct {
		w, h int
		ok   bool
	}{
		{384, 384, true}, {3072, 384, true}, {384, 3072, true},
		{383, 500, false}, {500, 383, false}, {3073, 500, false}, {500, 3073, false},
	}
	for _, tc := range cases {
		msg := imageProblem(t, ImageBytes(pngBytes(t, tc.w, tc.h)))
		if tc.ok {
			assert.Empty(t, msg, "%dx%d", tc.w, tc.h)
		} else {
			assert.Contains(t, msg, "width and height must be 384 to 3072", "%dx%d", tc.w, tc.h)
		}
	}
}

func TestPixelCheckCanBeTurnedOff(t *testing.T) {
	small := &EditRequest{Images: []Image{ImageBytes(pngBytes(t, 100, 100))}, Prompt: "p"}
	c, mt, _ := mockClient(t, WithPixelCheck(false))
	mt.RegisterResponder("POST", submitURL, jsonResponder(202, pendingJS))
	_, err := c.Submit(context.Background(), small)
	require.NoError(t, err)
	assert.Error(t, small.Validate(), "Validate on its own always checks pixels")

	notImage := &EditRequest{Images: []Image{ImageBytes([]byte("hello, world"))}, Prompt: "p"}
	_, err = c.Submit(context.Background(), notImage)
	assert.ErrorIs(t, err, ErrInvalidRequest, "the format check stays on")
}

// padded is a valid PNG header for 500×500 followed by junk up to size bytes:
// the checks read headers only, so this stands for a big image cheaply.
func padded(t *testing.T, size int) []byte {
	data := pngBytes(t, 500, 500)
	require.Less(t, len(data), size)
	return append(data, make([]byte, size-len(data))...)
}

func TestByteSizeLimit(t *testing.T) {
	assert.Empty(t, imageProblem(t, ImageBytes(padded(t, MaxImageBytes))))
	assert.Contains(t, imageProblem(t, ImageBytes(padded(t, MaxImageBytes+1))), "at most 10.00 MiB")
	assert.Contains(t, imageProblem(t, ImageReader(bytes.NewReader(padded(t, MaxImageBytes+1)))), "at most 10.00 MiB")

	path := filepath.Join(t.TempDir(), "big.png")
	require.NoError(t, os.WriteFile(path, padded(t, MaxImageBytes+1), 0o600))
	assert.Contains(t, imageProblem(t, ImageFile(path)), "at most 10.00 MiB")
}

func TestBrokenImages(t *testing.T) {
	full := pngBytes(t, 500, 500)
	assert.Contains(t, imageProblem(t, ImageBytes(nil)), "is empty")
	assert.Contains(t, imageProblem(t, ImageBytes([]byte("%PDF-1.7 not an image"))), "not a supported image format")
	assert.Contains(t, imageProblem(t, ImageBytes(full[:20])), "broken image header")
	assert.Contains(t, imageProblem(t, ImageFile(filepath.Join(t.TempDir(), "missing.png"))), "cannot open")
	assert.Contains(t, imageProblem(t, ImageFile(t.TempDir())), "not a regular file")
	assert.Contains(t, imageProblem(t, ImageReader(iotest.ErrReader(errors.New("disk on fire")))), "disk on fire")
}

func TestImageReaderIsReadOnce(t *testing.T) {
	data := pngBytes(t, 400, 400)
	r := &countingReader{r: bytes.NewReader(data)}
	img := ImageReader(r)
	req := &EditRequest{Images: []Image{img}, Prompt: "p"}
	require.NoError(t, req.Validate())
	require.NoError(t, req.Validate())
	assert.Equal(t, len(data), r.n, "the reader is consumed exactly once")
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestFileChangedAfterValidationIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "img.png")
	require.NoError(t, os.WriteFile(path, pngBytes(t, 400, 400), 0o600))
	c, _, _ := mockClient(t)
	body, err := c.buildBody(&EditRequest{Images: []Image{ImageFile(path)}, Prompt: "p"})
	require.NoError(t, err)

	// Grow the file between the check and the upload.
	require.NoError(t, os.WriteFile(path, pngBytes(t, 800, 800), 0o600))
	require.NoError(t, os.Chtimes(path, time.Now(), time.Now().Add(time.Hour)))
	rc, err := body.Open()
	if err == nil {
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
	}
	assert.ErrorIs(t, err, streambody.ErrSourceChanged)
}

func TestImageString(t *testing.T) {
	assert.Equal(t, "ImageURL(https://x/a.png)", ImageURL("https://x/a.png").String())
	assert.Equal(t, "ImageBytes(3 bytes)", ImageBytes([]byte("abc")).String())
	assert.True(t, strings.HasPrefix(ImageFile("a.png").String(), "ImageFile("))
	assert.Equal(t, "Image(zero)", Image{}.String())
}
