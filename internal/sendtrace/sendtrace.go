// Package sendtrace tells how far an HTTP request got: whether a submit
// can have reached the server in full, from net/http's trace events, the
// bytes of the body it took, and an HTTP/2 server's word that it did not
// process the request. The SDK retries a paid submit only on its "no".
package sendtrace

import (
	"errors"
	"io"
	"net"
	"net/http/httptrace"
	"net/textproto"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
)

// Trace records how far one request got, to tell "never sent" (safe to
// retry a submit) from "sent, answer lost" (a task may exist). The zero
// Trace is ready; it is safe for the concurrent calls of net/http's hooks.
type Trace struct {
	// Body, when set, is the streamed request body, whose bytes net/http
	// took tell whether the whole body left.
	Body *CountingBody

	mu        sync.Mutex
	getConn   bool // the transport started to look for a connection (real transports only)
	gotConn   bool
	wroteDone bool
	wroteErr  error
	firstByte bool // a response began to arrive (an interim 1xx or the final one)
	interim   bool // an interim 1xx response arrived (a 100 Continue, say)
}

// Hooks are the net/http trace hooks that feed t.
func (t *Trace) Hooks() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		GetConn: func(string) { t.mu.Lock(); t.getConn = true; t.mu.Unlock() },
		GotConn: func(httptrace.GotConnInfo) {
			t.mu.Lock()
			// A transport may retry on a fresh connection; only the last one counts.
			t.gotConn, t.wroteDone, t.wroteErr = true, false, nil
			t.mu.Unlock()
		},
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			t.mu.Lock()
			t.wroteDone, t.wroteErr = true, info.Err
			t.mu.Unlock()
		},
		GotFirstResponseByte: func() { t.mu.Lock(); t.firstByte = true; t.mu.Unlock() },
		Got100Continue:       func() { t.mu.Lock(); t.interim = true; t.mu.Unlock() },
		Got1xxResponse: func(int, textproto.MIMEHeader) error {
			t.mu.Lock()
			t.interim = true
			t.mu.Unlock()
			return nil
		},
	}
}

// Continued reports whether the server sent an interim answer (100 Continue).
func (t *Trace) Continued() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.interim
}

// NothingSent reports positive evidence that the server cannot have
// received the complete request that failed with err: a dial error, no
// connection, or a body whose write failed. Without evidence (a custom
// transport that fires no trace events) it says false.
func (t *Trace) NothingSent(err error) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.firstByte && !t.interim {
		// A final answer began to arrive: whatever failed later, this
		// request reached the server. (A 100 Continue proves nothing: the
		// body may still have been cut short.)
		return false
	}
	if isDialError(err) {
		return true
	}
	if t.Body != nil && t.Body.taken() < t.Body.Size {
		// net/http never took the whole body, so the server cannot have
		// it: say, the server refused or reset the request while the
		// client waited for its 100 Continue. (WroteRequest reports no
		// error then: the headers were written, and the body skipped.)
		return true
	}
	return t.getConn && (!t.gotConn || !t.wroteDone || t.wroteErr != nil)
}

// CountingBody is a request body of Size bytes that counts the bytes
// net/http reads from it.
type CountingBody struct {
	io.ReadCloser
	Size int64
	n    atomic.Int64
}

func (b *CountingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// taken is how many bytes net/http has read.
func (b *CountingBody) taken() int64 { return b.n.Load() }

func isDialError(err error) bool {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return true
	}
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr)
}

// Unprocessed reports the HTTP/2 server's own word that it did no
// processing of the request (RFC 9113 §8.7), so that a submit is as safe
// to retry as one never sent: a RST_STREAM(REFUSED_STREAM) (Go's server
// sends it for streams beyond SETTINGS_MAX_CONCURRENT_STREAMS that a new
// client opened before reading that setting; CDNs under load too), or a
// GOAWAY whose Last-Stream-ID is below the request's stream.
//
// net/http hands these over only as text: for a request it cannot rewind
// it formats the cause with %v ("cannot retry err [stream error: stream ID
// 3; REFUSED_STREAM...]"), so no typed error is left to match. A change of
// that text makes the submit ambiguous again, never retried twice:
// TestRefusedStreamsAreRetried, against net/http's own server, would show
// it. Every other reset code after the body went out stays ambiguous.
//
// It also reads net/http's "cannot rewind body after connection loss": for
// a request without GetBody (every submit) net/http tries to resend, and
// so to rewind, only when its HTTP/2 layer found no connection to send it
// on (transport.go shouldRetryRequest, golang/go#16582), and that layer
// retries such a request only when the connection failed before the
// stream was opened (errClientConnUnusable). Seen about once in 150
// submits of TestRefusedStreamsAreRetried under -race, with no task made.
func Unprocessed(err error) bool {
	msg := err.Error()
	return refusedStream.MatchString(msg) ||
		strings.Contains(msg, "net/http: cannot rewind body after connection loss") ||
		strings.Contains(msg, "http2: Transport received Server's graceful shutdown GOAWAY") ||
		strings.Contains(msg, "http2: Transport received GOAWAY from server ErrCode:")
}

// refusedStream matches net/http's text of a stream reset with REFUSED_STREAM.
var refusedStream = regexp.MustCompile(`stream error: stream ID \d+; REFUSED_STREAM\b`)
