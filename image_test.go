package qwenedit

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-b62e15c8/qwenedit/internal/imageinfo"
	"github.com/seed-b62e15c8/qwenedit/internal/imagetest"
	"github.com/seed-b62e15c8/qwenedit/internal/limits"
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

// TestByteSizeLimit: the vendor's "no larger than 10 MB" is read as
// 10,000,000 bytes, not 10 MiB: an image the server might refuse is
// refused before a paid call.
func TestByteSizeLimit(t *testing.T) {
	const limitMsg = "at most 10 MB (10,000,000 bytes) is allowed"
	assert.Equal(t, 10_000_000, limits.MaxImageBytes)
	assert.Empty(t, imageProblem(t, ImageBytes(padded(t, 10_000_000))))
	assert.Equal(t, "is 10,000,001 bytes, "+limitMsg, imageProblem(t, ImageBytes(padded(t, 10_000_001))))
	assert.Equal(t, "is 10,485,760 bytes, "+limitMsg, imageProblem(t, ImageBytes(padded(t, 10<<20))), "10 MiB is over 10 MB")
	assert.Contains(t, imageProblem(t, ImageReader(bytes.NewReader(padded(t, 10_000_001)))), "has more than 10,000,000 bytes, "+limitMsg)
	assert.Contains(t, imageProblem(t, ImageReader(bytes.NewReader(padded(t, 10<<20)))), limitMsg)
	assert.Empty(t, imageProblem(t, ImageReader(bytes.NewReader(padded(t, 10_000_000)))))

	path := filepath.Join(t.TempDir(), "big.png")
	require.NoError(t, os.WriteFile(path, padded(t, 10<<20), 0o600))
	assert.Contains(t, imageProblem(t, ImageFile(path)), "is 10,485,760 bytes, "+limitMsg)
	require.NoError(t, os.WriteFile(path, padded(t, 10_000_000), 0o600))
	assert.Empty(t, imageProblem(t, ImageFile(path)))
}

func TestGroupDigits(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 7: "7", 999: "999", 1000: "1,000", 123456: "123,456", 1234567: "1,234,567", 10_000_000: "10,000,000"} {
		assert.Equal(t, want, limits.GroupDigits(n))
	}
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

// TestSubmitStopsWaitingForABlockedReader: a reader whose Read blocks
// does not hold Submit past its context. Submit returns the context's
// error and sends nothing; the read goes on in the background and, once
// it ends, a later Submit of the same Image uses its bytes without
// reading again.
func TestSubmitStopsWaitingForABlockedReader(t *testing.T) {
	c, mt, _ := mockClient(t)
	mt.RegisterResponder(http.MethodPost, submitURL, jsonResponder(202, runningJS))
	r := &gatedReader{r: bytes.NewReader(pngBytes(t, 400, 400)), started: make(chan struct{}), release: make(chan struct{})}
	req := &EditRequest{Images: []Image{ImageReader(r)}, Prompt: "p"}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Submit(ctx, req)
		done <- err
	}()
	<-r.started
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
		assert.Contains(t, err.Error(), "images[0]")
		var ve *ValidationError
		assert.False(t, errors.As(err, &ve), "the caller gave up; the image is not invalid: %v", err)
	case <-time.After(10 * time.Second): // a guard against a hang, not a measurement
		t.Fatal("Submit still blocked in the reader after its context was cancelled")
	}
	assert.Zero(t, mt.GetTotalCallCount(), "nothing was sent")

	close(r.release)
	_, err := c.Submit(context.Background(), req)
	require.NoError(t, err, "the bytes read in the background are used")
	assert.Equal(t, 1, mt.GetTotalCallCount())
	assert.Equal(t, int32(1), r.reads.Load(), "the reader was read by one goroutine, once through")
}

// gatedReader blocks its first Read until release is closed.
type gatedReader struct {
	r       io.Reader
	started chan struct{}
	release chan struct{}
	once    atomic.Bool
	reads   atomic.Int32 // Reads that returned io.EOF
}

func (g *gatedReader) Read(p []byte) (int, error) {
	if g.once.CompareAndSwap(false, true) {
		close(g.started)
		<-g.release
	}
	n, err := g.r.Read(p)
	if errors.Is(err, io.EOF) {
		g.reads.Add(1)
	}
	return n, err
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
	body, err := c.buildBody(context.Background(), &EditRequest{Images: []Image{ImageFile(path)}, Prompt: "p"})
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

// TestSourceFailureReachesTheCaller: a local image that fails during the
// upload (removed or changed after validation) comes back from the client
// as a *streambody.SourceError with its cause, over HTTP/1.1 and HTTP/2,
// so that it can be told from a network error.
func TestSourceFailureReachesTheCaller(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, err := io.Copy(io.Discard, r.Body); err != nil {
				return
			}
			w.WriteHeader(http.StatusAccepted)
			_, _ = io.WriteString(w, pendingJS)
		}))
		srv.EnableHTTP2 = h2
		srv.StartTLS()
		t.Cleanup(srv.Close)
		c, err := NewClient(WithAPIKey(testKey), WithBaseURL(srv.URL), WithHTTPClient(srv.Client()), WithMaxRetries(0))
		require.NoError(t, err)

		data := append(pngBytes(t, 400, 400), make([]byte, 1<<20)...) // streamed, not sent from memory
		for _, change := range []string{"remove", "shrink"} {
			path := filepath.Join(t.TempDir(), "a.png")
			require.NoError(t, os.WriteFile(path, data, 0o600))
			body, err := c.buildBody(context.Background(), &EditRequest{Images: []Image{ImageFile(path)}, Prompt: "p"})
			require.NoError(t, err)
			if change == "remove" {
				require.NoError(t, os.Remove(path))
			} else {
				require.NoError(t, os.WriteFile(path, data[:len(data)-10], 0o600))
			}
			_, err = c.callTask(context.Background(), apiCall{method: http.MethodPost, path: c.submitPath, body: body})
			var se *streambody.SourceError
			require.ErrorAs(t, err, &se, "h2=%v %s: %v", h2, change, err)
			assert.ErrorIs(t, err, ErrImageSource)
			var amb *AmbiguousSubmitError
			assert.False(t, errors.As(err, &amb), "a cut-short body cannot have created a task")
			assert.Equal(t, 0, se.Part)
			if change == "remove" {
				assert.ErrorIs(t, err, fs.ErrNotExist)
			} else {
				assert.ErrorIs(t, err, streambody.ErrSourceChanged)
			}
		}
	}
}

// bmp16 is a valid 16-bit (RGB555, BI_RGB) BMP, as many tools write it;
// x/image/bmp cannot decode it.
func bmp16(w, h int) []byte {
	row := (w*2 + 3) &^ 3
	b := make([]byte, 54+row*h)
	copy(b, "BM")
	binary.LittleEndian.PutUint32(b[2:], uint32(len(b)))
	binary.LittleEndian.PutUint32(b[10:], 54)
	binary.LittleEndian.PutUint32(b[14:], 40)
	binary.LittleEndian.PutUint32(b[18:], uint32(w))
	binary.LittleEndian.PutUint32(b[22:], uint32(h))
	binary.LittleEndian.PutUint16(b[26:], 1)
	binary.LittleEndian.PutUint16(b[28:], 16)
	return b
}

// TestValidImagesOfUnsupportedVariants: an image the Go decoders cannot
// decode is not "broken": its size is read from the header when the pixel
// check is on, and nothing but the format and byte size is checked when
// it is off.
func TestValidImagesOfUnsupportedVariants(t *testing.T) {
	jpg := imagetest.MustEncode(t, imageinfo.JPEG, 640, 480)
	sof := bytes.Index(jpg, []byte{0xFF, 0xC0})
	require.Positive(t, sof)
	jpeg12 := bytes.Clone(jpg)
	copy(jpeg12[sof+1:], []byte{0xC1, 0, 17, 12}) // SOF1, 12-bit samples
	oddPNG := bytes.Clone(pngBytes(t, 500, 500))
	oddPNG[26] = 1 // an IHDR compression method Go's decoder does not support

	off, _, _ := mockClient(t, WithPixelCheck(false))
	on, _, _ := mockClient(t)
	for name, data := range map[string][]byte{"16-bit BMP": bmp16(512, 512), "12-bit JPEG": jpeg12, "odd PNG": oddPNG} {
		_, err := off.buildBody(context.Background(), &EditRequest{Images: []Image{ImageBytes(data)}, Prompt: "p"})
		assert.NoError(t, err, "%s, WithPixelCheck(false)", name)
	}
	for name, data := range map[string][]byte{"16-bit BMP": bmp16(512, 512), "12-bit JPEG": jpeg12} {
		_, err := on.buildBody(context.Background(), &EditRequest{Images: []Image{ImageBytes(data)}, Prompt: "p"})
		assert.NoError(t, err, "%s, pixel check on: the size comes from the header", name)
	}
	assert.Equal(t, "is 100×100 pixels, width and height must be 384 to 3072", imageProblem(t, ImageBytes(bmp16(100, 100))))
	msg := imageProblem(t, ImageBytes(oddPNG))
	assert.Contains(t, msg, "is a PNG variant that Go's decoder does not support (png: unsupported feature: compression method), so its width and height cannot be read from its header")
	assert.Contains(t, msg, "WithPixelCheck(false)")

	img, err := ImageBytes(bmp16(512, 512)).prepare(false)
	require.NoError(t, err)
	assert.Equal(t, "image/bmp", img.part.Inline.MediaType)
}

// TestNoPixelCheckSniffsOnly: with the pixel check off no header is parsed:
// the format comes from the magic bytes, and the byte size is checked.
func TestNoPixelCheckSniffsOnly(t *testing.T) {
	c, _, _ := mockClient(t, WithPixelCheck(false))
	build := func(data []byte) error {
		_, err := c.buildBody(context.Background(), &EditRequest{Images: []Image{ImageBytes(data)}, Prompt: "p"})
		return err
	}
	png := pngBytes(t, 500, 500)
	assert.NoError(t, build(png[:20]), "a header the decoder cannot read is not checked")
	assert.ErrorIs(t, build([]byte("GIF8 not quite")), ErrInvalidRequest)
	assert.ErrorIs(t, build(nil), ErrInvalidRequest)
	assert.ErrorIs(t, build(padded(t, limits.MaxImageBytes+1)), ErrInvalidRequest)
}

// TestImageChangedMidSendIsNotRetried checks that a local image failing
// while its body is sent ends the call at once: one request, ErrImageSource,
// not ambiguous, no retry sleeping.
func TestImageChangedMidSendIsNotRetried(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, pendingJS)
	}))
	defer srv.Close()
	clk := NewFakeClock()
	c, err := NewClient(WithAPIKey(testKey), WithBaseURL(srv.URL), WithClock(clk), WithMaxRetries(3))
	require.NoError(t, err)
	data := append(pngBytes(t, 400, 400), make([]byte, 1<<20)...) // streamed, not sent from memory
	path := filepath.Join(t.TempDir(), "a.png")
	require.NoError(t, os.WriteFile(path, data, 0o600))
	body, err := c.buildBody(context.Background(), &EditRequest{Images: []Image{ImageFile(path)}, Prompt: "p"})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, data[:len(data)-10], 0o600))

	_, err = c.callTask(context.Background(), apiCall{method: http.MethodPost, path: c.submitPath, body: body})
	require.ErrorIs(t, err, ErrImageSource)
	var amb *AmbiguousSubmitError
	assert.False(t, errors.As(err, &amb))
	assert.LessOrEqual(t, requests.Load(), int32(1))
	assert.Empty(t, clk.Sleeps(), "no retry")
}

// TestMissingFileMatchesErrNotExist checks that a file that cannot be
// opened is a validation problem through which fs.ErrNotExist is reachable.
func TestMissingFileMatchesErrNotExist(t *testing.T) {
	err := (&EditRequest{Images: []Image{ImageFile(filepath.Join(t.TempDir(), "missing.png"))}, Prompt: "p"}).Validate()
	assert.ErrorIs(t, err, ErrInvalidRequest)
	assert.ErrorIs(t, err, fs.ErrNotExist)
}
