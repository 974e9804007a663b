package streambody

import (
	"io"
	"sync"
)

// ReadAhead returns a reader of rc's bytes that reads (and so, for a Body's
// reader, base64-encodes) up to aheadBlocks blocks ahead in a goroutine of
// its own, while the caller sends what is ready. On a machine with a spare
// core the encoding then runs beside the socket writes instead of between
// them: a large upload goes at the speed of the socket, not of the socket
// plus the encoder.
//
// Bytes and errors come out exactly as rc gives them, in order; rc is read
// from one goroutine at a time. The goroutine starts at the first Read and
// ends after rc's end or error, or at Close, which waits for it (at most one
// block of rc) before it closes rc. Like the Body's reader, it is safe for
// a Close concurrent with a Read. Its blocks come from a pool: an upload
// holds at most aheadBlocks × aheadBlockSize (512 KiB) at a time.
func ReadAhead(rc io.ReadCloser) io.ReadCloser {
	return &aheadReader{src: rc}
}

const (
	aheadBlocks    = 4
	aheadBlockSize = 128 << 10
)

var blockPool = sync.Pool{New: func() any { b := make([]byte, aheadBlockSize); return &b }}

// block is one read of the source: its bytes, then its error, if any.
type block struct {
	buf *[]byte
	n   int
	err error
}

type aheadReader struct {
	src io.ReadCloser

	mu      sync.Mutex // serialises Read and Close
	started bool
	closed  bool
	filled  chan block    // blocks read from src, in order
	free    chan *[]byte  // blocks given back by Read
	stop    chan struct{} // closed by Close
	exited  chan struct{} // closed when the goroutine has returned
	cur     block
	off     int
	err     error // src's error, once every byte before it was read
}

// fill reads src block by block until it ends or fails, or stop closes.
// It never blocks on filled: it has room for every block there is.
func (r *aheadReader) fill() {
	defer close(r.exited)
	for {
		var buf *[]byte
		select {
		case buf = <-r.free:
		case <-r.stop:
			return
		}
		n, err := readBlock(r.src, *buf)
		r.filled <- block{buf: buf, n: n, err: err}
		if err != nil {
			return
		}
	}
}

// readBlock fills buf from src, stopping early only at src's end or error,
// which it returns as src gave it.
func readBlock(src io.Reader, buf []byte) (n int, err error) {
	for n < len(buf) && err == nil {
		var m int
		m, err = src.Read(buf[n:])
		n += m
	}
	return n, err
}

func (r *aheadReader) start() {
	r.started = true
	r.filled = make(chan block, aheadBlocks)
	r.free = make(chan *[]byte, aheadBlocks)
	r.stop, r.exited = make(chan struct{}), make(chan struct{})
	for range aheadBlocks {
		r.free <- blockPool.Get().(*[]byte)
	}
	go r.fill()
}

func (r *aheadReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closed:
		return 0, ErrClosed
	case !r.started:
		r.start()
	}
	for r.off == r.cur.n {
		if r.err != nil {
			return 0, r.err
		}
		if r.cur.buf != nil {
			r.free <- r.cur.buf
		}
		// Waits for at most one block of src, as a Read of src would.
		r.cur, r.off = <-r.filled, 0
		r.err = r.cur.err
	}
	n := copy(p, (*r.cur.buf)[r.off:r.cur.n])
	r.off += n
	return n, nil
}

// Close stops the goroutine, waits for it, closes src and gives the blocks
// back to the pool. Later Reads return ErrClosed; closing twice is harmless.
func (r *aheadReader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	if r.started {
		close(r.stop)
		<-r.exited
		r.recycle()
	}
	return r.src.Close()
}

// recycle gives every block back to the pool once the goroutine is gone.
func (r *aheadReader) recycle() {
	if r.cur.buf != nil {
		blockPool.Put(r.cur.buf)
	}
	r.cur = block{}
	for {
		select {
		case b := <-r.filled:
			blockPool.Put(b.buf)
		case buf := <-r.free:
			blockPool.Put(buf)
		default:
			return
		}
	}
}
