// Package imageinfo identifies images by their magic bytes and reads their
// dimensions from the header alone, without decoding pixels.
package imageinfo

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"strings"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
	"golang.org/x/image/webp"
)

// Format is an image format the API accepts.
type Format string

// The accepted formats.
const (
	JPEG Format = "jpeg"
	PNG  Format = "png"
	GIF  Format = "gif"
	BMP  Format = "bmp"
	TIFF Format = "tiff"
	WEBP Format = "webp"
)

// Errors of Sniff and Inspect.
var (
	ErrUnknownFormat = errors.New("imageinfo: unknown image format")
	ErrBadHeader     = errors.New("imageinfo: unreadable image header")
)

// SniffLen is how many leading bytes Sniff needs.
const SniffLen = 12

// MIME is the media type of f.
func (f Format) MIME() string { return "image/" + string(f) }

// FormatFromMIME maps a media type (case-insensitive, parameters ignored) to a Format.
func FormatFromMIME(mime string) (Format, bool) {
	mt := strings.ToLower(strings.TrimSpace(mime))
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = strings.TrimSpace(mt[:i])
	}
	switch mt {
	case "image/jpeg", "image/jpg", "image/pjpeg":
		return JPEG, true
	case "image/png":
		return PNG, true
	case "image/gif":
		return GIF, true
	case "image/bmp", "image/x-ms-bmp", "image/x-bmp":
		return BMP, true
	case "image/tiff", "image/tif":
		return TIFF, true
	case "image/webp":
		return WEBP, true
	}
	return "", false
}

// Sniff identifies the format from the first bytes (at least SniffLen for WEBP).
func Sniff(head []byte) (Format, error) {
	switch {
	case bytes.HasPrefix(head, []byte{0xFF, 0xD8, 0xFF}):
		return JPEG, nil
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return PNG, nil
	case bytes.HasPrefix(head, []byte("GIF87a")), bytes.HasPrefix(head, []byte("GIF89a")):
		return GIF, nil
	case bytes.HasPrefix(head, []byte("BM")):
		return BMP, nil
	case bytes.HasPrefix(head, []byte("II*\x00")), bytes.HasPrefix(head, []byte("MM\x00*")):
		return TIFF, nil
	case len(head) >= 12 && bytes.Equal(head[:4], []byte("RIFF")) && bytes.Equal(head[8:12], []byte("WEBP")):
		return WEBP, nil
	}
	return "", ErrUnknownFormat
}

// Info is what the header says.
type Info struct {
	Format        Format
	Width, Height int
}

// Inspect sniffs the format of the size bytes in r and reads the dimensions
// with that format's own DecodeConfig: only the header is read (TIFF seeks
// to its directory), never the pixels.
func Inspect(r io.ReaderAt, size int64) (info Info, err error) {
	head := make([]byte, SniffLen)
	n, _ := r.ReadAt(head, 0)
	f, err := Sniff(head[:n])
	if err != nil {
		return Info{}, err
	}
	defer func() {
		// Header parsers of the standard and x/image libraries are not all
		// hardened against hostile input; a panic must not escape.
		if p := recover(); p != nil {
			info, err = Info{}, fmt.Errorf("%w: %s header: %v", ErrBadHeader, f, p)
		}
	}()
	cfg, err := decodeConfig(f, io.NewSectionReader(r, 0, size))
	if err != nil {
		return Info{}, fmt.Errorf("%w: %s header: %w", ErrBadHeader, f, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return Info{}, fmt.Errorf("%w: %s header: %d×%d pixels", ErrBadHeader, f, cfg.Width, cfg.Height)
	}
	return Info{Format: f, Width: cfg.Width, Height: cfg.Height}, nil
}

// codec is the standard or x/image decoder pair of one format.
type codec struct {
	config func(io.Reader) (image.Config, error)
	decode func(io.Reader) (image.Image, error)
}

// codecOf returns f's decoders; ok is false for an unknown format.
func codecOf(f Format) (c codec, ok bool) {
	switch f {
	case JPEG:
		return codec{jpeg.DecodeConfig, jpeg.Decode}, true
	case PNG:
		return codec{png.DecodeConfig, png.Decode}, true
	case GIF:
		return codec{gif.DecodeConfig, gif.Decode}, true
	case BMP:
		return codec{bmp.DecodeConfig, bmp.Decode}, true
	case TIFF:
		return codec{tiff.DecodeConfig, tiff.Decode}, true
	case WEBP:
		return codec{webp.DecodeConfig, webp.Decode}, true
	}
	return codec{}, false
}

func decodeConfig(f Format, r *io.SectionReader) (image.Config, error) {
	c, ok := codecOf(f)
	if !ok {
		return image.Config{}, fmt.Errorf("%w: %q", ErrUnknownFormat, f)
	}
	return c.config(r)
}

// Decode decodes the whole image with f's decoder (GIF: the first frame).
func Decode(r io.Reader, f Format) (img image.Image, err error) {
	defer func() {
		if p := recover(); p != nil {
			img, err = nil, fmt.Errorf("%w: %s: %v", ErrBadHeader, f, p)
		}
	}()
	c, ok := codecOf(f)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownFormat, f)
	}
	return c.decode(r)
}
