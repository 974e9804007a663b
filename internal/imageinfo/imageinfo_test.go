package imageinfo_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"

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
			require.True(t, errors.Is(err, imageinfo.ErrBadHeader) || errors.Is(err, imageinfo.ErrUnknownFormat) || errors.Is(err, imageinfo.ErrUnsupportedVariant), "%v", err)
			return
		}
		require.Positive(t, info.Width)
		require.Positive(t, info.Height)
		_, ok := imageinfo.FormatFromMIME(info.Format.MIME())
		require.True(t, ok)
	})
}

// bmpHeader is a BMP of w×h whose DIB header has dib bytes (12: OS/2
// BITMAPCOREHEADER with 16-bit sides; 40, 108, 124: BITMAPINFOHEADER and
// successors), bpp bits per pixel and the given compression, followed by
// some bytes standing for the pixels (the header readers never look there).
func bmpHeader(dib, bpp, compression uint32, w, h int32) []byte {
	b := make([]byte, 14+dib+64)
	copy(b, "BM")
	binary.LittleEndian.PutUint32(b[2:], uint32(len(b)))
	binary.LittleEndian.PutUint32(b[10:], 14+dib)
	binary.LittleEndian.PutUint32(b[14:], dib)
	if dib == 12 {
		binary.LittleEndian.PutUint16(b[18:], uint16(w))
		binary.LittleEndian.PutUint16(b[20:], uint16(h))
		binary.LittleEndian.PutUint16(b[22:], 1)
		binary.LittleEndian.PutUint16(b[24:], uint16(bpp))
		return b
	}
	binary.LittleEndian.PutUint32(b[18:], uint32(w))
	binary.LittleEndian.PutUint32(b[22:], uint32(h))
	binary.LittleEndian.PutUint16(b[26:], 1)
	binary.LittleEndian.PutUint16(b[28:], uint16(bpp))
	binary.LittleEndian.PutUint32(b[30:], compression)
	return b
}

type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// tiffHeader is a TIFF whose first directory holds entries {tag, type
// (3 SHORT, 4 LONG), value}, in the given byte order.
func tiffHeader(bo byteOrder, entries ...[3]uint32) []byte {
	var b []byte
	if bo == byteOrder(binary.BigEndian) {
		b = []byte("MM\x00*")
	} else {
		b = []byte("II*\x00")
	}
	b = bo.AppendUint32(b, 8)
	b = bo.AppendUint16(b, uint16(len(entries)))
	for _, e := range entries {
		b = bo.AppendUint16(b, uint16(e[0]))
		b = bo.AppendUint16(b, uint16(e[1]))
		b = bo.AppendUint32(b, 1)
		if e[1] == 3 {
			b = bo.AppendUint16(b, uint16(e[2]))
			b = append(b, 0, 0)
		} else {
			b = bo.AppendUint32(b, e[2])
		}
	}
	b = append(b, 0, 0, 0, 0) // no next directory
	return append(b, make([]byte, 64)...)
}

// patched is data with the bytes at off replaced.
func patched(data []byte, off int, with ...byte) []byte {
	out := bytes.Clone(data)
	copy(out[off:], with)
	return out
}

// sofOffset is where the frame header marker (FF C0) of a JPEG starts.
func sofOffset(t *testing.T, data []byte) int {
	i := bytes.Index(data, []byte{0xFF, 0xC0})
	require.Positive(t, i)
	return i
}

// TestUnsupportedVariants: valid images whose variant the Go decoders do
// not support still give their size, read from the header, instead of
// being called broken.
func TestUnsupportedVariants(t *testing.T) {
	jpg := imagetest.MustEncode(t, imageinfo.JPEG, 640, 480)
	sof := sofOffset(t, jpg)
	le, be := byteOrder(binary.LittleEndian), byteOrder(binary.BigEndian)
	ycbcr := [][3]uint32{{256, 4, 1000}, {257, 4, 700}, {258, 3, 8}, {259, 3, 1}, {262, 3, 6}, {277, 3, 3}}
	cases := []struct {
		name   string
		data   []byte
		decode func(io.Reader) (image.Config, error)
		w, h   int
	}{
		{"BMP 16-bit", bmpHeader(40, 16, 0, 512, 384), bmp.DecodeConfig, 512, 384},
		{"BMP 16-bit bitfields", bmpHeader(40, 16, 3, 800, 600), bmp.DecodeConfig, 800, 600},
		{"BMP RLE8", bmpHeader(40, 8, 1, 1024, 768), bmp.DecodeConfig, 1024, 768},
		{"BMP RLE4", bmpHeader(40, 4, 2, 500, 400), bmp.DecodeConfig, 500, 400},
		{"BMP V5 top-down 16-bit", bmpHeader(124, 16, 0, 700, -900), bmp.DecodeConfig, 700, 900},
		{"BMP OS/2 core header", bmpHeader(12, 24, 0, 640, 480), bmp.DecodeConfig, 640, 480},
		{"BMP OS/2 v2 header", bmpHeader(64, 24, 0, 641, 481), bmp.DecodeConfig, 641, 481},
		{"TIFF YCbCr", tiffHeader(le, ycbcr...), tiff.DecodeConfig, 1000, 700},
		{"TIFF YCbCr big-endian", tiffHeader(be, ycbcr...), tiff.DecodeConfig, 1000, 700},
		{"TIFF 4-bit grey, SHORT sides", tiffHeader(le, [3]uint32{256, 3, 400}, [3]uint32{257, 3, 3000}, [3]uint32{258, 3, 4}, [3]uint32{262, 3, 1}), tiff.DecodeConfig, 400, 3000},
		{"JPEG 12-bit", patched(jpg, sof+1, 0xC1, 0, 17, 12), jpeg.DecodeConfig, 640, 480},
		{"JPEG arithmetic", patched(jpg, sof+1, 0xC9), jpeg.DecodeConfig, 640, 480},
		{"JPEG lossless", patched(jpg, sof+1, 0xC3), jpeg.DecodeConfig, 640, 480},
		{"JPEG fill bytes before the frame", append(append([]byte{0xFF, 0xD8, 0xFF, 0xFF}, jpg[2:sof]...), patched(jpg, sof+1, 0xC9)[sof:]...), jpeg.DecodeConfig, 640, 480},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.decode(bytes.NewReader(tc.data))
			require.Error(t, err, "the Go decoder must refuse this variant, or the test proves nothing")
			info, err := inspectBytes(tc.data)
			require.NoError(t, err)
			assert.Equal(t, tc.w, info.Width)
			assert.Equal(t, tc.h, info.Height)
		})
	}
}

func TestUnsupportedVariantsThatAreBroken(t *testing.T) {
	le := byteOrder(binary.LittleEndian)
	jpg := imagetest.MustEncode(t, imageinfo.JPEG, 640, 480)
	sof := sofOffset(t, jpg)
	for name, data := range map[string][]byte{
		"BMP negative width":          bmpHeader(40, 16, 0, -5, 400),
		"BMP zero height":             bmpHeader(40, 16, 0, 500, 0),
		"BMP header cut":              bmpHeader(40, 16, 0, 500, 400)[:40],
		"BMP odd DIB header":          bmpHeader(20, 16, 0, 500, 400),
		"TIFF without sides":          tiffHeader(le, [3]uint32{258, 3, 8}, [3]uint32{262, 3, 6}),
		"TIFF directory out of file":  patched(tiffHeader(le, [3]uint32{262, 3, 6}), 4, 0xFF, 0xFF, 0, 0),
		"JPEG 12-bit, zero height":    patched(jpg, sof+1, 0xC1, 0, 17, 12, 0, 0),
		"JPEG 12-bit, cut in the SOF": patched(jpg, sof+1, 0xC1, 0, 17, 12)[:sof+6],
		"JPEG arithmetic, bad length": patched(patched(jpg, sof+1, 0xC9), 4, 0, 1),
	} {
		_, err := inspectBytes(data)
		assert.ErrorIs(t, err, imageinfo.ErrBadHeader, "%s: %v", name, err)
	}
}

// TestUnsupportedWithoutParser: a variant the decoder refuses and no
// header parser reads is ErrUnsupportedVariant, not "broken", and keeps
// its format.
func TestUnsupportedWithoutParser(t *testing.T) {
	p := patched(imagetest.MustEncode(t, imageinfo.PNG, 500, 400), 26, 1) // IHDR compression method 1
	_, err := png.DecodeConfig(bytes.NewReader(p))
	var unsupported png.UnsupportedError
	require.ErrorAs(t, err, &unsupported)
	info, err := inspectBytes(p)
	assert.ErrorIs(t, err, imageinfo.ErrUnsupportedVariant)
	assert.NotErrorIs(t, err, imageinfo.ErrBadHeader)
	assert.Equal(t, imageinfo.PNG, info.Format)
}

func TestSniffAt(t *testing.T) {
	for _, f := range allFormats {
		got, err := imageinfo.SniffAt(bytes.NewReader(imagetest.MustEncode(t, f, 5, 5)))
		require.NoError(t, err)
		assert.Equal(t, f, got)
	}
	_, err := imageinfo.SniffAt(bytes.NewReader([]byte("hi")))
	assert.ErrorIs(t, err, imageinfo.ErrUnknownFormat)
}
