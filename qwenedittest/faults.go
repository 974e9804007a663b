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

	"golang.org/x/net/http2"
)

// FaultKind is what a [Fault] does to a request.
//
// Every kind works over HTTP/1.1 and, with [WithTLS], over HTTP/2. The
// kinds that close "the connection" close the TCP connection, which over
// HTTP/2 ends every other stream on it too; the server closes its write
// side first and reads what the client still sends for a moment, so that
// the client receives what was written before the close rather than a TCP
// reset.
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
	FaultCloseConnection
	// FaultCloseMidBody sends the status line and headers, including a
	// Content-Length for the whole JSON body, and half of that body, then
	// closes the connection.
	FaultCloseMidBody
	// FaultHang never answers. The handler returns (closing the connection
	// over HTTP/1.1; leaving it open over HTTP/2) once the client goes
	// away or resets the stream, or the server closes.
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
	// (over HTTP/2 with flow control) and never held in memory. It stops
	// when the client stops reading and goes away or resets the stream.
	FaultHugeBody
	// FaultUnknownStatus answers a poll (GET requests only) with a
	// well-formed task whose status is "mystery".
	FaultUnknownStatus
	// FaultResetStream, over HTTP/2, resets the request's stream with
	// RST_STREAM(Fault.ResetCode) and sends no answer; the connection and
	// its other streams live on. Over HTTP/1.1, which has no streams, it
	// closes the connection like FaultCloseConnection.
	//
	// Go's HTTP/2 client retries a request by itself (POSTs included, if
	// it can rewind the body) after RST_STREAM with PROTOCOL_ERROR or
	// REFUSED_STREAM; with AfterCreate that replays a submit whose task
	// exists.
	FaultResetStream
	// FaultGoAway, over HTTP/2, sends GOAWAY with error code
	// Fault.ResetCode (default NO_ERROR) and closes the connection, ending
	// its other streams too. The GOAWAY's Last-Stream-ID is the request's
	// own stream ID when the request was processed (AfterCreate: its task
	// exists) and the client stream ID below it otherwise, which tells
	// the client the request was not processed and may be retried (Go's
	// client retries it by itself on a new connection). Streams the
	// server was already handling on that connection raise the
	// Last-Stream-ID, since they may have been processed; the server
	// never handles a stream above it. Over HTTP/1.1 it closes the
	// connection like FaultCloseConnection.
	FaultGoAway
)

// String returns the constant's name, for test output.
func (k FaultKind) String() string {
	names := [...]string{"FaultStatus", "FaultCloseConnection", "FaultCloseMidBody", "FaultHang",
		"FaultStallBody", "FaultInvalidJSON", "FaultWrongShape", "FaultHugeBody", "FaultUnknownStatus",
		"FaultResetStream", "FaultGoAway"}
	if k >= 0 && int(k) < len(names) {
		return names[k]
	}
	return "FaultKind(" + strconv.Itoa(int(k)) + ")"
}

// ResetCode is an HTTP/2 error code (RFC 9113, section 7), sent in the
// RST_STREAM of [FaultResetStream] and the GOAWAY of [FaultGoAway].
type ResetCode uint32

// The HTTP/2 error codes a fault test usually needs; any other code of RFC
// 9113 is ResetCode(n), e.g. ResetCode(0x3) for FLOW_CONTROL_ERROR.
const (
	ResetNoError         ResetCode = 0x0 // NO_ERROR: graceful
	ResetProtocolError   ResetCode = 0x1 // PROTOCOL_ERROR: Go's client replays a rewindable request
	ResetInternalError   ResetCode = 0x2 // INTERNAL_ERROR
	ResetRefusedStream   ResetCode = 0x7 // REFUSED_STREAM: "not processed"; Go's client replays a rewindable request
	ResetCancel          ResetCode = 0x8 // CANCEL
	ResetEnhanceYourCalm ResetCode = 0xb // ENHANCE_YOUR_CALM: the peer is overloaded
)

// String returns the code's name as RFC 9113 spells it, e.g.
// "PROTOCOL_ERROR", the form Go's HTTP/2 errors print.
func (c ResetCode) String() string { return http2.ErrCode(c).String() }

// defaultHugeBodySize is FaultHugeBody's size when Fault.Size is 0: beyond
// any sane cap on an error or status body.
const defaultHugeBodySize = 64 << 20

// Fault is a failure to inject into API requests with [Server.InjectFault].
// Faults apply to requests that reach an API route (not to 404s and 405s)
// and act before authentication, like a proxy or an overloaded front end;
// the result-image origin never sees faults.
//
// A request takes its fault when its headers arrive (so the queue follows
// the order in which requests arrive), which uses up that application even
// if the client then goes away before the fault acts. By default the fault
// acts once the request body has been read (and recorded); it then also
// replaces a 413 for a body over WithMaxRequestBody.
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
	// ResetCode is the error code of FaultResetStream's RST_STREAM
	// (default, and when ResetNoError: ResetInternalError, since a reset
	// instead of an answer is an error) and of FaultGoAway's GOAWAY
	// (default ResetNoError, a graceful shutdown). Other kinds ignore it,
	// as does HTTP/1.1.
	ResetCode ResetCode
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
// request would have had (AfterCreate faults only), else nil. Over HTTP/2
// (w is an *h2writer) the connection-level kinds act on frames; over
// HTTP/1.1 they take the connection over.
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, f *Fault, rt route, id string, actual *response) {
	okStatus := http.StatusOK
	if rt == routeSubmit {
		okStatus = http.StatusAccepted
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	h2w, isH2 := w.(*h2writer)

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
		if isH2 {
			h2w.closeConn()
			return
		}
		s.hijackAndClose(w, false)
	case FaultCloseMidBody, FaultStallBody:
		// The answer these kinds cut in half: the real one, or a plausible task.
		status, body := okStatus, s.fabricatedTask(id)
		if actual != nil {
			status, body = actual.status, actual.body
		}
		status = orDefault(f.Status, status)
		hang := f.Kind == FaultStallBody
		if isH2 {
			h2w.partial(status, body, hang, s.closing)
			return
		}
		s.partialAnswer(w, status, body, hang)
	case FaultHang:
		if isH2 {
			h2w.hang(s.closing)
			return
		}
		s.hijackAndClose(w, true)
	case FaultResetStream:
		if isH2 {
			code := f.ResetCode
			if code == ResetNoError {
				code = ResetInternalError
			}
			h2w.resetStream(http2.ErrCode(code))
			return
		}
		s.hijackAndClose(w, false)
	case FaultGoAway:
		if isH2 {
			h2w.goAway(actual != nil, http2.ErrCode(f.ResetCode))
			return
		}
		s.hijackAndClose(w, false)
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

// hijackAndClose takes an HTTP/1.x connection over and closes it, at once
// or, if hang, once the client goes away or the server closes.
func (s *Server) hijackAndClose(w http.ResponseWriter, hang bool) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	if hang {
		s.waitGone(conn, nil)
		return
	}
	s.closeConn(conn)
}

// orDefault returns v, or def when v is 0.
func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// partialAnswer takes over the connection and writes a response whose
// Content-Length promises the whole body but which carries only half of
// it; then it closes the connection, after waiting like FaultHang if hang.
// Writing the bytes by hand is the only way to make net/http send a short
// body deliberately.
func (s *Server) partialAnswer(w http.ResponseWriter, status int, body []byte, hang bool) {
	trace := w.Header().Get("Traceparent")
	retryAfter := w.Header().Get("Retry-After")
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return // not HTTP/1.x; HTTP/2 goes to h2writer.partial
	}
	fmt.Fprintf(brw, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nTraceparent: %s\r\n",
		status, http.StatusText(status), len(body), trace)
	if retryAfter != "" {
		fmt.Fprintf(brw, "Retry-After: %s\r\n", retryAfter)
	}
	_, _ = brw.WriteString("\r\n")
	_, _ = brw.Write(body[:len(body)/2])
	_ = brw.Flush()
	if hang {
		s.waitGone(conn, nil)
		return
	}
	s.closeConn(conn)
}

// closeConn closes a hijacked connection after a half-close, so that the
// bytes already written reach the client before it sees the end, rather
// than an immediate reset; until the client closes its side (for at most
// a second, or until the server closes) what it still sends, such as the
// rest of a request body nobody read, is discarded, because closing a
// socket with unread data makes the kernel send a reset that can destroy
// what the client has not read yet.
func (s *Server) closeConn(conn net.Conn) {
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	} else if tc, ok := conn.(*tls.Conn); ok {
		if cw, ok := tc.NetConn().(*net.TCPConn); ok {
			_ = cw.CloseWrite()
		}
	}
	t := time.NewTimer(h2Linger)
	defer t.Stop()
	s.waitGone(conn, t.C)
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
