package qwenedit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/seed-b62e15c8/qwenedit/internal/imageinfo"
	"github.com/seed-b62e15c8/qwenedit/internal/limits"
	"github.com/seed-b62e15c8/qwenedit/internal/streambody"
)

// Image is one input image: a URL the server fetches, or local bytes sent
// inline as a base64 data URI. Build it with ImageURL, ImageFile, ImageBytes
// or ImageReader; the zero Image is invalid. Copies share the same source.
type Image struct {
	src *imageSource
}

type imageKind int

const (
	kindURL imageKind = iota + 1
	kindFile
	kindBytes
	kindReader
)

type imageSource struct {
	kind imageKind
	url  string
	path string
	data []byte

	reader   io.Reader
	readOnce sync.Once
	readDone chan struct{} // closed when the read of reader has ended
	readErr  error
}

// ImageURL is an image the server downloads itself: an http or https URL,
// passed through unchanged. It must be publicly reachable.
func ImageURL(u string) Image { return Image{&imageSource{kind: kindURL, url: u}} }

// ImageFile is a local file, checked and then streamed from disk at Submit as
// data:<mime>;base64,... (the MIME type sniffed from its bytes, not its name).
// A file that changes between the check and the upload fails the Submit.
func ImageFile(path string) Image { return Image{&imageSource{kind: kindFile, path: path}} }

// ImageBytes is an in-memory image; the MIME type is sniffed from the bytes.
// The slice is not copied: do not modify it until Submit has returned.
func ImageBytes(data []byte) Image { return Image{&imageSource{kind: kindBytes, data: data}} }

// ImageReader is an image read from r, once, at the first Validate or Submit
// (at most limits.MaxImageBytes+1 bytes are read). The raw bytes are kept so the
// request can be retried; the base64 form is never held in memory.
//
// If Submit's context ends while r is being read, Submit returns the
// context's error at once and sends nothing. Go cannot interrupt a Read,
// so r goes on being read in the background until its Read returns (close
// r, if it can be closed, to end that sooner); a later Validate or Submit
// of the same Image waits for that read and uses its bytes.
func ImageReader(r io.Reader) Image {
	return Image{&imageSource{kind: kindReader, reader: r, readDone: make(chan struct{})}}
}

// String describes the image without its content.
func (img Image) String() string {
	if img.src == nil {
		return "Image(zero)"
	}
	switch img.src.kind {
	case kindURL:
		return "ImageURL(" + img.src.url + ")"
	case kindFile:
		return "ImageFile(" + img.src.path + ")"
	case kindBytes:
		return fmt.Sprintf("ImageBytes(%d bytes)", len(img.src.data))
	default:
		return "ImageReader"
	}
}

// preparedImage is an image that passed its checks, ready to go in a body.
type preparedImage struct {
	part streambody.Part
}

// prepare checks the image and returns how to send it. Errors are
// user-facing messages for a FieldError.
func (img Image) prepare(checkPixels bool) (preparedImage, error) {
	if img.src == nil {
		return preparedImage{}, errors.New("is the zero Image; build it with ImageURL, ImageFile, ImageBytes or ImageReader")
	}
	switch img.src.kind {
	case kindURL:
		if err := checkImageURL(img.src.url); err != nil {
			return preparedImage{}, err
		}
		return preparedImage{part: streambody.Part{URL: img.src.url}}, nil
	case kindFile:
		return prepareFile(img.src.path, checkPixels)
	case kindReader:
		data, err := img.src.readAll()
		if err != nil {
			return preparedImage{}, err
		}
		if len(data) > limits.MaxImageBytes {
			// Only limits.MaxImageBytes+1 bytes were read: the size is unknown.
			return preparedImage{}, errors.New(limits.ImageBytesOver() + " (the reader was not read further)")
		}
		return prepareBytes(data, checkPixels)
	default:
		return prepareBytes(img.src.data, checkPixels)
	}
}

func checkImageURL(raw string) error {
	if strings.HasPrefix(strings.ToLower(strings.TrimSpace(raw)), "data:") {
		return errors.New("data: URIs are not accepted by ImageURL; pass the raw bytes with ImageBytes and the SDK encodes them")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("is not a valid URL: %w", err)
	}
	if s := strings.ToLower(u.Scheme); s != "http" && s != "https" {
		return fmt.Errorf("URL scheme %q is not supported, use http or https", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("URL has no host")
	}
	return nil
}

// readAll returns an ImageReader's bytes, reading them on the first call.
func (s *imageSource) readAll() ([]byte, error) {
	s.startRead()
	<-s.readDone
	return s.data, s.readErr
}

// awaitRead waits until the reader has been read, or ctx ends.
func (s *imageSource) awaitRead(ctx context.Context) error {
	s.startRead()
	select {
	case <-s.readDone:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// startRead starts reading the reader, once, in a goroutine of its own: a
// Read cannot be interrupted, so a caller whose context ends stops
// waiting for it, not the read.
func (s *imageSource) startRead() {
	s.readOnce.Do(func() { go s.read() })
}

func (s *imageSource) read() {
	defer close(s.readDone)
	data, err := io.ReadAll(io.LimitReader(s.reader, limits.MaxImageBytes+1))
	if err != nil {
		s.readErr = fmt.Errorf("reading the image from its io.Reader failed: %w", err)
		return
	}
	s.data = data
	s.reader = nil
}

// readImages waits, within ctx, for the request's ImageReaders to be read,
// so that a reader that blocks cannot hold a Submit past its context. The
// reader's own errors are left to the checks, which name the field.
func (r *EditRequest) readImages(ctx context.Context) error {
	if r == nil {
		return nil
	}
	for i, img := range r.Images[:min(len(r.Images), maxImagesChecked)] {
		if img.src == nil || img.src.kind != kindReader {
			continue
		}
		if err := img.src.awaitRead(ctx); err != nil {
			return fmt.Errorf("qwenedit: reading images[%d] from its io.Reader: %w", i, err)
		}
	}
	return nil
}

func prepareBytes(data []byte, checkPixels bool) (preparedImage, error) {
	format, err := inspect(bytes.NewReader(data), int64(len(data)), checkPixels)
	if err != nil {
		return preparedImage{}, err
	}
	src := &streambody.Source{
		MediaType: format.MIME(),
		Size:      int64(len(data)),
		Data:      data, // encoded straight from the caller's slice
	}
	return preparedImage{part: streambody.Part{Inline: src}}, nil
}

func prepareFile(path string, checkPixels bool) (preparedImage, error) {
	f, st, err := openRegular(path)
	if err != nil {
		return preparedImage{}, err
	}
	defer f.Close()
	format, err := inspect(f, st.Size(), checkPixels)
	if err != nil {
		return preparedImage{}, fmt.Errorf("%q %w", path, err)
	}
	size, modTime := st.Size(), st.ModTime()
	src := &streambody.Source{
		MediaType: format.MIME(),
		Size:      size,
		Open:      func() (io.ReadCloser, error) { return openUnchanged(path, size, modTime) },
	}
	return preparedImage{part: streambody.Part{Inline: src}}, nil
}

// openUnchanged opens path for upload, refusing a file that differs in size
// or modification time from the one that was checked.
func openUnchanged(path string, size int64, modTime time.Time) (io.ReadCloser, error) {
	f, st, err := openRegular(path)
	if err == nil && (st.Size() != size || !st.ModTime().Equal(modTime)) {
		f.Close()
		err = fmt.Errorf("%w: %s was %d bytes when checked, now %d", streambody.ErrSourceChanged, path, size, st.Size())
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

// openRegular opens a regular file for reading, refusing anything else
// before it can block: open(2) on a FIFO waits for a writer, forever and
// deaf to any context. The type is checked before opening, and the file is
// opened non-blocking where the system has the flag (closing the gap in
// which the path could be swapped for a FIFO) and checked again.
func openRegular(path string) (*os.File, os.FileInfo, error) {
	if st, err := os.Stat(path); err != nil {
		return nil, nil, fmt.Errorf("cannot open %q: %w", path, errors.Unwrap(err))
	} else if !st.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%q is not a regular file", path)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|openNonBlocking, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot open %q: %w", path, errors.Unwrap(err))
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = fmt.Errorf("%q is not a regular file", path)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, st, nil
}

// inspect checks the format (by its magic bytes), the byte size and, when
// checkPixels is set, the pixel dimensions read from the header. Without
// the pixel check no header is parsed at all: a valid image of a variant
// the Go decoders do not support (16-bit or RLE BMP, YCbCr TIFF, 12-bit or
// arithmetic-coded JPEG, ...) must not be refused over a check the caller
// turned off.
func inspect(r io.ReaderAt, size int64, checkPixels bool) (imageinfo.Format, error) {
	if size == 0 {
		return "", errors.New("is empty")
	}
	if msg := limits.ImageBytes(size); msg != "" {
		return "", errors.New(msg)
	}
	if !checkPixels {
		f, err := imageinfo.SniffAt(r)
		if err != nil {
			return "", errUnknownFormat
		}
		return f, nil
	}
	info, err := imageinfo.Inspect(r, size)
	switch {
	case errors.Is(err, imageinfo.ErrUnknownFormat):
		return "", errUnknownFormat
	case errors.Is(err, imageinfo.ErrUnsupportedVariant):
		why := strings.TrimPrefix(err.Error(), imageinfo.ErrUnsupportedVariant.Error()+": ")
		return "", fmt.Errorf("is a %s variant that Go's decoder does not support (%s), so its width and height "+
			"cannot be read from its header; a Client made with WithPixelCheck(false) sends it without the pixel check",
			strings.ToUpper(string(info.Format)), why)
	case err != nil:
		return "", fmt.Errorf("has a broken image header: %w", err)
	}
	if msg := limits.ImageSides(info.Width, info.Height); msg != "" {
		return "", errors.New(msg)
	}
	return info.Format, nil
}

var errUnknownFormat = errors.New("is not a supported image format (JPEG, PNG, BMP, TIFF, WEBP, or GIF, first frame only), judged by its first bytes")
