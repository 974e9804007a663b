package qwenedittest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// freshClient opens a new connection per request. Go's transport silently
// retries a GET that fails on a reused connection, which would hide the
// dropped-connection faults.
func freshClient(t *testing.T) *http.Client {
	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// send makes one request with the key over c and returns the response with
// its body unread, or the error.
func send(ctx context.Context, c *http.Client, s *Server, method, path, body string) (*http.Response, error) {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.URL()+path, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+s.APIKey())
	return c.Do(req)
}

const validJSON = `{"images":["https://example.com/a.png"],"prompt":"p"}`

func TestFaultStatusTimesAndRetryAfter(t *testing.T) {
	s := newTestServer(t)
	id := submit(t, s, validBody())
	s.InjectFault(Fault{Method: "post", Kind: FaultStatus, Status: http.StatusTooManyRequests, RetryAfter: "1", Times: 2})
	assert.Equal(t, 2, s.PendingFaults())

	poll(t, s, id) // a GET does not match a POST fault
	assert.Equal(t, 2, s.PendingFaults())

	for range 2 {
		resp, data := call(t, s, http.MethodPost, submitPath, validJSON)
		assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
		assert.Equal(t, "1", resp.Header.Get("Retry-After"))
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		assert.Regexp(t, traceparentRE, resp.Header.Get("Traceparent"))
		assert.JSONEq(t, `{"detail":"Too Many Requests"}`, string(data))
	}
	assert.Zero(t, s.PendingFaults())
	submit(t, s, validBody())
	assert.Equal(t, 2, s.SubmitCount(), "faulted submits create nothing")
}

// TestFaultEverySpreadsApplications checks that a fault with Every applies
// to every Every-th request that reaches it and lets the rest through to
// the next fault in the queue, or to a normal answer.
func TestFaultEverySpreadsApplications(t *testing.T) {
	s := newTestServer(t)
	id := submit(t, s, validBody())
	s.InjectFault(Fault{Method: "GET", Kind: FaultStatus, Status: http.StatusServiceUnavailable, Times: 2, Every: 3})
	s.InjectFault(Fault{Method: "GET", Kind: FaultStatus, Status: http.StatusBadGateway, Times: 1, Every: 2})
	var got []int
	for range 8 {
		resp, _ := call(t, s, http.MethodGet, submitPath+"/"+id, nil)
		got = append(got, resp.StatusCode)
	}
	// GETs 3 and 6 are the 503's turns; of the others, the second reaching
	// the 502 (GET 2) is its only turn.
	assert.Equal(t, []int{200, 502, 503, 200, 200, 503, 200, 200}, got)
	assert.Zero(t, s.PendingFaults())
}

func TestFaultStatusDefaultsBodyAndOrder(t *testing.T) {
	s := newTestServer(t)
	s.InjectFault(Fault{Kind: FaultStatus})
	s.InjectFault(Fault{Kind: FaultStatus, Status: http.StatusServiceUnavailable, Body: `{"error":"busy"}`})

	resp, data := call(t, s, http.MethodGet, submitPath+"/x", nil)
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode, "first in, first out")
	assert.JSONEq(t, `{"detail":"Internal Server Error"}`, string(data))
	assert.Empty(t, resp.Header.Get("Retry-After"))

	// Faults act before authentication.
	resp, data = callKey(t, s, http.MethodPost, submitPath, validJSON, "")
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, `{"error":"busy"}`, string(data))

	// And only on API routes.
	s.InjectFault(Fault{Kind: FaultStatus})
	resp, _ = call(t, s, http.MethodGet, "/nowhere", nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	resp, _ = call(t, s, http.MethodGet, submitPath, nil)
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	assert.Equal(t, 1, s.PendingFaults())
}

func TestFaultAfterCreate(t *testing.T) {
	s := newTestServer(t)
	s.InjectFault(Fault{Kind: FaultStatus, Status: http.StatusBadGateway, AfterCreate: true})

	// A GET never takes an AfterCreate fault.
	resp, _ := call(t, s, http.MethodGet, submitPath+"/x", nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Equal(t, 1, s.PendingFaults())

	// Submits that create nothing (a bad key, a bad body) keep their
	// normal answer and leave the fault queued.
	resp, _ = callKey(t, s, http.MethodPost, submitPath, validJSON, "Bearer wrong")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	resp, _ = call(t, s, http.MethodPost, submitPath, `{"prompt":"no images"}`)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Equal(t, 1, s.PendingFaults())

	resp, _ = call(t, s, http.MethodPost, submitPath, validJSON)
	assert.Equal(t, http.StatusBadGateway, resp.StatusCode)
	require.Equal(t, 1, s.SubmitCount(), "the task exists although the answer was lost")
	assert.Equal(t, "completed", poll(t, s, s.Tasks()[0].ID).TaskInfo.Status)
}

func TestFaultCloseConnection(t *testing.T) {
	s := newTestServer(t)
	c := freshClient(t)
	s.InjectFault(Fault{Method: "GET", Kind: FaultCloseConnection})
	_, err := send(context.Background(), c, s, http.MethodGet, submitPath+"/x", "")
	assert.Error(t, err)

	s.InjectFault(Fault{Kind: FaultCloseConnection})
	_, err = send(context.Background(), c, s, http.MethodPost, submitPath, validJSON)
	assert.Error(t, err)
	assert.Zero(t, s.SubmitCount())

	s.InjectFault(Fault{Kind: FaultCloseConnection, AfterCreate: true})
	_, err = send(context.Background(), c, s, http.MethodPost, submitPath, validJSON)
	assert.Error(t, err)
	assert.Equal(t, 1, s.SubmitCount())

	// The server is fine afterwards.
	submit(t, s, validBody())
	assert.Equal(t, 4, len(s.Requests()))
}

func TestFaultCloseMidBody(t *testing.T) {
	s := newTestServer(t)
	c := freshClient(t)

	s.InjectFault(Fault{Method: "GET", Kind: FaultCloseMidBody, RetryAfter: "3"})
	resp, err := send(context.Background(), c, s, http.MethodGet, submitPath+"/abc", "")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	assert.Equal(t, "3", resp.Header.Get("Retry-After"))
	assert.Regexp(t, traceparentRE, resp.Header.Get("Traceparent"))
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, resp.Body.Close())
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.Equal(t, int(resp.ContentLength/2), len(data))
	assert.True(t, strings.HasPrefix(string(data), `{"task_info":{"id":"abc"`), string(data))

	// AfterCreate: the half body is the real answer of the created task.
	s.InjectFault(Fault{Kind: FaultCloseMidBody, AfterCreate: true})
	resp, err = send(context.Background(), c, s, http.MethodPost, submitPath, validJSON)
	require.NoError(t, err)
	assert.Equal(t, http.StatusAccepted, resp.StatusCode)
	data, err = io.ReadAll(resp.Body)
	require.NoError(t, resp.Body.Close())
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	require.Equal(t, 1, s.SubmitCount())
	assert.Contains(t, string(data), s.Tasks()[0].ID)
}

func TestFaultInvalidJSONAndWrongShape(t *testing.T) {
	s := newTestServer(t)
	for _, tc := range []struct {
		fault      Fault
		method     string
		wantStatus int
		check      func(t *testing.T, body []byte)
	}{
		{Fault{Kind: FaultInvalidJSON}, "POST", 202, func(t *testing.T, b []byte) { assert.False(t, json.Valid(b)) }},
		{Fault{Kind: FaultInvalidJSON}, "GET", 200, func(t *testing.T, b []byte) { assert.False(t, json.Valid(b)) }},
		{Fault{Kind: FaultInvalidJSON, Body: "{", Status: 201}, "POST", 201, func(t *testing.T, b []byte) { assert.Equal(t, "{", string(b)) }},
		{Fault{Kind: FaultWrongShape}, "POST", 202, func(t *testing.T, b []byte) { assert.JSONEq(t, `{"task_info":"x"}`, string(b)) }},
		{Fault{Kind: FaultWrongShape}, "GET", 200, func(t *testing.T, b []byte) { assert.JSONEq(t, `[]`, string(b)) }},
		{Fault{Kind: FaultWrongShape, Body: `{"task_info":{"id":7}}`}, "GET", 200, func(t *testing.T, b []byte) {
			assert.JSONEq(t, `{"task_info":{"id":7}}`, string(b))
		}},
	} {
		s.InjectFault(tc.fault)
		var body any
		path := submitPath + "/x"
		if tc.method == "POST" {
			body, path = validJSON, submitPath
		}
		resp, data := call(t, s, tc.method, path, body)
		assert.Equal(t, tc.wantStatus, resp.StatusCode)
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		assert.Regexp(t, traceparentRE, resp.Header.Get("Traceparent"))
		tc.check(t, data)
	}
	assert.Zero(t, s.SubmitCount())
}

func TestFaultUnknownStatus(t *testing.T) {
	s := newTestServer(t)
	s.InjectFault(Fault{Kind: FaultUnknownStatus})
	id := submit(t, s, validBody()) // a POST does not take it
	assert.Equal(t, 1, s.PendingFaults())
	task := poll(t, s, id)
	assert.Equal(t, "mystery", task.TaskInfo.Status)
	assert.Equal(t, id, task.TaskInfo.ID)
	assert.Regexp(t, timeRE, task.TaskInfo.CreatedAt)
	assert.Nil(t, task.Images)
	assert.Equal(t, "completed", poll(t, s, id).TaskInfo.Status)
}

func TestFaultHugeBody(t *testing.T) {
	s := newTestServer(t)
	s.InjectFault(Fault{Kind: FaultHugeBody, Status: http.StatusServiceUnavailable, Size: 1 << 20, RetryAfter: "2"})
	resp, data := call(t, s, http.MethodGet, submitPath+"/x", nil)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "2", resp.Header.Get("Retry-After"))
	assert.Equal(t, int64(1<<20), resp.ContentLength)
	assert.Len(t, data, 1<<20)
	assert.True(t, json.Valid(data), "JSON-looking junk")
	assert.True(t, strings.HasPrefix(string(data), `{"detail":"xxx`))

	s.InjectFault(Fault{Kind: FaultHugeBody, Size: 5})
	resp, data = call(t, s, http.MethodPost, submitPath, validJSON)
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode, "default status")
	assert.Equal(t, "xxxxx", string(data))
}

func TestFaultHugeBodyIsStreamed(t *testing.T) {
	s := newTestServer(t)
	s.InjectFault(Fault{Kind: FaultHugeBody}) // default size, 64 MiB
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	resp, err := send(context.Background(), s.Client(), s, http.MethodGet, submitPath+"/x", "")
	require.NoError(t, err)
	n, err := io.Copy(io.Discard, resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	runtime.ReadMemStats(&after)
	assert.Equal(t, int64(defaultHugeBodySize), n)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(defaultHugeBodySize/4), "the body is never held in memory")
}

func TestFaultHugeBodyClientGivesUp(t *testing.T) {
	s := newTestServer(t)
	s.InjectFault(Fault{Kind: FaultHugeBody, Size: 1 << 40})
	resp, err := send(context.Background(), freshClient(t), s, http.MethodGet, submitPath+"/x", "")
	require.NoError(t, err)
	_, err = io.ReadFull(resp.Body, make([]byte, 1024))
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	eventually(t, func() bool { return s.active.Load() == 0 }, "the streaming handler stops")
}

func TestFaultHangReleasedByClientCancel(t *testing.T) {
	s := newTestServer(t)
	s.InjectFault(Fault{Method: "POST", Kind: FaultHang})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		resp, err := send(ctx, s.Client(), s, http.MethodPost, submitPath, validJSON)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	eventually(t, recorded(s, 1), "the request arrives")
	select {
	case err := <-errc:
		t.Fatalf("a hanging request was answered: %v", err)
	default:
	}
	cancel()
	assert.ErrorIs(t, <-errc, context.Canceled)
	eventually(t, func() bool { return s.active.Load() == 0 }, "the hanging handler returns")
	assert.Zero(t, s.SubmitCount())

	submit(t, s, validBody())
}

func TestFaultHangAndStallReleasedByClose(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.InjectFault(Fault{Method: "POST", Kind: FaultHang})
	s.InjectFault(Fault{Method: "GET", Kind: FaultStallBody})

	errc := make(chan error, 2)
	hangClient := freshClient(t)
	go func() {
		resp, err := send(context.Background(), hangClient, s, http.MethodPost, submitPath, validJSON)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	resp, err := send(context.Background(), freshClient(t), s, http.MethodGet, submitPath+"/abc", "")
	require.NoError(t, err, "a stalled body still has its headers")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Regexp(t, traceparentRE, resp.Header.Get("Traceparent"))
	half := make([]byte, resp.ContentLength/2)
	_, err = io.ReadFull(resp.Body, half)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(half), `{"task_info":{"id":"abc"`))
	go func() {
		_, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		errc <- err
	}()
	eventually(t, recorded(s, 2), "both requests arrive")
	select {
	case err := <-errc:
		t.Fatalf("released before Close: %v", err)
	default:
	}

	s.Close() // returns: the handlers were released
	for range 2 {
		assert.Error(t, <-errc)
	}
	assert.Zero(t, s.active.Load())
}

func TestFaultStallReleasedByClientClose(t *testing.T) {
	s := newTestServer(t)
	s.InjectFault(Fault{Kind: FaultStallBody, AfterCreate: true})
	resp, err := send(context.Background(), freshClient(t), s, http.MethodPost, submitPath, validJSON)
	require.NoError(t, err)
	assert.Equal(t, http.StatusAccepted, resp.StatusCode)
	assert.Equal(t, 1, s.SubmitCount())
	require.NoError(t, resp.Body.Close())
	eventually(t, func() bool { return s.active.Load() == 0 }, "the stalled handler returns")
}

func TestUnknownFaultKind(t *testing.T) {
	s := newTestServer(t)
	s.InjectFault(Fault{Kind: FaultKind(99)})
	resp, data := call(t, s, http.MethodGet, submitPath+"/x", nil)
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	assert.Contains(t, string(data), "unknown fault kind 99")
}

// TestFaultAfterCreateIgnoresBeforeBody: a task is created from the body,
// so AfterCreate wins.
func TestFaultAfterCreateIgnoresBeforeBody(t *testing.T) {
	s := newTestServer(t)
	s.InjectFault(Fault{Kind: FaultStatus, Status: http.StatusBadGateway, AfterCreate: true, BeforeBody: true})
	resp, _ := call(t, s, http.MethodPost, submitPath, validJSON)
	assert.Equal(t, http.StatusBadGateway, resp.StatusCode)
	assert.Equal(t, 1, s.SubmitCount())
	assert.Equal(t, validJSON, string(s.Requests()[0].Body))
	assert.False(t, s.Requests()[0].Truncated)
}

// TestFaultReplacesTooLarge: a fault is chosen when the headers arrive and
// acts after the body was read, whatever the body.
func TestFaultReplacesTooLarge(t *testing.T) {
	s := newTestServer(t, withMaxBody(10))
	resp, _ := call(t, s, http.MethodPost, submitPath, validJSON)
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	s.InjectFault(Fault{Kind: FaultStatus, Status: http.StatusServiceUnavailable})
	resp, _ = call(t, s, http.MethodPost, submitPath, validJSON)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.True(t, s.Requests()[1].Truncated)
}

// TestFaultBeforeBodyOverHTTP1 checks the HTTP/1.1 side of BeforeBody
// faults on the plain server: nothing read, nothing created.
func TestFaultBeforeBodyOverHTTP1(t *testing.T) {
	s := newTestServer(t)
	c := freshClient(t)
	for _, kind := range []FaultKind{FaultCloseConnection, FaultResetStream, FaultCloseMidBody} {
		s.InjectFault(Fault{Method: "POST", Kind: kind, BeforeBody: true})
		resp, err := send(context.Background(), c, s, http.MethodPost, submitPath, validJSON)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		assert.Error(t, err, "fault kind %d", kind)
	}
	for _, r := range s.Requests() {
		assert.Nil(t, r.Body)
		assert.True(t, r.Truncated)
	}
	assert.Zero(t, s.SubmitCount())
	eventually(t, func() bool { return s.active.Load() == 0 }, "the handlers return")
}
