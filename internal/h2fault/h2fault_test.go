package h2fault

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
)

// newServer starts a Server whose handler counts the POSTs it read whole
// as created tasks and answers 202.
func newServer(t *testing.T) (*Server, *atomic.Int64) {
	t.Helper()
	var created atomic.Int64
	s, err := New(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if r.Method == http.MethodPost {
			created.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s, &created
}

func post(c *http.Client, url string, body io.Reader, expect bool) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, url+"/p", body)
	if err != nil {
		return nil, err
	}
	if expect {
		req.Header.Set("Expect", "100-continue")
	}
	resp, err := c.Do(req)
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	return resp, err
}

func TestAnswer(t *testing.T) {
	s, created := newServer(t)
	big := bytes.Repeat([]byte("x"), 3<<20) // beyond every default window
	for _, expect := range []bool{false, true} {
		var got100 atomic.Bool
		req, err := http.NewRequest(http.MethodPost, s.URL+"/p", bytes.NewReader(big))
		require.NoError(t, err)
		if expect {
			req.Header.Set("Expect", "100-continue")
		}
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{Got100Continue: func() { got100.Store(true) }}))
		resp, err := s.Client().Do(req)
		require.NoError(t, err)
		data, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusAccepted, resp.StatusCode)
		assert.Equal(t, "HTTP/2.0", resp.Proto)
		assert.Equal(t, `{"ok":true}`, string(data))
		assert.Equal(t, expect, got100.Load())
	}
	assert.Equal(t, int64(2), created.Load())
	assert.Equal(t, 2, s.Requests("POST"))
	assert.Equal(t, 2, s.Processed())
}

// TestResets: a reset after the body was read, or before, reaches the
// client with its code; only Process lets the handler make a task.
func TestResets(t *testing.T) {
	for _, tc := range []struct {
		fault   Fault
		created int64
	}{
		{Fault{Code: http2.ErrCodeInternal}, 0},
		{Fault{Code: http2.ErrCodeCancel, BeforeBody: true}, 0},
		{Fault{Code: http2.ErrCodeInternal, Process: true}, 1},
	} {
		s, created := newServer(t)
		s.Inject(tc.fault)
		// An unrewindable body: the client cannot replay it.
		_, err := post(s.Client(), s.URL, io.NopCloser(strings.NewReader("body")), false)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "stream error: stream ID 1; "+tc.fault.Code.String()+"; received from peer")
		assert.Equal(t, tc.created, created.Load())
		assert.Zero(t, s.Pending())
		_, err = post(s.Client(), s.URL, strings.NewReader("body"), false)
		assert.NoError(t, err, "the connection lives on")
	}
}

// TestGoClientReplaysRewindableRequests shows why the SDK never gives a
// submit a GetBody (issue 9): after RST_STREAM(PROTOCOL_ERROR) or
// (REFUSED_STREAM), or a GOAWAY below the stream, Go's HTTP/2 client
// replays a request it can rewind, a POST included, even when the server
// has made a task from it: one call, two paid tasks.
func TestGoClientReplaysRewindableRequests(t *testing.T) {
	for _, f := range []Fault{
		{Code: http2.ErrCodeProtocol, Process: true},
		{Code: http2.ErrCodeRefusedStream, Process: true},
		{GoAway: true, Process: true},
	} {
		s, created := newServer(t)
		s.Inject(f)
		resp, err := post(s.Client(), s.URL, strings.NewReader("body"), false) // with a GetBody
		require.NoError(t, err, "replayed by the client")
		assert.Equal(t, http.StatusAccepted, resp.StatusCode)
		assert.Equal(t, 2, s.Requests("POST"))
		assert.Equal(t, int64(2), created.Load(), "one call, two tasks")

		// Without a GetBody the client reports the reset instead.
		s.Inject(f)
		_, err = post(s.Client(), s.URL, io.NopCloser(strings.NewReader("body")), false)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "after Request.Body was written; define Request.GetBody to avoid this error")
		assert.Equal(t, int64(3), created.Load())
	}
}

// TestGoAway: a GOAWAY counting the stream fails the request and the
// connection; one below it is retried by the client on a new connection,
// a GET included.
func TestGoAway(t *testing.T) {
	s, created := newServer(t)
	s.Inject(Fault{GoAway: true, Counted: true, Process: true, Code: http2.ErrCodeEnhanceYourCalm})
	_, err := post(s.Client(), s.URL, io.NopCloser(strings.NewReader("body")), false)
	require.Error(t, err)
	assert.Regexp(t, `server sent GOAWAY and closed the connection; LastStreamID=1, ErrCode=ENHANCE_YOUR_CALM, debug="h2fault"`, err.Error())
	assert.Equal(t, int64(1), created.Load())

	s.Inject(Fault{Method: "GET", GoAway: true})
	resp, err := s.Client().Get(s.URL + "/g")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 2, s.Requests("GET"), "the GET and its retry")

	// Before the body, with Expect: 100-continue: nothing was sent.
	s.Inject(Fault{BeforeBody: true, Code: http2.ErrCodeRefusedStream})
	var read atomic.Int64
	_, err = post(s.Client(), s.URL, io.NopCloser(&countingReader{r: bytes.NewReader(make([]byte, 1<<20)), n: &read}), true)
	require.Error(t, err)
	assert.Zero(t, read.Load(), "the body was never sent")
	assert.Equal(t, int64(1), created.Load())
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
