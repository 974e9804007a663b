package qwenedittest

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// FaultKind is what a [Fault] does to a request.
//
// Every kind works over HTTP/1.1 and, with [WithTLS], over HTTP/2, which
// net/http's own server speaks. HTTP/2 has no way for a handler to drop
// the connection in the middle of an answer, so the kinds that cut an
// answer end its stream instead; [FaultCloseConnection] closes the TCP
// connection on both protocols, which over HTTP/2 ends every other stream
// on it too.
type FaultKind int

// The fault kinds. Those that answer 2xx use 202 for a submit and 200 for a
// poll unless Fault.Status says otherwise.
const (
	// FaultStatus answers Fault.Status (default 500) with Fault.Body
	// (default {"detail":"<status text>"}) and the Retry-After header if
	// Fault.RetryAfter is set. With BeforeBody the answer comes before the
	// request body is read, like a gateway refusing an upload; then over
	// HTTP/1.1 the answer says "Connection: close" (if the request has a
	// body) and the connection is closed, and over HTTP/2 the stream is
	// reset with NO_ERROR after the answer (if the client is still
	// sending), which tells the client to stop.
	FaultStatus FaultKind = iota
	// FaultCloseConnection closes the TCP connection without answering.
	// The server closes its write side first and reads what the client
	// still sends for a moment, so that the client sees the end of the
	// connection rather than a reset that could destroy what it has not
	// read yet.
	FaultCloseConnection
	// FaultCloseMidBody sends the status line and headers, including a
	// Content-Length for the whole JSON body, and half of that body, then
	// ends the answer: over HTTP/1.1 by closing the connection, over
	// HTTP/2 by ending the stream. Either way the client reads an
	// unexpected EOF.
	FaultCloseMidBody
	// FaultHang never answers. The handler returns once the client goes
	// away or resets the stream, or the server closes; the client then
	// sees its connection closed (HTTP/1.1) or its stream reset with
	// INTERNAL_ERROR (HTTP/2).
	FaultHang
	// FaultStallBody sends the headers and half of a JSON body, then hangs
	// like FaultHang.
	FaultStallBody
	// FaultInvalidJSON answers 2xx, Content-Type application/json, with a
	// body that is not JSON (Fault.Body if set).
	FaultInvalidJSON
	// FaultWrongShape answers 2xx with valid JSON of the wrong shape:
	// {"task_info":"x"} for a submit, [] for a poll (Fault.Body if set).
	FaultWrongShape
	// FaultHugeBody answers Fault.Status (default 500) with Fault.Size bytes
	// (default 64 MiB) of JSON-looking junk, streamed with a Content-Length
	// and never held in memory. It stops when the client stops reading and
	// goes away or resets the stream.
	FaultHugeBody
	// FaultUnknownStatus answers a poll (GET requests only) with a
	// well-formed task whose status is "mystery".
	FaultUnknownStatus
	// FaultResetStream sends no answer: over HTTP/2 the handler aborts
	// (panic(http.ErrAbortHandler)), which resets the request's stream
	// with RST_STREAM(INTERNAL_ERROR) and leaves the connection and its
	// other streams alive; over HTTP/1.1, which has no streams, the same
	// abort closes the connection.
	//
	// Go's HTTP/2 client does not replay a request after INTERNAL_ERROR.
	// Resets with other codes (PROTOCOL_ERROR and REFUSED_STREAM, which it
	// replays if it can rewind the body), and GOAWAY with a chosen
	// Last-Stream-ID, need a frame-level server, which net/http is not.
	FaultResetStream
)

// defaultHugeBodySize is FaultHugeBody's size when Fault.Size is 0: beyond
// any sane cap on an error or status body.
const defaultHugeBodySize = 64 << 20

// linger is how long a closed connection reads what the client still sends
// (see FaultCloseConnection).
const linger = time.Second

// Fault is a failure to inject into API requests with [Server.InjectFault].
// Faults apply to requests that reach an API route (not to 404s and 405s)
// and act before authentication, like a proxy or an overloaded front end;
// the result-image origin never sees faults.
//
// A request takes its fault when its headers arrive (so the queue follows
// the order in which requests arrive), which uses up that application even
// if the client then goes away before the fault acts. By default the fault
// acts once the request body has been read (and recorded); it then also
// replaces a 413 for a body over 64 MiB.
type Fault struct {
	// Method restricts the fault to "POST" (submits) or "GET" (polls); ""
	// matches both.
	Method string
	// Kind is what happens; see the FaultKind constants.
	Kind FaultKind
	// Status is the HTTP status of FaultStatus and FaultHugeBody (default
	// 500); for the kinds that answer 2xx it overrides that status.
	Status int
	// RetryAfter, if non-empty, is sent verbatim as the Retry-After header
	// by the kinds that send headers.
	RetryAfter string
	// Body replaces the default body of FaultStatus, FaultInvalidJSON and
	// FaultWrongShape.
	Body string
	// Size is FaultHugeBody's body size in bytes (default 64 MiB).
	Size int64
	// Times is how many matching requests the fault applies to; 0 means 1.
	Times int
	// AfterCreate, for submits only, lets the request create its task
	// first (SubmitCount rises) and then applies the fault instead of the
	// 202: the answer to a paid request is lost. With a 2xx-shaped kind the
	// real task body is what gets cut or sent. Such a fault never matches
	// a GET, and a submit that creates nothing (401, 400, ...) leaves it
	// queued for the next one that does. BeforeBody is ignored with it.
	AfterCreate bool
	// BeforeBody makes the fault act as soon as the request's headers
	// arrive, before its body is read: the recording has no body (and is
	// marked Truncated if the request has one), and a client that sent
	// "Expect: 100-continue" never gets the 100, so it never uploads.
	// Over HTTP/2 the client may have sent part of the body already;
	// the server discards it. It makes no difference to a request
	// without a body (a poll).
	BeforeBody bool
	// Every, when 2 or more, applies the fault only to every Every-th
	// request that reaches it (the Every-th, the 2×Every-th, ...) and lets
	// the others through, so that its Times applications spread over a run
	// instead of hitting the first requests. 0 and 1 apply it to each.
	Every int
}

// queuedFault is an injected fault and how many matching requests reached
// it, for Every.
type queuedFault struct {
	Fault
	seen int
}

// matches reports whether f applies to a request with this method.
func (f *Fault) matches(method string) bool {
	switch {
	case f.Method != "" && f.Method != method:
		return false
	case f.Kind == FaultUnknownStatus && method != http.MethodGet:
		return false
	case f.AfterCreate && method != http.MethodPost:
		return false
	}
	return true
}

// InjectFault queues a fault. Each API request takes the first queued fault
// that matches it (FIFO) and whose turn it is (see Fault.Every), which is
// used up after Times requests.
func (s *Server) InjectFault(f Fault) {
	f.Method = strings.ToUpper(f.Method)
	if f.Times <= 0 {
		f.Times = 1
	}
	if f.AfterCreate {
		f.BeforeBody = false // the task is created from the body
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &queuedFault{Fault: f})
}

// PendingFaults is how many fault applications are still queued (the sum
// of the remaining Times), so a test can check that all were used.
func (s *Server) PendingFaults() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, f := range s.faults {
		n += f.Times
	}
	return n
}

// takeFault uses up one application of the first fault matching method,
// among the AfterCreate faults or among the others.
func (s *Server) takeFault(method string, afterCreate bool) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.AfterCreate != afterCreate || !f.matches(method) {
			continue
		}
		if f.seen++; f.Every > 1 && f.seen%f.Every != 0 {
			continue // not its turn: a later fault, or none, answers
		}
		f.Times--
		c := f.Fault
		if f.Times == 0 {
			s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
		}
		return &c
	}
	return nil
}

// applyFault answers a request according to f. actual is the answer the
// request would have had (AfterCreate faults only), else nil.
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, f *Fault, rt route, id string, actual *response) {
	okStatus := http.StatusOK
	if rt == routeSubmit {
		okStatus = http.StatusAccepted
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	switch f.Kind {
	case FaultStatus:
		resp := detailResponse(orDefault(f.Status, http.StatusInternalServerError), http.StatusText(orDefault(f.Status, http.StatusInternalServerError)))
		if f.Body != "" {
			resp.body = []byte(f.Body)
		}
		if f.BeforeBody {
			refuseEarly(w, r, resp)
			return
		}
		resp.write(w)
	case FaultCloseConnection:
		s.closeConnection(w, r)
	case FaultCloseMidBody, FaultStallBody:
		// The answer these kinds cut in half: the real one, or a plausible task.
		resp := response{status: okStatus, body: s.fabricatedTask(id)}
		if actual != nil {
			resp = *actual
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(resp.body)))
		w.WriteHeader(orDefault(f.Status, resp.status))
		_, _ = w.Write(resp.body[:len(resp.body)/2])
		if f.Kind == FaultStallBody {
			_ = http.NewResponseController(w).Flush()
			s.hang(w, r)
		}
		// An answer shorter than its Content-Length: net/http closes an
		// HTTP/1.1 connection after it and ends an HTTP/2 stream early;
		// the client's read of the body fails with io.ErrUnexpectedEOF
		// either way.
	case FaultHang:
		s.hang(w, r)
	case FaultResetStream:
		panic(http.ErrAbortHandler)
	case FaultInvalidJSON:
		b := "<html><body><h1>Bad Gateway</h1>this is not JSON</body></html>"
		if f.Body != "" {
			b = f.Body
		}
		response{status: orDefault(f.Status, okStatus), body: []byte(b)}.write(w)
	case FaultWrongShape:
		b := `[]`
		if rt == routeSubmit {
			b = `{"task_info":"x"}`
		}
		if f.Body != "" {
			b = f.Body
		}
		response{status: orDefault(f.Status, okStatus), body: []byte(b)}.write(w)
	case FaultHugeBody:
		s.hugeBody(w, orDefault(f.Status, http.StatusInternalServerError), f.Size)
	case FaultUnknownStatus:
		now := formatTime(s.now())
		jsonResponse(orDefault(f.Status, http.StatusOK), taskJSON{TaskInfo: taskInfoJSON{
			ID: id, Status: "mystery", CreatedAt: now, UpdatedAt: now,
		}}).write(w)
	default:
		detailResponse(http.StatusInternalServerError, fmt.Sprintf("qwenedittest: unknown fault kind %d", int(f.Kind))).write(w)
	}
}

// hang waits until the client goes away, then aborts the answer: nothing
// more is sent. An HTTP/1.1 connection is taken over and watched, because
// net/http notices a client going away only once the request body was
// read, which a fault with BeforeBody does not do.
func (s *Server) hang(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 1 {
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			s.waitGone(conn, nil)
			return
		}
	}
	select {
	case <-r.Context().Done():
	case <-s.closing:
	}
	panic(http.ErrAbortHandler)
}

// closeConnection closes the request's connection without an answer:
// over HTTP/1.1 by taking it over, over HTTP/2, where a handler cannot,
// through the connection that ConnContext put in the request's context.
// That one is closed at the TCP level, so that no TLS close_notify waits
// behind a write of net/http's; nothing is lost, as nothing was sent.
func (s *Server) closeConnection(w http.ResponseWriter, r *http.Request) {
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		s.closeConn(conn)
		return
	}
	if conn, ok := r.Context().Value(connKey{}).(net.Conn); ok {
		_ = belowTLS(conn).Close()
	}
	panic(http.ErrAbortHandler)
}

// belowTLS is conn without its TLS layer, if it has one.
func belowTLS(conn net.Conn) net.Conn {
	if tc, ok := conn.(*tls.Conn); ok {
		return tc.NetConn()
	}
	return conn
}

// orDefault returns v, or def when v is 0.
func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// closeConn closes a hijacked connection after a half-close, so that the
// bytes already written reach the client before it sees the end, rather
// than an immediate reset; until the client closes its side (for at most
// a second, or until the server closes) what it still sends, such as the
// rest of a request body nobody read, is discarded, because closing a
// socket with unread data makes the kernel send a reset that can destroy
// what the client has not read yet.
func (s *Server) closeConn(conn net.Conn) {
	closeWrite(conn)
	t := time.NewTimer(linger)
	defer t.Stop()
	s.waitGone(conn, t.C)
}

// closeWrite ends conn's write side with a TCP FIN, under TLS too.
func closeWrite(conn net.Conn) {
	if tc, ok := belowTLS(conn).(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}

// waitGone blocks until the client closes the hijacked conn, the server
// closes or timeout fires (nil: never), then closes conn. The reader
// goroutine ends before it returns.
func (s *Server) waitGone(conn net.Conn, timeout <-chan time.Time) {
	gone := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, conn)
		close(gone)
	}()
	select {
	case <-gone:
	case <-s.closing:
	case <-timeout:
	}
	_ = conn.Close()
	<-gone
}

// hugeBody streams size bytes of `{"detail":"xxxx…"}` from one small
// buffer. It stops early when the client stops reading and goes away or
// the server closes (Close also closes the connection, which ends a
// blocked write).
func (s *Server) hugeBody(w http.ResponseWriter, status int, size int64) {
	if size <= 0 {
		size = defaultHugeBodySize
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	w.WriteHeader(status)
	const head, tail = `{"detail":"`, `"}`
	chunk := make([]byte, 32<<10)
	for i := range chunk {
		chunk[i] = 'x'
	}
	remaining := size
	write := func(b []byte) bool {
		b = b[:min(int64(len(b)), remaining)]
		n, err := w.Write(b)
		remaining -= int64(n)
		return err == nil
	}
	if size >= int64(len(head)+len(tail)) {
		if !write([]byte(head)) {
			return
		}
		remaining -= int64(len(tail)) // reserved
	}
	for remaining > 0 {
		select {
		case <-s.closing:
			return
		default:
		}
		if !write(chunk) {
			return
		}
	}
	if size >= int64(len(head)+len(tail)) {
		remaining += int64(len(tail))
		_ = write([]byte(tail))
	}
}
