// Package h2fault is an HTTP/2 server for the SDK's own tests that resets
// streams and sends GOAWAY with the codes and at the moments a test
// chooses: RST_STREAM(PROTOCOL_ERROR), (REFUSED_STREAM), (CANCEL), ...
// before or after it read the request's body, and GOAWAY with a
// Last-Stream-ID below a request or counting it. net/http's server sends
// those only when something goes wrong on its side, so tests cannot ask
// it for them; yet they decide whether a paid submit may be retried (Go's
// client replays a rewindable request after PROTOCOL_ERROR and
// REFUSED_STREAM, and a GOAWAY below a stream is the server's word that it
// did nothing with it).
//
// The server speaks TLS with ALPN "h2" and a certificate its Client
// trusts, so that the SDK reaches it with a normal transport. Requests
// that no fault takes are answered by a handler, e.g. a reverse proxy to
// a qwenedittest.Server, which then counts the tasks. One goroutine serves
// each connection and runs the handler itself: requests on a connection
// are served one at a time, which is all the tests need.
package h2fault

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/seed-b62e15c8/qwenedit/internal/selfsigned"
)

// Fault is what the server does to one request instead of answering it.
type Fault struct {
	// Method restricts the fault to "POST" or "GET"; "" matches both.
	Method string
	// BeforeBody acts as soon as the request's headers arrive: a client
	// that asked for "Expect: 100-continue" gets no 100 and sends nothing.
	// Otherwise the fault acts once the whole body was read.
	BeforeBody bool
	// Process hands the request to the handler first (a submit makes its
	// task) and drops the answer. BeforeBody is ignored with it.
	Process bool
	// Code is the error code of the RST_STREAM, or of the GOAWAY.
	Code http2.ErrCode
	// GoAway sends GOAWAY and closes the connection instead of resetting
	// the stream. Its Last-Stream-ID is the request's stream if Counted,
	// else the stream below it: the server's word that it did not process
	// the request (RFC 9113, section 6.8).
	GoAway  bool
	Counted bool
}

// Server is a running fault server. Its methods are safe for concurrent
// use; Close it when done.
type Server struct {
	URL string // "https://127.0.0.1:port"

	handler http.Handler
	ln      net.Listener
	client  *http.Client
	wg      sync.WaitGroup

	mu        sync.Mutex
	faults    []Fault
	requests  map[string]int // by method
	processed int
	conns     map[net.Conn]bool
}

// New starts a Server on a loopback port that answers with handler the
// requests no fault takes.
func New(handler http.Handler) (*Server, error) {
	cert, err := selfsigned.New(nil, []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}})
	if err != nil {
		return nil, err
	}
	s := &Server{
		URL:      "https://" + ln.Addr().String(),
		handler:  handler,
		ln:       ln,
		requests: map[string]int{},
		conns:    map[net.Conn]bool{},
		client:   selfsigned.Client(cert.Leaf),
	}
	s.wg.Go(s.accept)
	return s, nil
}

// Client returns a client that trusts the server and speaks HTTP/2.
func (s *Server) Client() *http.Client { return s.client }

// Inject queues a fault for the next request it matches (first in, first
// out); each fault acts once.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f)
}

// Pending is how many injected faults no request has taken yet.
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.faults)
}

// Requests is how many requests with this method arrived, whatever
// happened to them.
func (s *Server) Requests(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[method]
}

// Processed is how many requests the handler was given: those answered
// and those of Process faults.
func (s *Server) Processed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.processed
}

// Close stops the server, closes every connection and waits for their
// goroutines.
func (s *Server) Close() {
	_ = s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.client.CloseIdleConnections()
}

func (s *Server) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Go(func() {
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				_ = c.Close()
			}()
			_ = (&conn{srv: s, c: c.(*tls.Conn), streams: map[uint32]*stream{}}).serve()
		})
	}
}

// take returns the first queued fault for method, if any, and counts the
// request.
func (s *Server) take(method string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests[method]++
	for i, f := range s.faults {
		if f.Method == "" || f.Method == method {
			s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			return &f
		}
	}
	return nil
}

// conn is one client connection.
type conn struct {
	srv     *Server
	c       *tls.Conn
	fr      *http2.Framer
	henc    *hpack.Encoder
	hbuf    bytes.Buffer
	streams map[uint32]*stream
}

// stream is a request being received.
type stream struct {
	id    uint32
	req   *http.Request
	body  bytes.Buffer
	fault *Fault
}

// errGoAway ends a connection after a GOAWAY fault.
var errGoAway = errors.New("h2fault: GOAWAY sent")

func (c *conn) serve() error {
	if err := c.c.Handshake(); err != nil {
		return err
	}
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(c.c, preface); err != nil || string(preface) != http2.ClientPreface {
		return errors.New("h2fault: no client preface")
	}
	c.fr = http2.NewFramer(c.c, c.c)
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.henc = hpack.NewEncoder(&c.hbuf)
	// Windows as large as HTTP/2 allows, so that the client never waits
	// for a WINDOW_UPDATE: the server reads every body whole anyway.
	const window = 1<<31 - 1
	if err := c.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: window}); err != nil {
		return err
	}
	if err := c.fr.WriteWindowUpdate(0, window-65535); err != nil {
		return err
	}
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			return err
		}
		if err := c.process(f); err != nil {
			if errors.Is(err, errGoAway) {
				c.drain()
			}
			return err
		}
	}
}

func (c *conn) process(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.SettingsFrame:
		if !f.IsAck() {
			return c.fr.WriteSettingsAck()
		}
	case *http2.PingFrame:
		if !f.IsAck() {
			return c.fr.WritePing(true, f.Data)
		}
	case *http2.MetaHeadersFrame:
		st := &stream{id: f.StreamID, req: newRequest(f)}
		st.fault = c.srv.take(st.req.Method)
		c.streams[st.id] = st
		switch {
		case st.fault != nil && st.fault.BeforeBody && !st.fault.Process:
			return c.act(st)
		case f.StreamEnded():
			return c.finish(st)
		case st.req.Header.Get("Expect") == "100-continue":
			return c.writeHeaders(st.id, 100, nil, false)
		}
	case *http2.DataFrame:
		st := c.streams[f.StreamID]
		if st == nil {
			return nil // reset by a fault: the client may still be sending
		}
		st.body.Write(f.Data())
		if f.StreamEnded() {
			return c.finish(st)
		}
	case *http2.RSTStreamFrame:
		delete(c.streams, f.StreamID)
	case *http2.GoAwayFrame:
		return io.EOF
	}
	return nil
}

// finish handles a request whose body was read whole.
func (c *conn) finish(st *stream) error {
	if st.fault == nil || st.fault.Process {
		rec := c.handle(st)
		if st.fault == nil {
			delete(c.streams, st.id)
			return c.answer(st.id, rec)
		}
	}
	return c.act(st)
}

// act applies st's fault.
func (c *conn) act(st *stream) error {
	delete(c.streams, st.id)
	f := st.fault
	if !f.GoAway {
		return c.fr.WriteRSTStream(st.id, f.Code)
	}
	last := st.id
	if !f.Counted {
		last = max(st.id, 2) - 2 // the client's stream before it, or 0
	}
	if err := c.fr.WriteGoAway(last, f.Code, []byte("h2fault")); err != nil {
		return err
	}
	return errGoAway
}

// drain ends the connection after a GOAWAY: the server's side first, then
// it reads until the client closes (for at most a second), so that the
// client reads the GOAWAY instead of losing it to a TCP reset.
func (c *conn) drain() {
	_ = c.c.CloseWrite()
	_ = c.c.SetReadDeadline(time.Now().Add(time.Second))
	_, _ = io.Copy(io.Discard, c.c)
}

// handle passes a request to the handler.
func (c *conn) handle(st *stream) *httptest.ResponseRecorder {
	c.srv.mu.Lock()
	c.srv.processed++
	c.srv.mu.Unlock()
	// The body is read already: a handler that forwards the request must
	// not ask for a 100 Continue again.
	st.req.Header.Del("Expect")
	st.req.Body = io.NopCloser(&st.body)
	st.req.ContentLength = int64(st.body.Len())
	rec := httptest.NewRecorder()
	c.srv.handler.ServeHTTP(rec, st.req)
	return rec
}

// answer sends a recorded response.
func (c *conn) answer(id uint32, rec *httptest.ResponseRecorder) error {
	body := rec.Body.Bytes()
	h := rec.Header().Clone()
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if err := c.writeHeaders(id, rec.Code, h, len(body) == 0); err != nil {
		return err
	}
	for len(body) > 0 {
		n := min(len(body), 16<<10) // the smallest frame size a client allows
		if err := c.fr.WriteData(id, n == len(body), body[:n]); err != nil {
			return err
		}
		body = body[n:]
	}
	return nil
}

func (c *conn) writeHeaders(id uint32, status int, h http.Header, end bool) error {
	c.hbuf.Reset()
	_ = c.henc.WriteField(hpack.HeaderField{Name: ":status", Value: strconv.Itoa(status)})
	for k, vs := range h {
		k = strings.ToLower(k)
		if k == "connection" || k == "transfer-encoding" || k == "keep-alive" {
			continue // not allowed in HTTP/2
		}
		for _, v := range vs {
			_ = c.henc.WriteField(hpack.HeaderField{Name: k, Value: v})
		}
	}
	return c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.hbuf.Bytes(), EndStream: end, EndHeaders: true})
}

// newRequest is the request of a HEADERS frame, without its body.
func newRequest(f *http2.MetaHeadersFrame) *http.Request {
	req := &http.Request{Method: f.PseudoValue("method"), Host: f.PseudoValue("authority"),
		Proto: "HTTP/2.0", ProtoMajor: 2, Header: http.Header{}, Body: http.NoBody}
	req.RequestURI = f.PseudoValue("path")
	u, err := url.ParseRequestURI(req.RequestURI)
	if err != nil {
		u = &url.URL{Path: "/"} // the handler answers 404
	}
	req.URL = u
	for _, hf := range f.RegularFields() {
		req.Header.Add(hf.Name, hf.Value)
	}
	return req
}
