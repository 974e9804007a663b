package qwenedittest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// The HTTP/2 server of WithTLS. It is deliberately small: it serves the
// requests of this package's two handlers, correctly (flow control in both
// directions, SETTINGS, PING, GOAWAY, RST_STREAM, CONTINUATION, 100-continue,
// stream limits) and with the frame-level control that faults need, which
// net/http's own HTTP/2 server does not expose. It does not implement
// server push, priorities or trailers in responses.
//
// Concurrency: one goroutine per connection reads and processes frames
// (serve); each stream's handler runs in its own goroutine and writes its
// own frames. Two locks guard a connection: wmu serialises frame writes
// (and the HPACK encoder, whose state must follow the write order), mu
// guards the stream table and the flow-control windows. A goroutine that
// needs both takes wmu first; the reader never holds mu while it waits for
// wmu.

const (
	// h2MaxConcurrentStreams is advertised in SETTINGS; streams beyond it
	// are refused with REFUSED_STREAM, which clients retry.
	h2MaxConcurrentStreams = 250
	// h2StreamWindow is the receive window of each stream: at most this
	// much of a request body is buffered before the handler reads it.
	h2StreamWindow = 1 << 20
	// h2ConnWindow is the connection-level receive window. It is
	// replenished as DATA arrives (memory is bounded by the stream
	// windows), so that a handler that never reads its body cannot
	// starve the other streams of the connection.
	h2ConnWindow = 16 << 20
	// h2MaxReadFrameSize is the largest frame the server accepts.
	h2MaxReadFrameSize = 1 << 20
	// h2MaxHeaderListSize bounds a request's header block.
	h2MaxHeaderListSize = 1 << 20
	// h2WriteChunk is how much response body a handler buffers before it
	// is sent as DATA.
	h2WriteChunk = 16 << 10
	// h2Linger bounds how long a connection that the server is closing
	// keeps reading (and discarding) what the client still sends, so
	// that the client reads the last frames before the close rather
	// than a TCP reset.
	h2Linger = time.Second
	// h2DefaultWindow and h2DefaultMaxFrame are the protocol's initial
	// values until the peer's SETTINGS say otherwise.
	h2DefaultWindow   = 65535
	h2DefaultMaxFrame = 16384
	h2MaxWindow       = 1<<31 - 1
)

var (
	errH2StreamClosed = errors.New("qwenedittest: HTTP/2 stream closed")
	errH2ConnClosed   = errors.New("qwenedittest: HTTP/2 connection closed")
	errH2BodyClosed   = errors.New("qwenedittest: read on closed request body")
)

// h2conn is one HTTP/2 connection.
type h2conn struct {
	raw        net.Conn // the TCP connection under the TLS one
	handler    http.Handler
	baseCtx    context.Context
	tlsState   tls.ConnectionState
	remoteAddr string

	br *bufio.Reader
	bw *bufio.Writer
	fr *http2.Framer // read by serve only; written under wmu

	wmu          sync.Mutex
	henc         *hpack.Encoder
	hbuf         bytes.Buffer
	peerMaxFrame uint32
	writeErr     error // sticky: the connection can no longer be written

	mu             sync.Mutex
	cond           sync.Cond // on mu: a send window grew, a stream ended or the connection died
	streams        map[uint32]*h2stream
	sendWindow     int64 // connection-level credit granted by the peer
	peerInitWindow int64 // the peer's SETTINGS_INITIAL_WINDOW_SIZE
	recvWindow     int64 // connection-level credit granted to the peer
	recvUnacked    int64 // received and not yet given back
	maxStreamID    uint32
	shuttingDown   bool // GOAWAY sent or closing: no new streams
	peerGoAway     bool
	writeDead      bool // mirrors writeErr != nil, for those who hold only mu
	closed         bool

	handlers sync.WaitGroup
}

// h2stream is one request/response exchange.
type h2stream struct {
	c           *h2conn
	id          uint32
	ctx         context.Context
	cancel      context.CancelFunc
	expect100   bool
	declaredLen int64 // the request's content-length, -1 if none

	// Guarded by c.mu.
	recv        bytes.Buffer // received, unread request body
	readCond    sync.Cond    // on c.mu: data arrived or the body ended
	recvWindow  int64        // credit the client has for this stream
	unacked     int64        // read by the handler, not yet given back
	received    int64
	remoteEnded bool  // END_STREAM received
	localEnded  bool  // END_STREAM sent
	reset       bool  // RST_STREAM sent or received
	bodyErr     error // why reading the body fails
	bodyClosed  bool  // the handler finished; data is discarded
	released    bool  // removed from the connection's streams
	sendWindow  int64 // credit the client granted for this stream

	// Guarded by c.wmu.
	sentFinal bool // the final HEADERS were written
	sent100   bool
}

// serveH2 is the TLSNextProto function for "h2": it serves conn until the
// connection ends and every handler it started has returned.
func (s *Server) serveH2(_ *http.Server, tc *tls.Conn, h http.Handler) {
	c := &h2conn{
		raw:            tc.NetConn(),
		handler:        h,
		baseCtx:        context.Background(),
		tlsState:       tc.ConnectionState(),
		remoteAddr:     tc.RemoteAddr().String(),
		peerMaxFrame:   h2DefaultMaxFrame,
		streams:        make(map[uint32]*h2stream),
		sendWindow:     h2DefaultWindow,
		peerInitWindow: h2DefaultWindow,
		recvWindow:     h2DefaultWindow,
	}
	if bc, ok := h.(interface{ BaseContext() context.Context }); ok {
		c.baseCtx = bc.BaseContext() // carries http.ServerContextKey and LocalAddrContextKey
	}
	c.cond.L = &c.mu
	c.br = bufio.NewReaderSize(tc, 64<<10)
	c.bw = bufio.NewWriterSize(tc, 64<<10)
	c.fr = http2.NewFramer(c.bw, c.br)
	c.fr.SetMaxReadFrameSize(h2MaxReadFrameSize)
	c.fr.MaxHeaderListSize = h2MaxHeaderListSize
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.henc = hpack.NewEncoder(&c.hbuf)
	if !s.addH2Conn(c) {
		_ = c.raw.Close() // the Server is closing
		return
	}
	defer s.removeH2Conn(c)
	c.serve()
}

// serve reads and processes frames until the connection fails, then
// releases every stream and waits for their handlers.
func (c *h2conn) serve() {
	defer c.cleanup()
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(c.br, preface); err != nil || string(preface) != http2.ClientPreface {
		return
	}
	err := c.write(func() error {
		if err := c.fr.WriteSettings(
			http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: h2MaxConcurrentStreams},
			http2.Setting{ID: http2.SettingInitialWindowSize, Val: h2StreamWindow},
			http2.Setting{ID: http2.SettingMaxFrameSize, Val: h2MaxReadFrameSize},
			http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: h2MaxHeaderListSize},
			http2.Setting{ID: http2.SettingEnablePush, Val: 0},
		); err != nil {
			return err
		}
		return c.fr.WriteWindowUpdate(0, h2ConnWindow-h2DefaultWindow)
	})
	if err != nil {
		return
	}
	c.mu.Lock()
	c.recvWindow = h2ConnWindow
	c.mu.Unlock()

	first := true
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			var se http2.StreamError
			var ce http2.ConnectionError
			switch {
			case errors.As(err, &se):
				// A malformed header block: the stream is refused,
				// the connection lives on.
				c.mu.Lock()
				c.maxStreamID = max(c.maxStreamID, se.StreamID)
				c.mu.Unlock()
				c.writeRST(se.StreamID, se.Code)
				continue
			case errors.As(err, &ce):
				c.connError(http2.ErrCode(ce))
			case errors.Is(err, http2.ErrFrameTooLarge):
				c.connError(http2.ErrCodeFrameSize)
			}
			return
		}
		if _, ok := f.(*http2.SettingsFrame); first && !ok {
			c.connError(http2.ErrCodeProtocol)
			return
		}
		first = false
		if code, fatal := c.process(f); fatal {
			c.connError(code)
			// Discard what the client still sends until it closes (or
			// h2Linger passes), so that it reads the GOAWAY rather than
			// a TCP reset.
			_, _ = io.Copy(io.Discard, c.br)
			return
		}
		if c.peerDone() {
			return
		}
	}
}

// peerDone reports whether the client said GOAWAY and no stream is left.
func (c *h2conn) peerDone() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peerGoAway && len(c.streams) == 0
}

// process handles one frame; fatal means a connection error with code.
func (c *h2conn) process(f http2.Frame) (code http2.ErrCode, fatal bool) {
	switch f := f.(type) {
	case *http2.SettingsFrame:
		return c.processSettings(f)
	case *http2.MetaHeadersFrame:
		return c.processHeaders(f)
	case *http2.DataFrame:
		return c.processData(f)
	case *http2.WindowUpdateFrame:
		return c.processWindowUpdate(f)
	case *http2.PingFrame:
		if !f.IsAck() {
			data := f.Data
			_ = c.write(func() error { return c.fr.WritePing(true, data) })
		}
	case *http2.RSTStreamFrame:
		c.mu.Lock()
		if f.StreamID > c.maxStreamID {
			c.mu.Unlock()
			return http2.ErrCodeProtocol, true // RST_STREAM on an idle stream
		}
		if st := c.streams[f.StreamID]; st != nil && !st.reset {
			st.reset = true
			c.failStreamLocked(st, http2.StreamError{StreamID: f.StreamID, Code: f.ErrCode})
		}
		c.mu.Unlock()
	case *http2.GoAwayFrame:
		c.mu.Lock()
		c.peerGoAway = true
		c.mu.Unlock()
	case *http2.PushPromiseFrame:
		return http2.ErrCodeProtocol, true // clients must not push
	}
	// PRIORITY and unknown frame types are ignored.
	return 0, false
}

func (c *h2conn) processSettings(f *http2.SettingsFrame) (http2.ErrCode, bool) {
	if f.IsAck() {
		return 0, false
	}
	var code http2.ErrCode
	var fatal bool
	err := c.write(func() error {
		// The new values apply, then the ACK follows, in one critical
		// section: no frame written in between uses the old values.
		_ = f.ForeachSetting(func(st http2.Setting) error {
			if err := st.Valid(); err != nil {
				code, fatal = http2.ErrCodeProtocol, true
				var ce http2.ConnectionError
				if errors.As(err, &ce) {
					code = http2.ErrCode(ce)
				}
				return err
			}
			switch st.ID {
			case http2.SettingMaxFrameSize:
				c.peerMaxFrame = st.Val
			case http2.SettingHeaderTableSize:
				c.henc.SetMaxDynamicTableSizeLimit(st.Val)
			case http2.SettingInitialWindowSize:
				c.mu.Lock()
				delta := int64(st.Val) - c.peerInitWindow
				c.peerInitWindow = int64(st.Val)
				for _, s := range c.streams {
					s.sendWindow += delta
					if s.sendWindow > h2MaxWindow {
						code, fatal = http2.ErrCodeFlowControl, true
					}
				}
				c.cond.Broadcast()
				c.mu.Unlock()
			}
			return nil
		})
		if fatal {
			return nil
		}
		return c.fr.WriteSettingsAck()
	})
	if err != nil {
		return 0, false // the connection is failing anyway
	}
	return code, fatal
}

func (c *h2conn) processWindowUpdate(f *http2.WindowUpdateFrame) (http2.ErrCode, bool) {
	c.mu.Lock()
	if f.StreamID == 0 {
		c.sendWindow += int64(f.Increment)
		overflow := c.sendWindow > h2MaxWindow
		c.cond.Broadcast()
		c.mu.Unlock()
		if overflow {
			return http2.ErrCodeFlowControl, true
		}
		return 0, false
	}
	if f.StreamID > c.maxStreamID {
		c.mu.Unlock()
		return http2.ErrCodeProtocol, true // WINDOW_UPDATE on an idle stream
	}
	st := c.streams[f.StreamID]
	if st == nil || st.reset {
		c.mu.Unlock()
		return 0, false
	}
	st.sendWindow += int64(f.Increment)
	overflow := st.sendWindow > h2MaxWindow
	c.cond.Broadcast()
	c.mu.Unlock()
	if overflow {
		c.writeRST(st.id, http2.ErrCodeFlowControl)
	}
	return 0, false
}

func (c *h2conn) processData(f *http2.DataFrame) (http2.ErrCode, bool) {
	id, n := f.StreamID, int64(f.Length)
	c.mu.Lock()
	if id > c.maxStreamID {
		c.mu.Unlock()
		return http2.ErrCodeProtocol, true // DATA on an idle stream
	}
	c.recvWindow -= n
	if c.recvWindow < 0 {
		c.mu.Unlock()
		return http2.ErrCodeFlowControl, true
	}
	// Connection-level credit comes back as soon as data arrives: the
	// stream windows bound what is buffered.
	c.recvUnacked += n
	var connIncr int64
	if c.recvUnacked >= h2ConnWindow/4 {
		connIncr, c.recvUnacked = c.recvUnacked, 0
		c.recvWindow += connIncr
	}
	var rst http2.ErrCode
	var sendRST bool
	var padIncr int64
	st := c.streams[id]
	switch {
	case st == nil || st.reset:
		// A closed stream: the client had sent this before it saw the
		// end. Nothing to do but count it.
	case st.remoteEnded:
		st.reset, sendRST, rst = true, true, http2.ErrCodeStreamClosed
		c.failStreamLocked(st, errH2StreamClosed)
	default:
		st.recvWindow -= n
		if st.recvWindow < 0 {
			st.reset, sendRST, rst = true, true, http2.ErrCodeFlowControl
			c.failStreamLocked(st, http2.StreamError{StreamID: id, Code: http2.ErrCodeFlowControl})
			break
		}
		data := f.Data()
		st.received += int64(len(data))
		// Padding is never read by the handler: give it back now.
		if pad := n - int64(len(data)); pad > 0 && !f.StreamEnded() {
			padIncr = pad
			st.recvWindow += pad
		}
		if !st.bodyClosed {
			st.recv.Write(data)
		}
		if f.StreamEnded() {
			st.remoteEnded = true
			if st.declaredLen >= 0 && st.received != st.declaredLen {
				st.reset, sendRST, rst = true, true, http2.ErrCodeProtocol
				c.failStreamLocked(st, fmt.Errorf("qwenedittest: request body of %d bytes, content-length %d", st.received, st.declaredLen))
				break
			}
		}
		st.readCond.Broadcast()
	}
	c.mu.Unlock()

	if sendRST {
		c.writeRST(id, rst)
	}
	if connIncr > 0 || padIncr > 0 {
		_ = c.write(func() error {
			if connIncr > 0 {
				if err := c.fr.WriteWindowUpdate(0, uint32(connIncr)); err != nil {
					return err
				}
			}
			if padIncr > 0 {
				return c.fr.WriteWindowUpdate(id, uint32(padIncr))
			}
			return nil
		})
	}
	return 0, false
}

// processHeaders starts a stream, or ends one with trailers.
func (c *h2conn) processHeaders(f *http2.MetaHeadersFrame) (http2.ErrCode, bool) {
	id := f.StreamID
	c.mu.Lock()
	if id%2 == 0 {
		c.mu.Unlock()
		return http2.ErrCodeProtocol, true
	}
	if id <= c.maxStreamID {
		// Trailers of an open stream end its body; HEADERS on a closed
		// stream are ignored.
		if st := c.streams[id]; st != nil && !st.reset && !st.remoteEnded {
			if !f.StreamEnded() {
				c.mu.Unlock()
				return http2.ErrCodeProtocol, true
			}
			st.remoteEnded = true
			st.readCond.Broadcast()
		}
		c.mu.Unlock()
		return 0, false
	}
	c.maxStreamID = id
	switch {
	case c.shuttingDown:
		// After our GOAWAY: not processed, and the client knows it.
		c.mu.Unlock()
		return 0, false
	case len(c.streams) >= h2MaxConcurrentStreams:
		c.mu.Unlock()
		c.writeRST(id, http2.ErrCodeRefusedStream)
		return 0, false
	}
	c.mu.Unlock()

	if f.Truncated {
		c.writeSimpleResponse(id, http.StatusRequestHeaderFieldsTooLarge, f.StreamEnded())
		return 0, false
	}
	req, st, err := c.newRequest(f)
	if err != nil {
		c.writeRST(id, http2.ErrCodeProtocol)
		return 0, false
	}
	w := &h2writer{st: st, req: req, header: make(http.Header), contentLen: -1}
	c.mu.Lock()
	if c.closed || c.shuttingDown {
		c.mu.Unlock()
		st.cancel()
		return 0, false
	}
	c.streams[id] = st
	c.handlers.Add(1)
	c.mu.Unlock()
	go c.runHandler(w, req)
	return 0, false
}

// newRequest builds the *http.Request of a new stream.
func (c *h2conn) newRequest(f *http2.MetaHeadersFrame) (*http.Request, *h2stream, error) {
	method, path := f.PseudoValue("method"), f.PseudoValue("path")
	scheme, authority := f.PseudoValue("scheme"), f.PseudoValue("authority")
	if method == "" || path == "" || scheme == "" || method == http.MethodConnect {
		return nil, nil, errors.New("missing or unsupported pseudo-headers")
	}
	u, err := url.ParseRequestURI(path)
	if err != nil {
		return nil, nil, err
	}
	header := make(http.Header)
	for _, hf := range f.RegularFields() {
		k := http.CanonicalHeaderKey(hf.Name)
		if k == "Cookie" && len(header[k]) > 0 {
			header[k][0] += "; " + hf.Value
			continue
		}
		header[k] = append(header[k], hf.Value)
	}
	if authority == "" {
		authority = header.Get("Host")
	}
	header.Del("Host")
	declared := int64(-1)
	if cl := header.Get("Content-Length"); cl != "" {
		n, err := strconv.ParseUint(cl, 10, 63)
		if err != nil {
			return nil, nil, fmt.Errorf("content-length %q", cl)
		}
		declared = int64(n)
	}
	ended := f.StreamEnded()
	if ended && declared > 0 {
		return nil, nil, errors.New("content-length without a body")
	}
	ctx, cancel := context.WithCancel(c.baseCtx)
	c.mu.Lock()
	st := &h2stream{
		c:           c,
		id:          f.StreamID,
		ctx:         ctx,
		cancel:      cancel,
		declaredLen: declared,
		recvWindow:  h2StreamWindow,
		sendWindow:  c.peerInitWindow,
		remoteEnded: ended,
		expect100:   !ended && strings.EqualFold(header.Get("Expect"), "100-continue"),
	}
	c.mu.Unlock()
	st.readCond.L = &c.mu
	tlsState := c.tlsState
	req := &http.Request{
		Method:     method,
		URL:        u,
		Proto:      "HTTP/2.0",
		ProtoMajor: 2,
		ProtoMinor: 0,
		Header:     header,
		Host:       authority,
		RemoteAddr: c.remoteAddr,
		RequestURI: path,
		TLS:        &tlsState,
	}
	switch {
	case ended:
		req.Body, req.ContentLength = http.NoBody, 0
	default:
		req.Body, req.ContentLength = &h2body{st: st}, declared
	}
	return req.WithContext(ctx), st, nil
}

// runHandler serves one stream and then closes it.
func (c *h2conn) runHandler(w *h2writer, req *http.Request) {
	defer c.handlers.Done()
	defer func() {
		if p := recover(); p != nil {
			if err, ok := p.(error); !ok || !errors.Is(err, http.ErrAbortHandler) {
				buf := make([]byte, 64<<10)
				buf = buf[:runtime.Stack(buf, false)]
				log.Printf("qwenedittest: panic serving %s %s over HTTP/2: %v\n%s", req.Method, req.URL, p, buf)
			}
			w.resetStream(http2.ErrCodeInternal)
		}
		w.finish()
	}()
	c.handler.ServeHTTP(w, req)
}

// failStreamLocked makes the stream's body reads fail with err, cancels
// its context and wakes whoever waits on it. Called with c.mu held.
func (c *h2conn) failStreamLocked(st *h2stream, err error) {
	if st.bodyErr == nil {
		st.bodyErr = err
	}
	st.cancel()
	st.readCond.Broadcast()
	c.cond.Broadcast()
}

// cleanup runs when the reader stops: every stream fails, writers wake,
// handlers are waited for and the connection is closed.
func (c *h2conn) cleanup() {
	c.mu.Lock()
	c.closed = true
	c.shuttingDown = true
	for _, st := range c.streams {
		c.failStreamLocked(st, errH2ConnClosed)
	}
	c.cond.Broadcast()
	c.mu.Unlock()
	_ = c.raw.Close() // ends writes blocked on a client that does not read
	c.handlers.Wait()
}

// write runs fn, which writes frames, under wmu and flushes. A write
// error is sticky and closes the connection, which stops the reader.
func (c *h2conn) write(fn func() error) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeLocked(fn)
}

func (c *h2conn) writeLocked(fn func() error) error {
	if c.writeErr != nil {
		return c.writeErr
	}
	err := fn()
	if err == nil {
		err = c.bw.Flush()
	}
	if err != nil {
		c.setWriteErrLocked(err)
		_ = c.raw.Close()
	}
	return err
}

// setWriteErrLocked makes writes fail from now on and wakes writers
// waiting for window. Called with wmu held.
func (c *h2conn) setWriteErrLocked(err error) {
	if c.writeErr == nil {
		c.writeErr = err
	}
	c.mu.Lock()
	c.writeDead = true
	c.cond.Broadcast()
	c.mu.Unlock()
}

// writeRST resets a stream.
func (c *h2conn) writeRST(id uint32, code http2.ErrCode) {
	c.mu.Lock()
	if st := c.streams[id]; st != nil {
		st.reset = true
		c.failStreamLocked(st, errH2StreamClosed)
	}
	c.mu.Unlock()
	_ = c.write(func() error { return c.fr.WriteRSTStream(id, code) })
}

// writeSimpleResponse answers a stream that gets no handler.
func (c *h2conn) writeSimpleResponse(id uint32, status int, remoteEnded bool) {
	_ = c.write(func() error {
		if err := c.writeHeadersLocked(id, status, nil, true); err != nil {
			return err
		}
		if !remoteEnded {
			return c.fr.WriteRSTStream(id, http2.ErrCodeNo)
		}
		return nil
	})
}

// connError says GOAWAY with code and closes the connection.
func (c *h2conn) connError(code http2.ErrCode) {
	c.goAway(func() uint32 { return c.maxStreamID }, code, nil)
}

// goAway sends GOAWAY and shuts the connection down: no new streams, the
// write side closed after the frame, the read side drained for a moment
// (so that the client reads the GOAWAY rather than a TCP reset), then
// closed. lastStream computes the Last-Stream-ID with c.mu held, in the
// same critical section that stops new streams, so that no stream above
// it is ever handled; the handlers of streams above it are cancelled:
// they were declared unprocessed.
func (c *h2conn) goAway(lastStream func() uint32, code http2.ErrCode, debug []byte) {
	c.mu.Lock()
	c.shuttingDown = true
	last := lastStream()
	for id, st := range c.streams {
		if id > last {
			c.failStreamLocked(st, errH2ConnClosed)
		}
	}
	c.mu.Unlock()
	c.wmu.Lock()
	_ = c.writeLocked(func() error { return c.fr.WriteGoAway(last, code, debug) })
	c.closeWriteLocked()
	c.wmu.Unlock()
}

// closeWriteLocked ends the connection's write side with a TCP FIN and
// lets the reader drain what the client still sends for up to h2Linger,
// after which the reader fails and the connection is closed. Called with
// wmu held.
func (c *h2conn) closeWriteLocked() {
	_ = c.bw.Flush()
	c.setWriteErrLocked(errH2ConnClosed)
	c.mu.Lock()
	c.shuttingDown = true
	c.mu.Unlock()
	if cw, ok := c.raw.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	} else {
		_ = c.raw.Close()
	}
	_ = c.raw.SetReadDeadline(time.Now().Add(h2Linger))
}

// closeWrite is closeWriteLocked for callers without wmu.
func (c *h2conn) closeWrite() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.closeWriteLocked()
}

// writeHeadersLocked writes a HEADERS frame (and CONTINUATION frames if the
// block exceeds the peer's frame size). Called with wmu held.
func (c *h2conn) writeHeadersLocked(id uint32, status int, h http.Header, endStream bool) error {
	c.hbuf.Reset()
	_ = c.henc.WriteField(hpack.HeaderField{Name: ":status", Value: strconv.Itoa(status)})
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		lk := strings.ToLower(k)
		switch lk {
		case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
			continue // connection-specific: not allowed in HTTP/2
		}
		for _, v := range h[k] {
			_ = c.henc.WriteField(hpack.HeaderField{Name: lk, Value: v})
		}
	}
	block := c.hbuf.Bytes()
	maxFrame := int(c.peerMaxFrame)
	first := true
	for first || len(block) > 0 {
		chunk := block[:min(len(block), maxFrame)]
		block = block[len(chunk):]
		var err error
		if first {
			err = c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: chunk, EndStream: endStream, EndHeaders: len(block) == 0})
		} else {
			err = c.fr.WriteContinuation(id, len(block) == 0, chunk)
		}
		if err != nil {
			return err
		}
		first = false
	}
	return nil
}

// writeDataLocked writes data as DATA frames of at most the peer's frame
// size; the window was reserved by the caller. Called with wmu held.
func (c *h2conn) writeDataLocked(id uint32, data []byte, endStream bool) error {
	maxFrame := int(c.peerMaxFrame)
	for {
		chunk := data[:min(len(data), maxFrame)]
		data = data[len(chunk):]
		if err := c.fr.WriteData(id, endStream && len(data) == 0, chunk); err != nil {
			return err
		}
		if len(data) == 0 {
			return nil
		}
	}
}

// reserve takes up to want bytes of send window for st, waiting for some
// unless block is false (then it may return 0).
func (c *h2conn) reserve(st *h2stream, want int, block bool) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		switch {
		case c.closed || c.writeDead:
			return 0, errH2ConnClosed
		case st.reset:
			return 0, errH2StreamClosed
		}
		n := min(int64(want), st.sendWindow, c.sendWindow)
		if n > 0 {
			st.sendWindow -= n
			c.sendWindow -= n
			return int(n), nil
		}
		if !block {
			return 0, nil
		}
		c.cond.Wait()
	}
}

// refund returns reserved window that was not used.
func (c *h2conn) refund(st *h2stream, n int) {
	if n == 0 {
		return
	}
	c.mu.Lock()
	st.sendWindow += int64(n)
	c.sendWindow += int64(n)
	c.cond.Broadcast()
	c.mu.Unlock()
}

// h2body is a stream's request body.
type h2body struct {
	st      *h2stream
	checked bool // the 100-continue question is settled
}

// Read returns buffered request data, waiting for more. The first read of
// a request that asked for 100-continue sends the 100 response first, as
// Go's servers do, so a handler that answers without reading sends none.
func (b *h2body) Read(p []byte) (int, error) {
	st := b.st
	c := st.c
	if st.expect100 && !b.checked {
		b.checked = true
		c.wmu.Lock()
		c.mu.Lock()
		need := !st.sent100 && !st.sentFinal && !st.remoteEnded && !st.reset && !st.bodyClosed
		c.mu.Unlock()
		if need {
			st.sent100 = true
			_ = c.writeLocked(func() error { return c.writeHeadersLocked(st.id, http.StatusContinue, nil, false) })
		}
		c.wmu.Unlock()
	}
	c.mu.Lock()
	for st.recv.Len() == 0 && !st.remoteEnded && st.bodyErr == nil && !st.bodyClosed {
		st.readCond.Wait()
	}
	switch {
	case st.bodyClosed:
		c.mu.Unlock()
		return 0, errH2BodyClosed
	case st.bodyErr != nil:
		err := st.bodyErr
		c.mu.Unlock()
		return 0, err
	case st.recv.Len() > 0:
		n, _ := st.recv.Read(p)
		st.unacked += int64(n)
		var incr int64
		if st.unacked >= h2StreamWindow/4 && !st.remoteEnded && !st.reset {
			incr, st.unacked = st.unacked, 0
			st.recvWindow += incr
		}
		c.mu.Unlock()
		if incr > 0 {
			_ = c.write(func() error { return c.fr.WriteWindowUpdate(st.id, uint32(incr)) })
		}
		return n, nil
	default: // remoteEnded
		c.mu.Unlock()
		return 0, io.EOF
	}
}

// Close discards the rest of the body.
func (b *h2body) Close() error {
	c := b.st.c
	c.mu.Lock()
	defer c.mu.Unlock()
	b.st.bodyClosed = true
	b.st.recv = bytes.Buffer{}
	b.st.readCond.Broadcast()
	return nil
}

// h2writer is the http.ResponseWriter of a stream. Only the handler's
// goroutine uses it.
type h2writer struct {
	st          *h2stream
	req         *http.Request
	header      http.Header
	sentHeader  http.Header // snapshot taken by WriteHeader
	status      int
	wroteHeader bool // the handler chose the final status
	headersSent bool // the final HEADERS frame was written
	buf         []byte
	contentLen  int64 // the handler's Content-Length, -1 if none
	written     int64
	done        bool // the response ended or a fault took the stream over
	faulted     bool // a fault took the stream over
}

var _ http.Flusher = (*h2writer)(nil)

// Header returns the response headers, as http.ResponseWriter.
func (w *h2writer) Header() http.Header { return w.header }

// WriteHeader chooses the status: 1xx ones are sent at once, the final
// one with the first data, Flush or the end of the handler.
func (w *h2writer) WriteHeader(code int) {
	if w.wroteHeader || w.done {
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		// An informational response, written at once.
		st, c := w.st, w.st.c
		h := w.header.Clone()
		_ = c.write(func() error {
			if code == http.StatusContinue {
				if st.sent100 {
					return nil
				}
				st.sent100 = true
			}
			return c.writeHeadersLocked(st.id, code, h, false)
		})
		return
	}
	w.wroteHeader = true
	w.status = code
	w.sentHeader = w.header.Clone()
	if cl := w.sentHeader.Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n >= 0 {
			w.contentLen = n
		} else {
			w.sentHeader.Del("Content-Length")
		}
	}
}

// bodyAllowed reports whether the response may have a body.
func (w *h2writer) bodyAllowed() bool {
	return w.status != http.StatusNoContent && w.status != http.StatusNotModified && w.req.Method != http.MethodHead
}

// Write buffers body data and sends it as DATA frames, within the
// client's flow-control windows, once h2WriteChunk bytes are pending.
func (w *h2writer) Write(p []byte) (int, error) {
	if w.done {
		return 0, errH2StreamClosed
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.status == http.StatusNoContent || w.status == http.StatusNotModified {
		return 0, http.ErrBodyNotAllowed
	}
	if w.contentLen >= 0 && w.written+int64(len(p)) > w.contentLen {
		return 0, http.ErrContentLength
	}
	w.written += int64(len(p))
	if w.req.Method == http.MethodHead {
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	if len(w.buf) >= h2WriteChunk {
		if err := w.send(false); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Flush sends the headers and any buffered body.
func (w *h2writer) Flush() { _ = w.FlushError() }

// FlushError is Flush with the error, for http.ResponseController.
func (w *h2writer) FlushError() error {
	if w.done {
		return errH2StreamClosed
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return w.send(false)
}

// finalHeader completes the response headers before they are sent.
func (w *h2writer) finalHeader(end bool) http.Header {
	h := w.sentHeader
	if h.Get("Date") == "" {
		h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	}
	if w.bodyAllowed() || w.req.Method == http.MethodHead {
		if end && w.contentLen < 0 && w.bodyAllowed() {
			h.Set("Content-Length", strconv.Itoa(len(w.buf)))
		}
		if _, ok := h["Content-Type"]; !ok && len(w.buf) > 0 {
			h.Set("Content-Type", http.DetectContentType(w.buf))
		}
	}
	return h
}

// send writes the headers if not yet sent and the buffered body; end ends
// the stream with the last frame.
func (w *h2writer) send(end bool) error {
	st, c := w.st, w.st.c
	data := w.buf
	defer func() { w.buf = w.buf[:0] }()
	for {
		headers := !w.headersSent
		var hdr http.Header
		if headers {
			hdr = w.finalHeader(end)
		}
		n := 0
		if len(data) > 0 {
			// Headers go out without waiting for window; data waits.
			var err error
			if n, err = c.reserve(st, len(data), !headers); err != nil {
				return err
			}
		}
		last := n == len(data)
		if !headers && len(data) == 0 && !end {
			return nil
		}
		c.wmu.Lock()
		c.mu.Lock()
		reset := st.reset
		c.mu.Unlock()
		if reset {
			c.wmu.Unlock()
			c.refund(st, n)
			return errH2StreamClosed
		}
		var peerDone bool
		err := c.writeLocked(func() error {
			if headers {
				st.sentFinal = true
				if err := c.writeHeadersLocked(st.id, w.status, hdr, end && len(data) == 0); err != nil {
					return err
				}
			}
			var err error
			switch {
			case n > 0:
				err = c.writeDataLocked(st.id, data[:n], end && last)
			case end && !headers && len(data) == 0:
				err = c.fr.WriteData(st.id, true, nil)
			}
			if err != nil || !end || !last {
				return err
			}
			// The last frame: the stream is released before the flush, so
			// that a client that sees the end and opens a new stream at
			// once is never refused for a stream it considers closed.
			c.mu.Lock()
			st.localEnded = true
			c.mu.Unlock()
			var rst bool
			var code http2.ErrCode
			rst, code, peerDone = c.releaseLocked(st, false)
			if rst {
				return c.fr.WriteRSTStream(st.id, code)
			}
			return nil
		})
		if peerDone {
			_ = c.raw.Close() // the client said GOAWAY and this was its last stream
		}
		c.wmu.Unlock()
		if err != nil {
			return err
		}
		w.headersSent = true
		data = data[n:]
		if len(data) == 0 {
			return nil
		}
	}
}

// finish ends the response when the handler returns and releases the
// stream if the last frame did not already.
func (w *h2writer) finish() {
	st, c := w.st, w.st.c
	if !w.done {
		if !w.wroteHeader {
			w.WriteHeader(http.StatusOK)
		}
		_ = w.send(true)
		w.done = true
	}
	c.wmu.Lock()
	rst, code, peerDone := c.releaseLocked(st, w.faulted)
	if rst {
		_ = c.writeLocked(func() error { return c.fr.WriteRSTStream(st.id, code) })
	}
	c.wmu.Unlock()
	st.cancel()
	if peerDone {
		_ = c.raw.Close() // the client said GOAWAY and this was its last stream
	}
}

// releaseLocked removes a stream whose handler is done from the
// connection, once. rst says whether the caller must then reset it with
// code: NO_ERROR if the response is complete but the client is still
// sending a body nobody will read, INTERNAL_ERROR if the response could
// not be completed (and no fault took the stream over on purpose).
// peerDone reports that the client said GOAWAY and no stream is left.
// Called with wmu held.
func (c *h2conn) releaseLocked(st *h2stream, faulted bool) (rst bool, code http2.ErrCode, peerDone bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st.released {
		return false, 0, false
	}
	st.released = true
	if !st.reset && !c.closed && c.writeErr == nil {
		switch {
		case st.localEnded && !st.remoteEnded:
			rst, code = true, http2.ErrCodeNo
		case !st.localEnded && !faulted:
			rst, code = true, http2.ErrCodeInternal
		}
	}
	if rst {
		st.reset = true
	}
	delete(c.streams, st.id)
	st.bodyClosed = true
	st.recv = bytes.Buffer{}
	st.readCond.Broadcast()
	c.cond.Broadcast()
	return rst, code, c.peerGoAway && len(c.streams) == 0
}

// The frame-level actions of faults. Each takes the stream over: finish
// then sends nothing more.

// resetStream sends RST_STREAM with code.
func (w *h2writer) resetStream(code http2.ErrCode) {
	w.done, w.faulted = true, true
	w.st.c.writeRST(w.st.id, code)
}

// goAway sends GOAWAY and closes the connection. Its Last-Stream-ID is
// this stream's when the request was processed, the client stream before
// it otherwise, raised to any other stream being handled, since those may
// have been processed: a client retries only what really was not.
func (w *h2writer) goAway(processed bool, code http2.ErrCode) {
	w.done, w.faulted = true, true
	st, c := w.st, w.st.c
	c.goAway(func() uint32 {
		last := st.id
		if !processed {
			last = max(st.id, 2) - 2
		}
		for id := range c.streams {
			if id != st.id {
				last = max(last, id)
			}
		}
		return last
	}, code, []byte("qwenedittest: FaultGoAway"))
}

// closeConn closes the connection without a word.
func (w *h2writer) closeConn() {
	w.done, w.faulted = true, true
	w.st.c.closeWrite()
}

// partial sends status and the header with a Content-Length for all of
// body, then half of body; then it closes the connection, or hangs until
// the client resets the stream or the server closes.
func (w *h2writer) partial(status int, body []byte, hang bool, closing <-chan struct{}) {
	w.header.Set("Content-Type", "application/json")
	w.header.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.buf = append(w.buf[:0], body[:len(body)/2]...)
	_ = w.send(false)
	w.done, w.faulted = true, true
	if hang {
		w.hang(closing)
		return
	}
	w.st.c.closeWrite()
}

// hang waits until the client resets the stream or goes away, or the
// server closes.
func (w *h2writer) hang(closing <-chan struct{}) {
	w.done, w.faulted = true, true
	select {
	case <-w.st.ctx.Done():
	case <-closing:
	}
}
