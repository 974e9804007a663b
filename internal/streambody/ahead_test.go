package streambody

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"sync/atomic"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// failingReader yields data, then fails with err.
type failingReader struct {
	data   []byte
	err    error
	closes atomic.Int64
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data[:min(len(f.data), 1000)]) // short reads, as a file or encoder may give
	f.data = f.data[n:]
	return n, nil
}

func (f *failingReader) Close() error { f.closes.Add(1); return nil }

// ReadAhead yields exactly its source's bytes, whatever the sizes of the
// source and of the caller's reads, and passes its end on.
func TestReadAheadYieldsTheSource(t *testing.T) {
	for _, n := range []int{0, 1, aheadBlockSize - 1, aheadBlockSize, aheadBlockSize + 1, 7*aheadBlockSize/2 + 5, 3 * aheadBlocks * aheadBlockSize} {
		data := randomBytes(n, uint64(n))
		for _, w := range []struct {
			wrap  func(io.Reader) io.Reader
			small bool
		}{
			{func(r io.Reader) io.Reader { return r }, false},
			{iotest.OneByteReader, true},
			{iotest.HalfReader, true},
		} {
			if w.small && n > 2*aheadBlockSize {
				continue // byte-sized reads of megabytes would only be slow
			}
			wrap := w.wrap
			src := &failingReader{data: data, err: io.EOF}
			rc := ReadAhead(src)
			got, err := io.ReadAll(wrap(rc))
			require.NoError(t, err, "n=%d", n)
			require.True(t, bytes.Equal(data, got), "n=%d: %d bytes out", n, len(got))
			require.NoError(t, rc.Close())
			assert.EqualValues(t, 1, src.closes.Load(), "the source is closed once")
		}
	}
}

// An error of the source comes after every byte before it, as it came.
func TestReadAheadPassesTheErrorOnInOrder(t *testing.T) {
	boom := &SourceError{Part: 1, Op: "read", Err: errors.New("disk gone")}
	for _, n := range []int{0, 10, aheadBlockSize, 2*aheadBlockSize + 3} {
		data := randomBytes(n, 3)
		rc := ReadAhead(&failingReader{data: data, err: boom})
		var got []byte
		buf := make([]byte, 32<<10)
		var err error
		for err == nil {
			var m int
			m, err = rc.Read(buf)
			got = append(got, buf[:m]...)
		}
		var se *SourceError
		require.ErrorAs(t, err, &se, "n=%d", n)
		assert.Same(t, boom, se)
		assert.True(t, bytes.Equal(data, got), "n=%d: the bytes before the error all arrive", n)
		_, err = rc.Read(buf)
		assert.Same(t, boom, err, "the error stays")
		require.NoError(t, rc.Close())
	}
}

// blockingReader serves its first Read at once and blocks the others until
// release is closed, then serves zeros; it records a Close during a Read
// and a Read after Close.
type blockingReader struct {
	release    chan struct{}
	reads      atomic.Int64
	inFlight   atomic.Int64
	concurrent atomic.Bool // two Reads were in flight at once
	closes     atomic.Int64
	misuse     atomic.Bool // closed during a Read, or read after Close
}

func (b *blockingReader) Read(p []byte) (int, error) {
	if b.inFlight.Add(1) > 1 {
		b.concurrent.Store(true)
	}
	defer b.inFlight.Add(-1)
	if b.closes.Load() > 0 {
		b.misuse.Store(true)
	}
	if b.reads.Add(1) > 1 {
		<-b.release
	}
	clear(p)
	return len(p), nil
}

func (b *blockingReader) Close() error {
	if b.inFlight.Load() != 0 {
		b.misuse.Store(true)
	}
	b.closes.Add(1)
	return nil
}

// Close waits for the goroutine's Read of the source to end before it
// closes the source, never lets it read again, never reads the source
// from two goroutines, and leaves no goroutine behind.
func TestReadAheadCloseStopsTheGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	src := &blockingReader{release: make(chan struct{})}
	rc := ReadAhead(src)
	_, err := rc.Read(make([]byte, 10)) // the first block; the goroutine goes on to the next
	require.NoError(t, err)
	for src.inFlight.Load() == 0 {
		runtime.Gosched()
	}
	closed := make(chan error, 1)
	go func() { closed <- rc.Close() }()
	for range 1000 {
		runtime.Gosched() // give a Close that would not wait every chance to close the source now
	}
	close(src.release)
	require.NoError(t, <-closed)
	assert.False(t, src.misuse.Load(), "the source was closed during a Read, or read after Close")
	assert.EqualValues(t, 1, src.closes.Load())
	assert.False(t, src.concurrent.Load(), "one Read of the source at a time")
	_, err = rc.Read(make([]byte, 10))
	assert.ErrorIs(t, err, ErrClosed)
	require.NoError(t, rc.Close(), "closing twice is harmless")
	assert.EqualValues(t, 1, src.closes.Load())
	for runtime.NumGoroutine() > before {
		runtime.Gosched() // Close waited for the goroutine: only the test's own are ending
	}
}

// A reader closed before any Read starts nothing and reads nothing.
func TestReadAheadClosedUnread(t *testing.T) {
	src := &failingReader{data: []byte("abc"), err: io.EOF}
	rc := ReadAhead(src)
	require.NoError(t, rc.Close())
	assert.Equal(t, []byte("abc"), src.data, "nothing read")
	assert.EqualValues(t, 1, src.closes.Load())
}

// What HTTP/2 does to a request body: Close from another goroutine while
// a Read is in progress, at every point of a Body with files and memory.
// Run with -race.
func TestReadAheadConcurrentReadAndClose(t *testing.T) {
	srcs := []*countedSource{{data: randomBytes(3*rawChunk+5, 1)}, {data: randomBytes(100, 2)}, {data: randomBytes(aheadBlockSize*2, 3)}}
	parts := make([]Part, len(srcs))
	for i, s := range srcs {
		parts[i] = Part{Inline: s.source()}
	}
	parts = append(parts, Part{Inline: &Source{MediaType: "image/png", Size: 5 << 20, Data: make([]byte, 5<<20)}})
	body, err := New([]byte(`{"prompt":"p"}`), parts)
	require.NoError(t, err)
	for i := range 200 {
		inner, err := body.Open()
		require.NoError(t, err)
		readWhileClosing(t, ReadAhead(inner), 1+i%7*4096, i%17)
	}
	for i, s := range srcs {
		assert.Equal(t, s.opens.Load(), s.closes.Load(), "source %d: every source opened is closed", i)
	}
}

// A Body read ahead is the Body: same bytes, same length.
func TestReadAheadOfABody(t *testing.T) {
	img := randomBytes(3<<20+1, 9)
	body, err := New([]byte(`{"prompt":"p"}`), []Part{{Inline: &Source{MediaType: "image/png", Size: int64(len(img)), Data: img}}})
	require.NoError(t, err)
	want, err := body.AppendTo(nil)
	require.NoError(t, err)
	inner, err := body.Open()
	require.NoError(t, err)
	rc := ReadAhead(inner)
	got, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	assert.EqualValues(t, body.Len(), len(got))
	assert.True(t, bytes.Equal(want, got))
}
