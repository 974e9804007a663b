package imageinfo_test

import (
	"bytes"
	"errors"
	"io"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-b62e15c8/qwenedit/internal/imageinfo"
	"github.com/seed-b62e15c8/qwenedit/internal/imagetest"
)

var allFormats = []imageinfo.Format{imageinfo.JPEG, imageinfo.PNG, imageinfo.GIF, imageinfo.BMP, imageinfo.TIFF, imageinfo.WEBP}

func inspectBytes(b []byte) (imageinfo.Info, error) {
	return imageinfo.Inspect(bytes.NewReader(b), int64(len(b)))
}

func TestInspectEveryFormat(t *testing.T) {
	for _, f := range allFormats {
		for _, sz := range [][2]int{{1, 1}, {384, 3072}, {641, 479}} {
			info, err := inspectBytes(imagetest.MustEncode(t, f, sz[0], sz[1]))
			require.NoError(t, err, "%s", f)
			assert.Equal(t, imageinfo.Info{Format: f, Width: sz[0], Height: sz[1]}, info)
		}
	}
}

// countingReaderAt counts the bytes read through it.
type countingReaderAt struct {
	r io.ReaderAt
	n atomic.Int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n.Add(int64(n))
	return n, err
}

func TestInspectReadsTheHeaderOnly(t *testing.T) {
	for _, f := range allFormats {
		data := imagetest.MustEncode(t, f, 2000, 2000)
		c := &countingReaderAt{r: bytes.NewReader(data)}
		info, err := imageinfo.Inspect(c, int64(len(data)))
		require.NoError(t, err)
		assert.Equal(t, 2000, info.Width)
		if f == imageinfo.WEBP || len(data) < 1<<20 {
			assert.Less(t, c.n.Load(), int64(64<<10), "%s", f)
			continue
		}
		assert.Less(t, c.n.Load(), int64(len(data)/10), "%s read %d of %d bytes", f, c.n.Load(), len(data))
	}
}

func TestTruncatedHeaders(t *testing.T) {
	for _, f := range allFormats {
		data := imagetest.MustEncode(t, f, 50, 40)
		for _, cut := range []int{0, 2, 6, 11, 12, 16, 20, 26, 30} {
			if cut >= len(data) || (f == imageinfo.WEBP && cut >= 25) {
				continue // a VP8L header is 25 bytes; past it only pixel data is cut
			}
			_, err := inspectBytes(data[:cut])
			if f == imageinfo.TIFF && cut >= 8 {
				// TIFF's directory sits at the end; any cut removes it.
				require.Error(t, err)
				continue
			}
			require.Error(t, err, "%s cut at %d", f, cut)
			assert.True(t, errors.Is(err, imageinfo.ErrBadHeader) || errors.Is(err, imageinfo.ErrUnknownFormat), "%s cut at %d: %v", f, cut, err)
		}
	}
}

func TestNotImages(t *testing.T) {
	for _, b := range [][]byte{nil, []byte("hello"), []byte("%PDF-1.7\n..."), []byte("RIFF\x00\x00\x00\x00WAVEfmt ")} {
		_, err := inspectBytes(b)
		assert.ErrorIs(t, err, imageinfo.ErrUnknownFormat, "%q", b)
	}
	_, err := inspectBytes([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x00\x00\x00\x00\x00\x08\x02\x00\x00\x00"))
	assert.ErrorIs(t, err, imageinfo.ErrBadHeader, "zero dimensions")
}

func TestMIME(t *testing.T) {
	for _, f := range allFormats {
		got, ok := imageinfo.FormatFromMIME(f.MIME())
		assert.True(t, ok)
		assert.Equal(t, f, got)
	}
	for in, want := range map[string]imageinfo.Format{"IMAGE/JPG": imageinfo.JPEG, "image/x-ms-bmp": imageinfo.BMP, "image/png; q=1": imageinfo.PNG} {
		got, ok := imageinfo.FormatFromMIME(in)
		assert.True(t, ok, in)
		assert.Equal(t, want, got)
	}
	_, ok := imageinfo.FormatFromMIME("text/plain")
	assert.False(t, ok)
}

func TestDecodeUnknownFormat(t *testing.T) {
	_, err := imageinfo.Decode(bytes.NewReader(nil), "svg")
	assert.ErrorIs(t, err, imageinfo.ErrUnknownFormat)
}

func FuzzSniff(f *testing.F) {
	for _, s := range []string{"\xff\xd8\xff", "\x89PNG\r\n\x1a\n", "GIF89a", "BM", "II*\x00", "MM\x00*", "RIFF0000WEBP", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, head []byte) {
		format, err := imageinfo.Sniff(head)
		if err != nil {
			require.ErrorIs(t, err, imageinfo.ErrUnknownFormat)
			return
		}
		got, ok := imageinfo.FormatFromMIME(format.MIME())
		require.True(t, ok)
		require.Equal(t, format, got)
	})
}

func FuzzInspect(f *testing.F) {
	for _, format := range allFormats {
		data, err := imagetest.Encode(format, 7, 5)
		require.NoError(f, err)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := inspectBytes(data)
		if err != nil {
			require.True(t, errors.Is(err, imageinfo.ErrBadHeader) || errors.Is(err, imageinfo.ErrUnknownFormat), "%v", err)
			return
		}
		require.Positive(t, info.Width)
		require.Positive(t, info.Height)
		_, ok := imageinfo.FormatFromMIME(info.Format.MIME())
		require.True(t, ok)
	})
}
