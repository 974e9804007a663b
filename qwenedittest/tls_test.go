package qwenedittest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
)

// newTLSServer starts a WithTLS server closed at the end of the test.
func newTLSServer(t *testing.T, opts ...Option) *Server {
	t.Helper()
	s := NewServer(append([]Option{WithTLS()}, opts...)...)
	t.Cleanup(s.Close)
	return s
}

// protoClient is a client that speaks one protocol to a WithTLS server.
type protoClient struct {
	proto  string // "HTTP/1.1" or "HTTP/2.0"
	client *http.Client
}

// h2Client is a fresh client (no shared connections) that speaks HTTP/2
// to s, configured like Server.Client, except that it waits for a
// 100-continue as long as a test may take.
func h2Client(t *testing.T, s *Server) *http.Client {
	t.Helper()
	tr := s.Client().Transport.(*http.Transport).Clone()
	tr.ExpectContinueTimeout = time.Minute
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// h1Client is a fresh client that trusts s but offers only HTTP/1.1. It
// opens a connection per request, like freshClient, unless keepAlive.
func h1Client(t *testing.T, s *Server, keepAlive bool) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	tr := &http.Transport{
		TLSClientConfig:       &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		TLSNextProto:          map[string]func(string, *tls.Conn) http.RoundTripper{}, // no h2
		ExpectContinueTimeout: time.Minute,
		DisableKeepAlives:     !keepAlive, // see freshClient: no silent retries on reused connections
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// bothProtocols runs fn once over HTTP/1.1 and once over HTTP/2, each
// against a new WithTLS server; keepAlive applies to the HTTP/1.1 client.
func bothProtocols(t *testing.T, keepAlive bool, fn func(t *testing.T, s *Server, pc protoClient), opts ...Option) {
	for _, proto := range []string{"HTTP/1.1", "HTTP/2.0"} {
		t.Run(proto, func(t *testing.T) {
			s := newTLSServer(t, opts...)
			pc := protoClient{proto: proto, client: h2Client(t, s)}
			if proto == "HTTP/1.1" {
				pc.client = h1Client(t, s, keepAlive)
			}
			fn(t, s, pc)
		})
	}
}

// do sends one request with s's key (auth "" for none, "-" for the key)
// and returns the response with its body read, or the error.
func do(c *http.Client, s *Server, method, path string, body io.Reader, hdr http.Header) (*http.Response, []byte, error) {
	req, err := http.NewRequest(method, s.URL()+path, body)
	if err != nil {
		return nil, nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if req.Header.Get("Authorization") == "" {
		req.Header.Set("Authorization", "Bearer "+s.APIKey())
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp, data, err
}

// paddedBody is a valid submit body of about size bytes: JSON allows any
// amount of white space, so the server must read every byte to find the
// closing brace, while the task it creates stays small.
func paddedBody(size int) []byte {
	head := `{"images":["https://example.com/a.png"],"prompt":"p"`
	b := make([]byte, 0, max(size, len(head)+1))
	b = append(b, head...)
	for len(b) < size-1 {
		b = append(b, ' ')
	}
	return append(b, '}')
}

// countingReader counts the bytes a client reads from a request body.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func TestTLSServesHTTP2(t *testing.T) {
	s := newTLSServer(t)
	require.True(t, strings.HasPrefix(s.URL(), "https://127.0.0.1:"), s.URL())
	require.True(t, strings.HasPrefix(s.ResultsURL(), "https://127.0.0.1:"), s.ResultsURL())
	cert := s.Certificate()
	require.NotNil(t, cert)
	assert.Contains(t, cert.DNSNames, "localhost")
	assert.NoError(t, cert.VerifyHostname("127.0.0.1"))
	assert.NoError(t, cert.VerifyHostname("::1"))
	assert.NoError(t, cert.VerifyHostname("localhost"))

	resp, data := call(t, s, http.MethodPost, submitPath, validJSON)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, string(data))
	assert.Equal(t, "HTTP/2.0", resp.Proto)
	assert.Equal(t, "h2", resp.TLS.NegotiatedProtocol)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	assert.Regexp(t, traceparentRE, resp.Header.Get("Traceparent"))
	assert.NotEmpty(t, resp.Header.Get("Date"))
	id := decodeTask(t, data).TaskInfo.ID

	task := poll(t, s, id)
	require.Len(t, task.Images, 1)
	require.True(t, strings.HasPrefix(task.Images[0], s.ResultsURL()+"/results/"), task.Images[0])
	img, err := s.Client().Get(task.Images[0])
	require.NoError(t, err)
	png, err := io.ReadAll(img.Body)
	require.NoError(t, err)
	require.NoError(t, img.Body.Close())
	assert.Equal(t, "HTTP/2.0", img.Proto)
	assert.Equal(t, http.StatusOK, img.StatusCode)
	decodePNG(t, png)

	for _, r := range s.Requests() {
		assert.Equal(t, "HTTP/2.0", r.Proto, r.Path)
	}
	assert.Equal(t, 1, s.Connections(), "one multiplexed connection to the API")
}

func TestTLSOverHTTP1(t *testing.T) {
	s := newTLSServer(t)
	resp, data, err := do(h1Client(t, s, false), s, http.MethodPost, submitPath, strings.NewReader(validJSON), nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, string(data))
	assert.Equal(t, "HTTP/1.1", resp.Proto)
	assert.Equal(t, "HTTP/1.1", s.Requests()[0].Proto)

	plain := newTestServer(t)
	assert.Nil(t, plain.Certificate(), "no certificate without WithTLS")
	call(t, plain, http.MethodGet, submitPath+"/x", nil)
	assert.Equal(t, "HTTP/1.1", plain.Requests()[0].Proto)
}

// TestH2ConcurrentSubmits sends 50 submits of 256 KiB each at once over
// one HTTP/2 connection, for the race detector: the handlers of one
// connection's streams run at the same time.
func TestH2ConcurrentSubmits(t *testing.T) {
	const workers, size = 50, 256 << 10
	s := newTLSServer(t)
	c := h2Client(t, s)
	// One request first: Go's client dials a connection per request
	// while it has none, and then uses one for up to 250 streams.
	resp, _, err := do(c, s, http.MethodGet, submitPath+"/x", nil, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	body := paddedBody(size)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	ids := make(chan string, workers)
	for range workers {
		wg.Go(func() {
			resp, data, err := do(c, s, http.MethodPost, submitPath, bytes.NewReader(body), nil)
			switch {
			case err != nil:
				errs <- err
			case resp.StatusCode != http.StatusAccepted || resp.Proto != "HTTP/2.0":
				errs <- fmt.Errorf("%s %d: %s", resp.Proto, resp.StatusCode, data)
			default:
				var tb taskBody
				if err := json.Unmarshal(data, &tb); err != nil {
					errs <- err
					return
				}
				ids <- tb.TaskInfo.ID
			}
		})
	}
	wg.Wait()
	close(errs)
	close(ids)
	for err := range errs {
		t.Error(err)
	}
	seen := map[string]bool{}
	for id := range ids {
		assert.False(t, seen[id], "duplicate id")
		seen[id] = true
	}
	assert.Len(t, seen, workers)
	assert.Equal(t, workers, s.SubmitCount())
	assert.Equal(t, 1, s.Connections(), "every stream on one connection")
	eventually(t, func() bool { return s.active.Load() == 0 }, "every handler returns")
}

// TestH2LargeUpload uploads 8 MB over HTTP/2, with and without
// 100-continue.
func TestH2LargeUpload(t *testing.T) {
	const size = 8_000_000
	s := newTLSServer(t)
	c := h2Client(t, s)
	for _, expect := range []bool{false, true} {
		body := &countingReader{r: bytes.NewReader(paddedBody(size))}
		hdr := http.Header{}
		if expect {
			hdr.Set("Expect", "100-continue")
		}
		req, err := http.NewRequest(http.MethodPost, s.URL()+submitPath, body)
		require.NoError(t, err)
		req.ContentLength = size
		req.Header = hdr
		req.Header.Set("Authorization", "Bearer "+s.APIKey())
		var got100 atomic.Bool
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{Got100Continue: func() { got100.Store(true) }}))
		resp, err := c.Do(req)
		require.NoError(t, err)
		data, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		require.Equal(t, http.StatusAccepted, resp.StatusCode, string(data))
		assert.Equal(t, "HTTP/2.0", resp.Proto)
		assert.Equal(t, int64(size), body.n.Load())
		assert.Equal(t, expect, got100.Load(), "a 100 exactly when asked for")
	}
	assert.Equal(t, 2, s.SubmitCount())
	assert.Equal(t, 1, s.Connections())
}

// TestEarlyRefusal: a request with a bad key is answered 401 before its
// body is read, on both protocols; with Expect: 100-continue the client
// never uploads, and without it the upload is cut short.
func TestEarlyRefusal(t *testing.T) {
	bothProtocols(t, true, func(t *testing.T, s *Server, pc protoClient) {
		const size = 30_000_000
		for _, expect := range []bool{true, false} {
			body := &countingReader{r: bytes.NewReader(paddedBody(size))}
			req, err := http.NewRequest(http.MethodPost, s.URL()+submitPath, body)
			require.NoError(t, err)
			req.ContentLength = size
			req.Header.Set("Authorization", "Bearer wrong-key")
			if expect {
				req.Header.Set("Expect", "100-continue")
			}
			var got100 atomic.Bool
			req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{Got100Continue: func() { got100.Store(true) }}))
			resp, err := pc.client.Do(req)
			require.NoError(t, err, "expect=%v", expect)
			data, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
			assert.JSONEq(t, `{"detail":"Invalid or missing API key"}`, string(data))
			assert.Equal(t, pc.proto, resp.Proto)
			assert.False(t, got100.Load(), "no 100 for a refused request")
			if expect {
				assert.Zero(t, body.n.Load(), "the client never uploads")
			} else {
				assert.Less(t, body.n.Load(), int64(size), "the upload is cut short")
			}
			if pc.proto == "HTTP/1.1" {
				assert.True(t, resp.Close, "Connection: close over HTTP/1.1")
			}
		}
		reqs := s.Requests()
		require.Len(t, reqs, 2)
		for _, r := range reqs {
			assert.Nil(t, r.Body)
			assert.True(t, r.Truncated, "the body was not read")
			assert.Equal(t, pc.proto, r.Proto)
		}
		assert.Zero(t, s.SubmitCount())

		// A poll with a bad key has no body to leave unread.
		resp, _, err := do(pc.client, s, http.MethodGet, submitPath+"/x", nil, http.Header{"Authorization": {"Bearer nope"}})
		require.NoError(t, err)
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		assert.False(t, s.Requests()[2].Truncated)
		assert.False(t, resp.Close)
	})
}

// TestExpectContinueAccepted: a request with a good key gets the 100 and
// then its answer.
func TestExpectContinueAccepted(t *testing.T) {
	bothProtocols(t, false, func(t *testing.T, s *Server, pc protoClient) {
		body := &countingReader{r: strings.NewReader(validJSON)}
		req, err := http.NewRequest(http.MethodPost, s.URL()+submitPath, body)
		require.NoError(t, err)
		req.ContentLength = int64(len(validJSON))
		req.Header.Set("Authorization", "Bearer "+s.APIKey())
		req.Header.Set("Expect", "100-continue")
		var got100 atomic.Bool
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{Got100Continue: func() { got100.Store(true) }}))
		resp, err := pc.client.Do(req)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		assert.Equal(t, http.StatusAccepted, resp.StatusCode)
		assert.True(t, got100.Load())
		assert.Equal(t, int64(len(validJSON)), body.n.Load())
		assert.Equal(t, validJSON, string(s.Requests()[0].Body))
		if pc.proto == "HTTP/1.1" {
			assert.Equal(t, "100-continue", s.Requests()[0].Header.Get("Expect"), "net/http's HTTP/2 server consumes it")
		}
		assert.Equal(t, 1, s.SubmitCount())
	})
}

// TestFaultResetStream: over HTTP/2 the stream is reset with
// INTERNAL_ERROR and the connection lives on; over HTTP/1.1 the
// connection is closed.
func TestFaultResetStream(t *testing.T) {
	bothProtocols(t, false, func(t *testing.T, s *Server, pc protoClient) {
		// After the body was read: nothing created.
		s.InjectFault(Fault{Method: "POST", Kind: FaultResetStream})
		_, _, err := do(pc.client, s, http.MethodPost, submitPath, strings.NewReader(validJSON), nil)
		require.Error(t, err)
		if pc.proto == "HTTP/2.0" {
			assert.ErrorContains(t, err, "stream error: stream ID 1; INTERNAL_ERROR; received from peer")
		}
		assert.Zero(t, s.SubmitCount())
		assert.Equal(t, validJSON, string(s.Requests()[0].Body), "the body was read first")

		// Before the body: not even read.
		s.InjectFault(Fault{Method: "POST", Kind: FaultResetStream, BeforeBody: true})
		_, _, err = do(pc.client, s, http.MethodPost, submitPath, strings.NewReader(validJSON), nil)
		require.Error(t, err)
		if pc.proto == "HTTP/2.0" {
			assert.ErrorContains(t, err, "INTERNAL_ERROR")
		}
		assert.Zero(t, s.SubmitCount())
		assert.Nil(t, s.Requests()[1].Body)
		assert.True(t, s.Requests()[1].Truncated)

		// After the task was created: the answer to a paid request is lost.
		s.InjectFault(Fault{Kind: FaultResetStream, AfterCreate: true})
		_, _, err = do(pc.client, s, http.MethodPost, submitPath, strings.NewReader(validJSON), nil)
		require.Error(t, err)
		assert.Equal(t, 1, s.SubmitCount())

		// A poll.
		s.InjectFault(Fault{Method: "GET", Kind: FaultResetStream})
		_, _, err = do(pc.client, s, http.MethodGet, submitPath+"/"+s.Tasks()[0].ID, nil, nil)
		require.Error(t, err)
		if pc.proto == "HTTP/2.0" {
			assert.Equal(t, 1, s.Connections(), "a reset ends a stream, not the connection")
		} else {
			assert.Equal(t, 4, s.Connections())
		}
		assert.Zero(t, s.PendingFaults())
		poll(t, s, s.Tasks()[0].ID) // the server is fine afterwards
	})
}

// TestFaultCloseConnectionAndCloseMidBodyOverHTTP2: the connection is
// closed at once; a cut answer is a stream ended before its
// Content-Length, which the client reads as io.ErrUnexpectedEOF.
func TestFaultCloseConnectionAndCloseMidBodyOverHTTP2(t *testing.T) {
	s := newTLSServer(t)
	c := h2Client(t, s)

	s.InjectFault(Fault{Method: "POST", Kind: FaultCloseConnection})
	_, _, err := do(c, s, http.MethodPost, submitPath, strings.NewReader(validJSON), nil)
	require.Error(t, err)
	assert.Zero(t, s.SubmitCount())

	s.InjectFault(Fault{Method: "GET", Kind: FaultCloseMidBody, RetryAfter: "3"})
	resp, data, err := do(c, s, http.MethodGet, submitPath+"/abc", nil, nil)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF, "the body is cut")
	require.NotNil(t, resp)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "HTTP/2.0", resp.Proto)
	assert.Equal(t, "3", resp.Header.Get("Retry-After"))
	assert.Regexp(t, traceparentRE, resp.Header.Get("Traceparent"))
	assert.Equal(t, int(resp.ContentLength/2), len(data))
	assert.True(t, strings.HasPrefix(string(data), `{"task_info":{"id":"abc"`), string(data))

	s.InjectFault(Fault{Kind: FaultCloseMidBody, AfterCreate: true})
	resp, data, err = do(c, s, http.MethodPost, submitPath, strings.NewReader(validJSON), nil)
	require.Error(t, err)
	require.NotNil(t, resp)
	assert.Equal(t, http.StatusAccepted, resp.StatusCode)
	require.Equal(t, 1, s.SubmitCount())
	assert.Contains(t, string(data), s.Tasks()[0].ID, "half of the real answer")
	assert.Equal(t, 2, s.Connections(), "FaultCloseConnection closed its connection, FaultCloseMidBody ended a stream")
}

// TestFaultCloseConnectionEndsOtherStreams: over HTTP/2 a connection-level
// fault ends every stream of the connection.
func TestFaultCloseConnectionEndsOtherStreams(t *testing.T) {
	s := newTLSServer(t)
	c := h2Client(t, s)
	s.InjectFault(Fault{Method: "GET", Kind: FaultHang})
	hung := make(chan error, 1)
	go func() {
		_, _, err := do(c, s, http.MethodGet, submitPath+"/x", nil, nil)
		hung <- err
	}()
	eventually(t, recorded(s, 1), "the hanging request arrives")
	s.InjectFault(Fault{Method: "POST", Kind: FaultCloseConnection})
	_, _, err := do(c, s, http.MethodPost, submitPath, strings.NewReader(validJSON), nil)
	require.Error(t, err)
	require.Error(t, <-hung, "the hanging stream ends with its connection")
	assert.Equal(t, 1, s.Connections())
	eventually(t, func() bool { return s.active.Load() == 0 }, "the handlers return")
}

func TestFaultHangOverHTTP2(t *testing.T) {
	s := newTLSServer(t)
	c := h2Client(t, s)
	for _, f := range []Fault{
		{Method: "POST", Kind: FaultHang},
		{Method: "POST", Kind: FaultHang, BeforeBody: true},
		{Method: "POST", Kind: FaultStallBody, AfterCreate: true},
	} {
		s.InjectFault(f)
		n := len(s.Requests())
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL()+submitPath, strings.NewReader(validJSON))
			req.Header.Set("Authorization", "Bearer "+s.APIKey())
			resp, err := c.Do(req)
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			errc <- err
		}()
		eventually(t, recorded(s, n+1), "the request arrives")
		select {
		case err := <-errc:
			t.Fatalf("%v: answered: %v", f.Kind, err)
		default:
		}
		cancel()
		assert.ErrorIs(t, <-errc, context.Canceled)
		eventually(t, func() bool { return s.active.Load() == 0 }, "the hanging handler returns when the client resets")
	}
	assert.Equal(t, 1, s.SubmitCount())
	assert.Equal(t, 1, s.Connections(), "resets end streams, not the connection")
	submit(t, s, validBody())
}

func TestFaultHugeBodyOverHTTP2(t *testing.T) {
	s := newTLSServer(t)
	c := h2Client(t, s)
	s.InjectFault(Fault{Kind: FaultHugeBody, Status: http.StatusServiceUnavailable, Size: 5 << 20})
	resp, data, err := do(c, s, http.MethodGet, submitPath+"/x", nil, nil)
	require.NoError(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, int64(5<<20), resp.ContentLength)
	assert.Len(t, data, 5<<20)
	assert.True(t, json.Valid(data))

	// The client gives up: the stream is reset and the handler stops.
	s.InjectFault(Fault{Kind: FaultHugeBody, Size: 1 << 40})
	req, err := http.NewRequest(http.MethodGet, s.URL()+submitPath+"/x", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+s.APIKey())
	resp, err = c.Do(req)
	require.NoError(t, err)
	_, err = io.ReadFull(resp.Body, make([]byte, 1024))
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	eventually(t, func() bool { return s.active.Load() == 0 }, "the streaming handler stops")
	assert.Equal(t, 1, s.Connections())
}

// TestFaultStatusBeforeBody: a gateway refusing an upload answers without
// reading the body; HTTP/1.1 closes the connection, HTTP/2 resets the
// stream after the answer.
func TestFaultStatusBeforeBody(t *testing.T) {
	bothProtocols(t, false, func(t *testing.T, s *Server, pc protoClient) {
		for _, status := range []int{http.StatusPaymentRequired, http.StatusTooManyRequests} {
			s.InjectFault(Fault{Method: "POST", Kind: FaultStatus, Status: status, RetryAfter: "7", BeforeBody: true})
			body := &countingReader{r: bytes.NewReader(paddedBody(4 << 20))}
			req, err := http.NewRequest(http.MethodPost, s.URL()+submitPath, body)
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer "+s.APIKey())
			req.Header.Set("Expect", "100-continue")
			resp, err := pc.client.Do(req)
			require.NoError(t, err)
			data, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
			assert.Equal(t, status, resp.StatusCode)
			assert.Equal(t, "7", resp.Header.Get("Retry-After"))
			assert.JSONEq(t, `{"detail":"`+http.StatusText(status)+`"}`, string(data))
			assert.Zero(t, body.n.Load(), "no upload")
			assert.Equal(t, pc.proto == "HTTP/1.1", resp.Close)
		}
		for _, r := range s.Requests() {
			assert.True(t, r.Truncated)
			assert.Nil(t, r.Body)
		}
		assert.Zero(t, s.SubmitCount())
		submit(t, s, validBody())
	})
}

func TestFaultAnswersOverHTTP2(t *testing.T) {
	s := newTLSServer(t)
	c := h2Client(t, s)
	id := submit(t, s, validBody())
	for _, tc := range []struct {
		fault  Fault
		status int
		body   string
	}{
		{Fault{Kind: FaultStatus, Status: 503}, 503, `{"detail":"Service Unavailable"}`},
		{Fault{Kind: FaultInvalidJSON, Body: "{"}, 200, "{"},
		{Fault{Kind: FaultWrongShape}, 200, "[]"},
		{Fault{Kind: FaultUnknownStatus}, 200, `"status":"mystery"`},
	} {
		s.InjectFault(tc.fault)
		resp, data, err := do(c, s, http.MethodGet, submitPath+"/"+id, nil, nil)
		require.NoError(t, err)
		assert.Equal(t, tc.status, resp.StatusCode)
		assert.Contains(t, string(data), tc.body)
		assert.Equal(t, "HTTP/2.0", resp.Proto)
	}
	assert.Equal(t, 2, s.Connections(), "one for submit's client, one for c")
}

// TestCloseWithHTTP2ConnectionsLeavesNoGoroutines closes a server with
// hanging, stalled and idle HTTP/2 connections open.
func TestCloseWithHTTP2ConnectionsLeavesNoGoroutines(t *testing.T) {
	s := NewServer(WithTLS())
	c := h2Client(t, s)
	s.InjectFault(Fault{Method: "POST", Kind: FaultHang, BeforeBody: true})
	s.InjectFault(Fault{Method: "GET", Kind: FaultStallBody})
	s.InjectFault(Fault{Method: "GET", Kind: FaultHugeBody, Size: 1 << 40})
	errc := make(chan error, 3)
	go func() {
		_, _, err := do(c, s, http.MethodPost, submitPath, bytes.NewReader(paddedBody(8<<20)), nil)
		errc <- err
	}()
	for range 2 {
		go func() {
			_, _, err := do(c, s, http.MethodGet, submitPath+"/x", nil, nil)
			errc <- err
		}()
	}
	eventually(t, recorded(s, 3), "the requests arrive")
	idle := h2Client(t, s) // a second, idle connection
	resp, _, err := do(idle, s, http.MethodGet, submitPath+"/x", nil, nil)
	require.NoError(t, err)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)

	s.Close()
	for range 3 {
		assert.Error(t, <-errc)
	}
	assert.Zero(t, s.active.Load())
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	for _, g := range strings.Split(stacks, "\n\n") {
		assert.NotContains(t, g, "qwenedittest.(*Server)", "a goroutine of the server is left")
	}
}

// TestCloseSendsGoAway: Close tells an HTTP/2 client that the server is
// going away before it closes the connection.
func TestCloseSendsGoAway(t *testing.T) {
	s := NewServer(WithTLS())
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	conn, err := tls.Dial("tcp", strings.TrimPrefix(s.URL(), "https://"), &tls.Config{RootCAs: pool, NextProtos: []string{"h2"}})
	require.NoError(t, err)
	defer conn.Close()
	require.Equal(t, "h2", conn.ConnectionState().NegotiatedProtocol)
	_, err = io.WriteString(conn, http2.ClientPreface)
	require.NoError(t, err)
	fr := http2.NewFramer(conn, conn)
	require.NoError(t, fr.WriteSettings())
	_, err = fr.ReadFrame() // the server's SETTINGS: the connection is served
	require.NoError(t, err)

	goAway := make(chan *http2.GoAwayFrame, 1)
	go func() {
		defer close(goAway)
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				return
			}
			if ga, ok := f.(*http2.GoAwayFrame); ok {
				goAway <- ga
				return
			}
		}
	}()
	s.Close()
	ga := <-goAway
	require.NotNil(t, ga, "no GOAWAY before the connection closed")
	assert.Equal(t, http2.ErrCodeNo, ga.ErrCode)
}
