// Package streambody builds the JSON body of an edit request with its images
// base64-encoded on the fly: constant memory whatever the image sizes, an
// exact length known before the first byte (so no chunked encoding), and a
// fresh reader per Open (so that the caller can send it again on a retry of
// its own; the SDK never gives net/http a way to replay it).
//
// Errors of an image source (its Open, its Read or Close, or bytes that no
// longer match its declared size) come back from Read as a *SourceError, so
// that a caller can tell a local image that failed from a network error: a
// retry cannot cure the former.
package streambody

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	// A SIMD base64 encoder (amd64 AVX2, arm64), byte-for-byte the same
	// output as encoding/base64 (the tests compare them): encoding is most
	// of an upload's CPU, and this is where a 30 MB submit's time goes
	// (BENCHMARKS.md measures it).
	"github.com/segmentio/asm/base64"
)

// ErrSourceChanged means an image yielded more or fewer bytes than when it
// was checked: sending it would be a corrupt or unchecked request. It comes
// wrapped in a *SourceError.
var ErrSourceChanged = errors.New("image changed since it was checked")

// ErrClosed is what Read returns once the reader was closed.
var ErrClosed = errors.New("streambody: read after close")

// SourceError is a failure of one inline image's Source while the body was
// read: Open or a Read or Close of what it opened failed, or it yielded
// more or fewer bytes than its Size (Err then matches ErrSourceChanged).
// The fault is local (a file removed, changed or unreadable), never the
// network's: sending the same body again cannot succeed. Match it with
// errors.As; it unwraps to the source's own error (fs.ErrNotExist, ...).
type SourceError struct {
	// Part is the index of the image in the images array.
	Part int
	// Op is what failed: "open", "read" or "close".
	Op string
	// Err is the underlying error.
	Err error
}

func (e *SourceError) Error() string {
	return fmt.Sprintf("streambody: image %d: %s: %v", e.Part, e.Op, e.Err)
}

// Unwrap returns Err.
func (e *SourceError) Unwrap() error { return e.Err }

// Source is raw image bytes to send inline as a data URI: in memory
// (Data) or opened for each Body reader (Open).
type Source struct {
	MediaType string // e.g. "image/png"
	Size      int64  // exact raw byte count
	// Data, if not nil, is the image itself: it is encoded straight from
	// this slice into the caller's buffer, with no copy of its own, and
	// Open is not used. It must not change while a reader is in use.
	Data []byte
	// Open is called once per Body reader that reaches the source; it must
	// yield exactly Size bytes.
	Open func() (io.ReadCloser, error)
}

// Part is one element of the images array: exactly one of URL or Inline is set.
type Part struct {
	URL    string
	Inline *Source
}

// segment is either literal bytes or a source to encode.
type segment struct {
	lit  []byte
	src  *Source
	part int // index of src's part in the images array
}

// Body is a streaming request body that can be opened again for each attempt.
type Body struct {
	segments []segment
	length   int64
	chunk    int // raw chunk size of opened sources: rawChunk, or less when all are smaller
}

// rawChunk is the most raw bytes encoded at a time; a multiple of 3 so that
// only the last chunk of a source needs base64 padding.
const rawChunk = 48 << 10

// New builds the body: fields (a JSON object such as {"prompt":"x"} or {})
// with "images":[...] spliced in as its last member.
func New(fields []byte, parts []Part) (*Body, error) {
	obj := bytes.TrimSpace(fields)
	if len(obj) < 2 || obj[0] != '{' || obj[len(obj)-1] != '}' || !json.Valid(obj) {
		return nil, errors.New("streambody: fields must be a JSON object")
	}
	inner := bytes.TrimSpace(obj[1 : len(obj)-1])
	// A literal, a source, a literal, ...: 2 segments per part, plus one.
	b := &Body{segments: make([]segment, 0, 2*len(parts)+1)}
	lit(b, "{")
	lit(b, inner)
	if len(inner) > 0 {
		lit(b, ",")
	}
	lit(b, `"images":[`)
	for i, p := range parts {
		if i > 0 {
			lit(b, ",")
		}
		if err := b.part(i, p); err != nil {
			return nil, err
		}
	}
	lit(b, "]}")
	return b, nil
}

func (b *Body) part(i int, p Part) error {
	switch {
	case (p.URL == "") == (p.Inline == nil):
		return fmt.Errorf("streambody: part %d: exactly one of URL and Inline must be set", i)
	case p.Inline == nil:
		lit(b, jsonString(p.URL))
		return nil
	case p.Inline.Size < 0 || (p.Inline.Open == nil && p.Inline.Data == nil):
		return fmt.Errorf("streambody: part %d: negative size, or neither Data nor Open", i)
	case p.Inline.Data != nil && int64(len(p.Inline.Data)) != p.Inline.Size:
		return fmt.Errorf("streambody: part %d: Size %d, but Data has %d bytes", i, p.Inline.Size, len(p.Inline.Data))
	case !safeMediaType(p.Inline.MediaType):
		return fmt.Errorf("streambody: part %d: unsafe media type %q", i, p.Inline.MediaType)
	}
	lit(b, `"data:`)
	lit(b, p.Inline.MediaType)
	lit(b, `;base64,`)
	b.segments = append(b.segments, segment{src: p.Inline, part: i})
	if p.Inline.Data == nil {
		// Small images need no 48 KiB buffers; keep the chunk a multiple of 3.
		b.chunk = max(b.chunk, int(min(int64(rawChunk), (p.Inline.Size+2)/3*3)))
	}
	b.length += (p.Inline.Size + 2) / 3 * 4
	lit(b, `"`)
	return nil
}

// lit appends literal bytes, merging with a preceding literal. Each
// literal is a slice of its own, never one of the caller's.
func lit[T string | []byte](b *Body, p T) {
	b.length += int64(len(p))
	if n := len(b.segments); n > 0 && b.segments[n-1].src == nil {
		b.segments[n-1].lit = append(b.segments[n-1].lit, p...)
		return
	}
	b.segments = append(b.segments, segment{lit: append(make([]byte, 0, max(len(p), 128)), p...)})
}

// jsonString is s as a JSON string, as encoding/json writes it but without
// HTML escapes: the URL exactly as the user wrote it.
func jsonString(s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func safeMediaType(mt string) bool {
	for i := range len(mt) {
		if !mediaTypeByte(mt[i]) {
			return false
		}
	}
	return mt != ""
}

// mediaTypeByte reports a byte allowed in a media type inside the body:
// letters, digits and ".+/-".
func mediaTypeByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(".+/-", c) >= 0
}

// Len is the exact number of bytes every Open yields.
func (b *Body) Len() int64 { return b.length }

// Open returns a fresh reader over the whole body; sources are opened lazily
// as the reader reaches them.
func (b *Body) Open() (io.ReadCloser, error) {
	return &reader{body: b}, nil
}

// AppendTo appends the whole body, Len bytes, to dst, for a body small
// enough to send from memory; dst may be a reused buffer. It reads each
// source once and checks it as Open's reader does, encoding straight into
// the result.
func (b *Body) AppendTo(dst []byte) ([]byte, error) {
	out := slices.Grow(dst, int(b.length))
	var raw []byte
	for _, s := range b.segments {
		if s.src == nil {
			out = append(out, s.lit...)
			continue
		}
		data := s.src.Data
		if data == nil {
			if int64(cap(raw)) < s.src.Size {
				raw = make([]byte, s.src.Size)
			}
			var err error
			if data, err = readSource(s, raw[:s.src.Size]); err != nil {
				return nil, err
			}
		}
		n := len(out)
		out = out[:n+base64.StdEncoding.EncodedLen(len(data))]
		base64.StdEncoding.Encode(out[n:], data)
	}
	return out, nil
}

// readSource reads exactly len(buf) bytes of s's source into buf, checks
// there are no more, and closes it.
func readSource(s segment, buf []byte) ([]byte, error) {
	rc, err := openSource(s)
	if err != nil {
		return nil, err
	}
	if got, err := io.ReadFull(rc, buf); err != nil {
		_ = rc.Close()
		return nil, readError(s.part, err, int64(len(buf)-got))
	}
	return buf, finishSource(rc, s.part)
}

// openSource opens s's source.
func openSource(s segment) (io.ReadCloser, error) {
	rc, err := s.src.Open()
	switch {
	case err != nil:
		return nil, &SourceError{Part: s.part, Op: "open", Err: err}
	case rc == nil:
		return nil, &SourceError{Part: s.part, Op: "open", Err: errors.New("Open returned no reader")}
	}
	return rc, nil
}

// readError is the error of a read from a source that still owed missing
// bytes: an early end means the source shrank since it was checked.
func readError(part int, err error, missing int64) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = fmt.Errorf("%w: %d bytes short", ErrSourceChanged, missing)
	}
	return &SourceError{Part: part, Op: "read", Err: err}
}

// finishSource checks that a source read to its declared size has no
// extra bytes, and closes it.
func finishSource(rc io.ReadCloser, part int) error {
	var probe [1]byte
	n, err := io.ReadFull(rc, probe[:])
	closeErr := rc.Close()
	switch {
	case n > 0:
		return &SourceError{Part: part, Op: "read", Err: fmt.Errorf("%w: longer than when checked", ErrSourceChanged)}
	case err != nil && !errors.Is(err, io.EOF):
		return &SourceError{Part: part, Op: "read", Err: err}
	case closeErr != nil:
		return &SourceError{Part: part, Op: "close", Err: closeErr}
	}
	return nil
}

// reader walks the segments and encodes each source straight into the
// caller's buffer (net/http's copy buffer): in-memory data with no copy of
// its own, an opened source through one pooled raw buffer. An encoded group
// of 4 bytes that does not fit in the caller's buffer waits in carry.
//
// It is safe for a Close concurrent with a Read, as net/http requires of a
// request body (HTTP/2 closes it from another goroutine while one still
// reads it): mu serialises them, so a Close waits for a Read in progress
// (at most one chunk of a source), and after Close no Read touches or
// opens a source.
type reader struct {
	body *Body

	mu     sync.Mutex
	closed bool
	seg    int
	litOff int

	started bool          // the current segment's source is being encoded
	src     io.ReadCloser // the opened source, nil for in-memory data
	left    int64         // raw bytes still to read from src
	data    []byte        // raw bytes ready to encode (in Data, or in raw)
	raw     *[]byte       // read buffer of src, from rawPool when full-sized

	carry            [4]byte // an encoded group waiting for room
	carryOff, carryN int
	err              error
}

// rawPool holds full-sized read buffers of opened sources, so that
// uploading files does not allocate 48 KiB per request.
var rawPool = sync.Pool{New: func() any { b := make([]byte, rawChunk); return &b }}

func (r *reader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, ErrClosed
	}
	n := 0
	for n < len(p) && r.err == nil {
		if r.carryOff < r.carryN {
			c := copy(p[n:], r.carry[r.carryOff:r.carryN])
			n += c
			r.carryOff += c
			continue
		}
		if r.seg >= len(r.body.segments) {
			r.err = io.EOF
			break
		}
		s := r.body.segments[r.seg]
		if s.src == nil {
			c := copy(p[n:], s.lit[r.litOff:])
			n += c
			r.litOff += c
			if r.litOff == len(s.lit) {
				r.seg, r.litOff = r.seg+1, 0
			}
			continue
		}
		c, err := r.encode(s, p[n:])
		n += c
		if err != nil {
			r.err = err
		}
	}
	if n > 0 {
		return n, nil
	}
	return 0, r.err
}

// encode writes the next encoded bytes of s's source into p, moving to
// the next segment once the source is done. r.mu is held.
func (r *reader) encode(s segment, p []byte) (int, error) {
	if !r.started {
		if err := r.start(s); err != nil {
			return 0, err
		}
	}
	if len(r.data) < 3 && r.left > 0 {
		if err := r.readMore(s); err != nil {
			return 0, err
		}
	}
	switch groups := min(len(r.data)/3, len(p)/4); {
	case groups > 0:
		base64.StdEncoding.Encode(p, r.data[:3*groups])
		r.data = r.data[3*groups:]
		return 4 * groups, nil
	case len(r.data) > 0:
		// A group that does not fit in p, or the last one with padding.
		k := min(len(r.data), 3)
		base64.StdEncoding.Encode(r.carry[:], r.data[:k])
		r.data = r.data[k:]
		r.carryOff, r.carryN = 0, 4
		return 0, nil
	}
	r.seg++
	return 0, r.stop(s)
}

// start begins encoding s's source. r.mu is held.
func (r *reader) start(s segment) error {
	r.started = true
	if s.src.Data != nil {
		r.data, r.left = s.src.Data, 0
		return nil
	}
	rc, err := openSource(s)
	if err != nil {
		return err
	}
	r.src, r.left, r.data = rc, s.src.Size, nil
	if r.raw == nil {
		if r.body.chunk == rawChunk {
			r.raw = rawPool.Get().(*[]byte)
		} else {
			b := make([]byte, max(r.body.chunk, 3))
			r.raw = &b
		}
	}
	return nil
}

// readMore reads the next chunk of the opened source after the one or two
// raw bytes not yet encoded (there are none but at a source's end, since
// chunks are a multiple of 3). r.mu is held.
func (r *reader) readMore(s segment) error {
	buf := *r.raw
	kept := copy(buf, r.data)
	want := int(min(int64(len(buf)-kept), r.left))
	got, err := io.ReadFull(r.src, buf[kept:kept+want])
	r.left -= int64(got)
	r.data = buf[:kept+got]
	if err != nil {
		return readError(s.part, err, r.left)
	}
	return nil
}

// stop ends the current source: an opened one is checked for extra bytes
// and closed. r.mu is held.
func (r *reader) stop(s segment) error {
	r.started, r.data = false, nil
	if r.src == nil {
		return nil
	}
	rc := r.src
	r.src = nil
	return finishSource(rc, s.part)
}

// Close releases the source being read, if any, and the read buffer; later
// Reads return ErrClosed and open nothing. It waits for a Read in
// progress. Closing twice is harmless.
func (r *reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	if r.raw != nil && len(*r.raw) == rawChunk {
		rawPool.Put(r.raw)
	}
	r.raw, r.data = nil, nil
	if r.src != nil {
		err := r.src.Close()
		r.src = nil
		return err
	}
	return nil
}
