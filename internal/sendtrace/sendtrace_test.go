package sendtrace

import (
	"errors"
	"io"
	"net"
	"net/http/httptrace"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestUnprocessed: only the server's word that it did not process the
// stream makes a submit that was sent safe to retry.
func TestUnprocessed(t *testing.T) {
	for _, tc := range []struct {
		err  string
		want bool
	}{
		{`Post "https://h/p": http2: Transport: cannot retry err [stream error: stream ID 3; REFUSED_STREAM; received from peer] after Request.Body was written; define Request.GetBody to avoid this error`, true},
		{`stream error: stream ID 5; REFUSED_STREAM`, true},
		{`http2: Transport: cannot retry err [http2: Transport received Server's graceful shutdown GOAWAY] after Request.Body was written`, true},
		{`http2: Transport received GOAWAY from server ErrCode:ENHANCE_YOUR_CALM`, true},
		{`Post "https://h/p": net/http: cannot rewind body after connection loss`, true},
		{`stream error: stream ID 3; PROTOCOL_ERROR; received from peer`, false},
		{`stream error: stream ID 3; INTERNAL_ERROR; received from peer`, false},
		{`stream error: stream ID 3; CANCEL`, false},
		{`http2: server sent GOAWAY and closed the connection; LastStreamID=3, ErrCode=NO_ERROR, debug=""`, false},
		{`unexpected EOF`, false},
		{`read: connection reset by peer`, false},
	} {
		assert.Equal(t, tc.want, Unprocessed(errors.New(tc.err)), tc.err)
	}
}

// TestNothingSent: only positive evidence that the request cannot have
// reached the server in full says "nothing sent".
func TestNothingSent(t *testing.T) {
	errReset := errors.New("read: connection reset by peer")
	dial := &net.OpError{Op: "dial", Err: errors.New("connection refused")}
	wrote := func(tr *Trace, err error) {
		h := tr.Hooks()
		h.GetConn("h:443")
		h.GotConn(httptrace.GotConnInfo{})
		h.WroteRequest(httptrace.WroteRequestInfo{Err: err})
	}
	for _, tc := range []struct {
		name   string
		events func(*Trace)
		err    error
		want   bool
	}{
		{"no events (a custom transport)", func(*Trace) {}, errReset, false},
		{"a dial error", func(tr *Trace) { tr.Hooks().GetConn("h:443") }, dial, true},
		{"no connection", func(tr *Trace) { tr.Hooks().GetConn("h:443") }, errReset, true},
		{"connected, nothing written", func(tr *Trace) {
			tr.Hooks().GetConn("h:443")
			tr.Hooks().GotConn(httptrace.GotConnInfo{})
		}, errReset, true},
		{"the write failed", func(tr *Trace) { wrote(tr, errReset) }, errReset, true},
		{"written in full", func(tr *Trace) { wrote(tr, nil) }, errReset, false},
		{"a retry on a fresh connection forgets the old write", func(tr *Trace) {
			wrote(tr, nil)
			tr.Hooks().GotConn(httptrace.GotConnInfo{})
		}, errReset, true},
		{"written, then a 100 Continue", func(tr *Trace) {
			wrote(tr, nil)
			tr.Hooks().Got100Continue()
		}, errReset, false},
		{"a streamed body not taken in full", func(tr *Trace) {
			wrote(tr, nil)
			tr.Body = &CountingBody{ReadCloser: io.NopCloser(strings.NewReader("abc")), Size: 3}
		}, errReset, true},
		{"a streamed body taken in full", func(tr *Trace) {
			wrote(tr, nil)
			tr.Body = &CountingBody{ReadCloser: io.NopCloser(strings.NewReader("abc")), Size: 3}
			_, _ = io.ReadAll(tr.Body)
		}, errReset, false},
		{"the answer began, even on a dial error", func(tr *Trace) {
			tr.Hooks().GetConn("h:443")
			tr.Hooks().GotFirstResponseByte()
		}, dial, false},
	} {
		tr := &Trace{}
		tc.events(tr)
		assert.Equal(t, tc.want, tr.NothingSent(tc.err), tc.name)
	}
}
