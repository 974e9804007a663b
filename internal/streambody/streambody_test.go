package streambody

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"

	asmbase64 "github.com/segmentio/asm/base64"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// trackedSource serves data and counts opens and closes.
type trackedSource struct {
	data           []byte
	opens, closes  int
	declaredOffset int64 // Size = len(data) + declaredOffset
}

func (s *trackedSource) source(mt string) *Source {
	return &Source{MediaType: mt, Size: int64(len(s.data)) + s.declaredOffset, Open: func() (io.ReadCloser, error) {
		s.opens++
		return &closeCounter{Reader: bytes.NewReader(s.data), closes: &s.closes}, nil
	}}
}

type closeCounter struct {
	io.Reader
	closes *int
}

func (c *closeCounter) Close() error { *c.closes++; return nil }

// naive builds the same body the obvious way: everything in memory.
func naive(fields string, urls []string) []byte {
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(fields), &m); err != nil {
		panic(err)
	}
	var buf bytes.Buffer
	obj := strings.TrimSpace(fields)
	buf.WriteString("{" + strings.TrimSpace(obj[1:len(obj)-1]))
	if len(m) > 0 {
		buf.WriteString(",")
	}
	buf.WriteString(`"images":[`)
	for i, u := range urls {
		if i > 0 {
			buf.WriteString(",")
		}
		buf.WriteString(encodingJSONString(u))
	}
	buf.WriteString("]}")
	return buf.Bytes()
}

func dataURI(mt string, data []byte) string {
	return "data:" + mt + ";base64," + base64.StdEncoding.EncodeToString(data)
}

func randomBytes(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func readAll(t *testing.T, b *Body, wrap func(io.Reader) io.Reader) []byte {
	t.Helper()
	rc, err := b.Open()
	require.NoError(t, err)
	defer rc.Close()
	out, err := io.ReadAll(wrap(rc))
	require.NoError(t, err)
	return out
}

func TestMatchesNaiveEncoding(t *testing.T) {
	readers := map[string]func(io.Reader) io.Reader{
		"plain":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
	}
	sizes := []int{0, 1, 2, 3, 4, 47, rawChunk - 1, rawChunk, rawChunk + 1, 1<<20 + 1}
	for _, fields := range []string{`{}`, `{"prompt":"p","n":2}`, ` { "prompt" : "é<&>" } `} {
		for _, size := range sizes {
			for _, inMemory := range []bool{false, true} {
				src := &trackedSource{data: randomBytes(size, uint64(size))}
				inline := src.source("image/png")
				if inMemory {
					inline = &Source{MediaType: "image/png", Size: int64(size), Data: src.data}
				}
				body, err := New([]byte(fields), []Part{{URL: "https://x.test/a.png?a=1&b=<2>"}, {Inline: inline}, {URL: "http://y.test/b"}})
				require.NoError(t, err)
				want := naive(fields, []string{"https://x.test/a.png?a=1&b=<2>", dataURI("image/png", src.data), "http://y.test/b"})
				require.True(t, json.Valid(want))
				for name, wrap := range readers {
					if size > rawChunk+1 && name == "one byte" {
						continue // slow and covered by smaller sizes
					}
					got := readAll(t, body, wrap)
					require.Equal(t, string(want), string(got), "fields %s size %d reader %s", fields, size, name)
					require.Equal(t, int64(len(got)), body.Len())
				}
				assert.Equal(t, src.opens, src.closes, "every open source is closed")
			}
		}
	}
}

func TestNoParts(t *testing.T) {
	body, err := New([]byte(`{"prompt":"x"}`), nil)
	require.NoError(t, err)
	assert.Equal(t, `{"prompt":"x","images":[]}`, string(readAll(t, body, func(r io.Reader) io.Reader { return r })))
}

func TestOpenIsReplayable(t *testing.T) {
	a := &trackedSource{data: randomBytes(100_000, 1)}
	b := &trackedSource{data: randomBytes(10, 2)}
	body, err := New([]byte(`{}`), []Part{{Inline: a.source("image/jpeg")}, {Inline: b.source("image/webp")}})
	require.NoError(t, err)
	first := readAll(t, body, func(r io.Reader) io.Reader { return r })
	second := readAll(t, body, func(r io.Reader) io.Reader { return r })
	assert.Equal(t, first, second)
	assert.Equal(t, 2, a.opens)
	assert.Equal(t, 2, a.closes)
	assert.Equal(t, 2, b.opens)
}

func TestSourceChanged(t *testing.T) {
	for _, offset := range []int64{+1, -1, +rawChunk} {
		src := &trackedSource{data: randomBytes(rawChunk+10, 3), declaredOffset: offset}
		body, err := New([]byte(`{}`), []Part{{Inline: src.source("image/png")}})
		require.NoError(t, err)
		rc, _ := body.Open()
		_, err = io.Copy(io.Discard, rc)
		assert.ErrorIs(t, err, ErrSourceChanged, "offset %d", offset)
		require.NoError(t, rc.Close())
		assert.Equal(t, src.opens, src.closes)
	}
}

func TestSourceErrorsPropagate(t *testing.T) {
	boom := errors.New("disk gone")
	body, err := New([]byte(`{}`), []Part{{Inline: &Source{MediaType: "image/png", Size: 5, Open: func() (io.ReadCloser, error) { return nil, boom }}}})
	require.NoError(t, err)
	rc, _ := body.Open()
	_, err = io.ReadAll(rc)
	assert.ErrorIs(t, err, boom)

	body, err = New([]byte(`{}`), []Part{{Inline: &Source{MediaType: "image/png", Size: 5, Open: func() (io.ReadCloser, error) {
		return io.NopCloser(iotest.ErrReader(boom)), nil
	}}}})
	require.NoError(t, err)
	rc, _ = body.Open()
	_, err = io.ReadAll(rc)
	assert.ErrorIs(t, err, boom)
}

func TestNewRejectsBadInput(t *testing.T) {
	ok := &Source{MediaType: "image/png", Open: func() (io.ReadCloser, error) { return nil, nil }}
	cases := map[string]struct {
		fields string
		parts  []Part
	}{
		"not an object":  {`[]`, nil},
		"broken json":    {`{"a":}`, nil},
		"empty":          {``, nil},
		"both set":       {`{}`, []Part{{URL: "u", Inline: ok}}},
		"neither set":    {`{}`, []Part{{}}},
		"negative size":  {`{}`, []Part{{Inline: &Source{MediaType: "image/png", Size: -1, Open: ok.Open}}}},
		"no open":        {`{}`, []Part{{Inline: &Source{MediaType: "image/png"}}}},
		"unsafe mime":    {`{}`, []Part{{Inline: &Source{MediaType: `image/png"`, Open: ok.Open}}}},
		"empty mime":     {`{}`, []Part{{Inline: &Source{Open: ok.Open}}}},
		"mime with ;":    {`{}`, []Part{{Inline: &Source{MediaType: "image/png;x=1", Open: ok.Open}}}},
		"non-ASCII mime": {`{}`, []Part{{Inline: &Source{MediaType: "image/pñg", Open: ok.Open}}}},
		"mime with \\":   {`{}`, []Part{{Inline: &Source{MediaType: `image\png`, Open: ok.Open}}}},
		"data too short": {`{}`, []Part{{Inline: &Source{MediaType: "image/png", Size: 4, Data: []byte("abc")}}}},
	}
	for name, tc := range cases {
		_, err := New([]byte(tc.fields), tc.parts)
		assert.Error(t, err, name)
	}
}

func FuzzBody(f *testing.F) {
	f.Add([]byte("abc"), []byte{1, 2, 3, 4}, "https://x/y", uint8(7))
	f.Add([]byte{}, []byte{}, "u", uint8(1))
	f.Fuzz(func(t *testing.T, a, b []byte, url string, readSize uint8) {
		if url == "" {
			url = "u"
		}
		// One source opened, one in memory: both encoding paths.
		sa := &trackedSource{data: a}
		inMemory := &Source{MediaType: "image/gif", Size: int64(len(b)), Data: append([]byte{}, b...)}
		body, err := New([]byte(`{"prompt":"p"}`), []Part{{Inline: sa.source("image/png")}, {URL: url}, {Inline: inMemory}})
		require.NoError(t, err)
		rc, _ := body.Open()
		buf := make([]byte, int(readSize)+1)
		var got []byte
		for {
			n, err := rc.Read(buf)
			got = append(got, buf[:n]...)
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
		}
		want := naive(`{"prompt":"p"}`, []string{dataURI("image/png", a), url, dataURI("image/gif", b)})
		require.Equal(t, want, got)
		require.Equal(t, int64(len(got)), body.Len())
	})
}

// The two benchmarks below run side by side: the streaming body against the
// usual json.Marshal of base64 strings, for three 10 MB images.
const benchImage = 10 << 20

func benchSources() [][]byte {
	return [][]byte{randomBytes(benchImage, 1), randomBytes(benchImage, 2), randomBytes(benchImage, 3)}
}

func BenchmarkStream3x10MB(b *testing.B) {
	imgs := benchSources()
	parts := make([]Part, len(imgs))
	for i, img := range imgs {
		parts[i] = Part{Inline: &Source{MediaType: "image/png", Size: int64(len(img)), Open: func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(img)), nil
		}}}
	}
	b.SetBytes(3 * benchImage)
	b.ReportAllocs()
	for b.Loop() {
		body, err := New([]byte(`{"prompt":"p"}`), parts)
		if err != nil {
			b.Fatal(err)
		}
		rc, _ := body.Open()
		if _, err := io.Copy(io.Discard, rc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNaive3x10MB(b *testing.B) {
	imgs := benchSources()
	b.SetBytes(3 * benchImage)
	b.ReportAllocs()
	for b.Loop() {
		req := struct {
			Prompt string   `json:"prompt"`
			Images []string `json:"images"`
		}{Prompt: "p"}
		for _, img := range imgs {
			req.Images = append(req.Images, "data:image/png;base64,"+base64.StdEncoding.EncodeToString(img))
		}
		out, err := json.Marshal(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Discard.Write(out)
	}
}

// BenchmarkBase64 is why the package uses github.com/segmentio/asm/base64:
// the same 48 KiB chunk the reader encodes, with encoding/base64 and with
// the SIMD encoder, side by side. TestMatchesNaiveEncoding and FuzzBody
// check that the output is identical.
func BenchmarkBase64(b *testing.B) {
	src := randomBytes(rawChunk, 7)
	dst := make([]byte, base64.StdEncoding.EncodedLen(len(src)))
	b.Run("impl=encoding-base64", func(b *testing.B) {
		b.SetBytes(int64(len(src)))
		for b.Loop() {
			base64.StdEncoding.Encode(dst, src)
		}
	})
	b.Run("impl=segmentio-asm", func(b *testing.B) {
		b.SetBytes(int64(len(src)))
		for b.Loop() {
			asmbase64.StdEncoding.Encode(dst, src)
		}
	})
}

// countedSource counts opens and closes atomically, for concurrent tests.
type countedSource struct {
	data          []byte
	opens, closes atomic.Int64
}

func (s *countedSource) source() *Source {
	return &Source{MediaType: "image/png", Size: int64(len(s.data)), Open: func() (io.ReadCloser, error) {
		s.opens.Add(1)
		runtime.Gosched() // widen the window between Open and its use
		return &atomicCloser{Reader: bytes.NewReader(s.data), closes: &s.closes}, nil
	}}
}

type atomicCloser struct {
	io.Reader
	closes *atomic.Int64
	once   sync.Once
}

func (c *atomicCloser) Close() error { c.once.Do(func() { c.closes.Add(1) }); return nil }

// TestConcurrentReadAndClose is what HTTP/2 does: it closes the request
// body from another goroutine while writeRequestBody still reads it. Run
// with -race: no data race, no panic, and no source left open.
func TestConcurrentReadAndClose(t *testing.T) {
	srcs := []*countedSource{{data: randomBytes(3*rawChunk+5, 1)}, {data: randomBytes(100, 2)}, {data: randomBytes(rawChunk, 3)}}
	parts := make([]Part, len(srcs))
	for i, s := range srcs {
		parts[i] = Part{Inline: s.source()}
	}
	body, err := New([]byte(`{"prompt":"p"}`), parts)
	require.NoError(t, err)
	for i := range 300 {
		rc, err := body.Open()
		require.NoError(t, err)
		readWhileClosing(t, rc, 1+i%7*4096, i%13)
	}
	for i, s := range srcs {
		assert.Equal(t, s.opens.Load(), s.closes.Load(), "source %d: every source opened is closed", i)
	}
}

// readWhileClosing reads rc with a buffer of bufSize in one goroutine
// while another closes it after yielding yields times, then checks that
// the reader ended cleanly and that every Read after Close fails.
func readWhileClosing(t *testing.T, rc io.ReadCloser, bufSize, yields int) {
	t.Helper()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		buf := make([]byte, bufSize)
		for {
			if _, err := rc.Read(buf); err != nil {
				if !errors.Is(err, io.EOF) {
					assert.ErrorIs(t, err, ErrClosed)
				}
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for range yields {
			runtime.Gosched()
		}
		assert.NoError(t, rc.Close())
	}()
	wg.Wait()
	n, err := rc.Read(make([]byte, 10))
	assert.Zero(t, n)
	assert.ErrorIs(t, err, ErrClosed, "every Read after Close fails")
}

func TestReadAfterCloseOpensNothing(t *testing.T) {
	src := &countedSource{data: randomBytes(10, 1)}
	body, err := New([]byte(`{}`), []Part{{Inline: src.source()}})
	require.NoError(t, err)
	rc, err := body.Open()
	require.NoError(t, err)
	buf := make([]byte, 3) // inside the literal head, before the source
	_, err = rc.Read(buf)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	require.NoError(t, rc.Close(), "closing twice is harmless")
	_, err = io.ReadAll(rc)
	assert.ErrorIs(t, err, ErrClosed)
	assert.Zero(t, src.opens.Load())
}

// TestSourceFailuresAreSourceErrors: a caller must be able to tell a local
// image that failed from a network error, and still reach the cause.
func TestSourceFailuresAreSourceErrors(t *testing.T) {
	boom := errors.New("disk gone")
	okSrc := &Source{MediaType: "image/png", Size: 3, Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("abc")), nil }}
	cases := map[string]struct {
		src  *Source
		op   string
		want error
	}{
		"open fails": {&Source{MediaType: "image/png", Size: 5, Open: func() (io.ReadCloser, error) {
			return nil, &fs.PathError{Op: "open", Path: "a.png", Err: fs.ErrNotExist}
		}}, "open", fs.ErrNotExist},
		"open returns nothing": {&Source{MediaType: "image/png", Size: 5, Open: func() (io.ReadCloser, error) { return nil, nil }}, "open", nil},
		"read fails": {&Source{MediaType: "image/png", Size: 5, Open: func() (io.ReadCloser, error) {
			return io.NopCloser(iotest.ErrReader(boom)), nil
		}}, "read", boom},
		"shorter": {&Source{MediaType: "image/png", Size: 5, Open: okSrc.Open}, "read", ErrSourceChanged},
		"longer":  {&Source{MediaType: "image/png", Size: 2, Open: okSrc.Open}, "read", ErrSourceChanged},
		"close fails": {&Source{MediaType: "image/png", Size: 3, Open: func() (io.ReadCloser, error) {
			return errCloser{strings.NewReader("abc"), boom}, nil
		}}, "close", boom},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			body, err := New([]byte(`{}`), []Part{{URL: "https://x.test/a.png"}, {Inline: okSrc}, {Inline: tc.src}})
			require.NoError(t, err)
			rc, _ := body.Open()
			defer rc.Close()
			_, err = io.ReadAll(rc)
			var se *SourceError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, 2, se.Part, "the index in the images array")
			assert.Equal(t, tc.op, se.Op)
			if tc.want != nil {
				assert.ErrorIs(t, err, tc.want)
			}
			assert.Contains(t, err.Error(), "image 2")
		})
	}
}

type errCloser struct {
	io.Reader
	err error
}

func (e errCloser) Close() error { return e.err }

// TestAppendToMatchesTheReader checks that AppendTo yields exactly what Open's
// reader yields, for URLs and inline images of every size class, and fails
// the same way on a source that changed.
func TestAppendToMatchesTheReader(t *testing.T) {
	for seed := range uint64(20) {
		var parts []Part
		for i := range int(seed%3) + 1 {
			if (seed+uint64(i))%4 == 0 {
				parts = append(parts, Part{URL: "https://example.test/a.png?x=" + strings.Repeat("y", int(seed))})
				continue
			}
			src := &trackedSource{data: randomBytes(int(seed*37+uint64(i)*11), seed+uint64(i))}
			parts = append(parts, Part{Inline: src.source("image/png")})
		}
		body, err := New([]byte(`{"prompt":"p"}`), parts)
		require.NoError(t, err)
		want := readAll(t, body, func(r io.Reader) io.Reader { return r })
		got, err := body.AppendTo(nil)
		require.NoError(t, err)
		assert.Equal(t, want, got, "seed %d", seed)
		assert.Len(t, got, int(body.Len()))

		// A reused buffer: its old bytes are overwritten, a prefix is kept.
		reused := bytes.Repeat([]byte{'!'}, int(body.Len())+10)
		got, err = body.AppendTo(append(reused[:0], "prefix"...))
		require.NoError(t, err)
		assert.Equal(t, append([]byte("prefix"), want...), got, "seed %d", seed)
	}
	for _, offset := range []int64{-1, 1} {
		src := &trackedSource{data: []byte("hello"), declaredOffset: offset}
		body, err := New([]byte(`{}`), []Part{{Inline: src.source("image/png")}})
		require.NoError(t, err)
		_, err = body.AppendTo(nil)
		var se *SourceError
		require.ErrorAs(t, err, &se)
		assert.ErrorIs(t, err, ErrSourceChanged)
		assert.Equal(t, src.opens, src.closes, "the source is closed")
	}
}

// encodingJSONString is s as encoding/json writes it without HTML escaping.
func encodingJSONString(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(buf.String(), "\n")
}
