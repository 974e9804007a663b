// Package imageinfo identifies images by their magic bytes and reads their
// dimensions from the header alone, without decoding pixels.
package imageinfo

import (
	"bytes"
	"encoding/binary"
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
	// ErrUnsupportedVariant is a valid image of an accepted format whose
	// variant the Go decoder does not support and whose width and height
	// Inspect cannot read otherwise (a PNG or WEBP the decoders refuse as
	// unsupported). BMP, TIFF and JPEG variants the decoders refuse (16-bit
	// or RLE BMP, YCbCr TIFF, 12-bit or arithmetic-coded JPEG, ...) are
	// read by a small header parser instead and do not give this error.
	ErrUnsupportedVariant = errors.New("imageinfo: image variant whose size cannot be read from its header")
)

// SniffLen is how many leading bytes Sniff needs.
const SniffLen = 12

// MIME is the media type of f.
func (f Format) MIME() string {
	switch f { // constants: no string built per image
	case JPEG:
		return "image/jpeg"
	case PNG:
		return "image/png"
	case GIF:
		return "image/gif"
	case BMP:
		return "image/bmp"
	case TIFF:
		return "image/tiff"
	case WEBP:
		return "image/webp"
	}
	return "image/" + string(f)
}

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

// SniffAt identifies the format of the image in r from its first bytes,
// reading nothing else.
func SniffAt(r io.ReaderAt) (Format, error) {
	head := make([]byte, SniffLen)
	n, _ := r.ReadAt(head, 0)
	return Sniff(head[:n])
}

// Inspect sniffs the format of the size bytes in r and reads the dimensions
// with that format's own DecodeConfig: only the header is read (TIFF seeks
// to its directory), never the pixels. A valid variant the decoder refuses
// as unsupported is read by a header parser of Inspect's own (BMP, TIFF,
// JPEG), else the error matches ErrUnsupportedVariant and info has the
// format but no dimensions.
func Inspect(r io.ReaderAt, size int64) (info Info, err error) {
	f, err := SniffAt(r)
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
	if err != nil && isUnsupported(err) {
		w, h, herr := headerSize(f, r, size)
		switch {
		case errors.Is(herr, errNoParser):
			return Info{Format: f}, fmt.Errorf("%w: %w", ErrUnsupportedVariant, err) // err names the format
		case herr != nil:
			return Info{}, fmt.Errorf("%w: %s header: %w (%w)", ErrBadHeader, f, herr, err)
		}
		cfg, err = image.Config{Width: w, Height: h}, nil
	}
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

// isUnsupported reports whether a decoder refused a valid image as a
// variant it does not support, rather than as malformed.
func isUnsupported(err error) bool {
	var (
		jpegErr jpeg.UnsupportedError
		pngErr  png.UnsupportedError
		tiffErr tiff.UnsupportedError
	)
	return errors.Is(err, bmp.ErrUnsupported) || errors.As(err, &jpegErr) || errors.As(err, &pngErr) || errors.As(err, &tiffErr)
}

// errNoParser: headerSize has no parser for the format.
var errNoParser = errors.New("no header parser for this format")

// headerSize reads the width and height of a BMP, TIFF or JPEG from fixed
// places of its header, for the valid variants their Go decoders refuse as
// unsupported although the API takes them: x/image/bmp refuses 16-bit,
// RLE4/RLE8 and OS/2 (core and v2) headers; x/image/tiff refuses YCbCr
// and some grey depths; image/jpeg refuses 12-bit, arithmetic-coded and
// lossless frames (TestUnsupportedVariants lists them).
func headerSize(f Format, r io.ReaderAt, size int64) (w, h int, err error) {
	switch f {
	case BMP:
		w, h, err = bmpSize(r)
	case TIFF:
		w, h, err = tiffSize(r, size)
	case JPEG:
		w, h, err = jpegSize(r)
	default:
		return 0, 0, errNoParser
	}
	if err == nil && (w <= 0 || h <= 0) {
		err = fmt.Errorf("%d×%d pixels", w, h)
	}
	return w, h, err
}

// readAt reads exactly len(p) bytes at off.
func readAt(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// bmpSize reads a BMP's DIB header: BITMAPCOREHEADER (12 bytes, uint16
// sides) or BITMAPINFOHEADER and its successors (40 to 124 bytes, int32
// sides at offsets 18 and 22; a negative height means top-down rows). The
// whole DIB header must be present.
func bmpSize(r io.ReaderAt) (int, int, error) {
	var b [26]byte
	if err := readAt(r, b[:18], 0); err != nil {
		return 0, 0, err
	}
	dib := binary.LittleEndian.Uint32(b[14:18])
	switch {
	case dib == 12:
		if err := readAt(r, b[:14+12], 0); err != nil {
			return 0, 0, err
		}
		return int(binary.LittleEndian.Uint16(b[18:20])), int(binary.LittleEndian.Uint16(b[20:22])), nil
	case dib >= 40 && dib <= 124:
		// The last byte of the DIB header must be there: a cut header is broken.
		if err := readAt(r, b[:1], 14+int64(dib)-1); err != nil {
			return 0, 0, err
		}
		if err := readAt(r, b[:26], 0); err != nil {
			return 0, 0, err
		}
		w := int64(int32(binary.LittleEndian.Uint32(b[18:22])))
		h := int64(int32(binary.LittleEndian.Uint32(b[22:26])))
		if h < 0 {
			h = -h
		}
		return int(w), int(h), nil
	}
	return 0, 0, fmt.Errorf("DIB header of %d bytes", dib)
}

// tiffSize reads the ImageWidth (256) and ImageLength (257) tags of a
// TIFF's first directory, SHORT or LONG, whatever the other tags say.
func tiffSize(r io.ReaderAt, size int64) (int, int, error) {
	var b [12]byte
	if err := readAt(r, b[:8], 0); err != nil {
		return 0, 0, err
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if b[0] == 'M' {
		bo = binary.BigEndian
	}
	ifd := int64(bo.Uint32(b[4:8]))
	if ifd < 8 || ifd+2 > size {
		return 0, 0, fmt.Errorf("directory offset %d out of the file", ifd)
	}
	if err := readAt(r, b[:2], ifd); err != nil {
		return 0, 0, err
	}
	w, h := -1, -1
	for i := range int64(bo.Uint16(b[:2])) {
		if err := readAt(r, b[:12], ifd+2+12*i); err != nil {
			return 0, 0, err
		}
		var v int
		switch typ, count := bo.Uint16(b[2:4]), bo.Uint32(b[4:8]); {
		case count != 1:
			continue
		case typ == 3: // SHORT
			v = int(bo.Uint16(b[8:10]))
		case typ == 4: // LONG
			v = int(bo.Uint32(b[8:12]))
		default:
			continue
		}
		switch bo.Uint16(b[0:2]) {
		case 256:
			w = v
		case 257:
			h = v
		}
		if w >= 0 && h >= 0 {
			return w, h, nil
		}
	}
	return 0, 0, errors.New("no ImageWidth and ImageLength tags")
}

// jpegSize walks a JPEG's marker segments to its frame header (any SOFn:
// baseline, extended, progressive, lossless, arithmetic; 8 or 12 bits) and
// reads its height and width. Only segment headers are read.
func jpegSize(r io.ReaderAt) (int, int, error) {
	var b [9]byte
	off := int64(2)  // after SOI
	for range 4096 { // real files have tens of segments
		if err := readAt(r, b[:2], off); err != nil {
			return 0, 0, err
		}
		if b[0] != 0xFF {
			return 0, 0, fmt.Errorf("no marker at offset %d", off)
		}
		switch marker := b[1]; {
		case marker == 0xFF: // a fill byte before the marker
			off++
		case marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7): // TEM, RSTn: no length
			off += 2
		case marker == 0xD9 || marker == 0xDA: // EOI, or SOS before any frame header
			return 0, 0, errors.New("no frame header before the scan")
		case marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC:
			// SOFn: length(2) precision(1) height(2) width(2)
			if err := readAt(r, b[:9], off); err != nil {
				return 0, 0, err
			}
			return int(binary.BigEndian.Uint16(b[7:9])), int(binary.BigEndian.Uint16(b[5:7])), nil
		default:
			if err := readAt(r, b[:4], off); err != nil {
				return 0, 0, err
			}
			length := int64(binary.BigEndian.Uint16(b[2:4]))
			if length < 2 {
				return 0, 0, fmt.Errorf("segment length %d", length)
			}
			off += 2 + length
		}
	}
	return 0, 0, errors.New("too many segments before the frame header")
}
