package qwenedittest

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// defaultAPIKey is the bearer key a Server accepts unless [WithAPIKey] says
// otherwise ([Server.APIKey] returns it). It is deliberately not shaped
// like a real key.
const defaultAPIKey = "qwenedittest-key"

// maxRequestBody is the largest request body the API reads before it
// answers 413: three 10 MB images in base64 fit with room to spare.
const maxRequestBody = 64 << 20

// closeGrace is how long Close lets HTTP/2 connections read the GOAWAY it
// sends before it closes them: enough on loopback, short enough for a
// test's cleanup.
const closeGrace = 20 * time.Millisecond

// Origins of a [RecordedRequest].
const (
	OriginAPI     = "api"     // the API listener, Server.URL
	OriginResults = "results" // the result-image listener, Server.ResultsURL
)

// statuses returns the waiting, working and success status names: the
// MuleRouter documentation shows two vocabularies, and a client should
// handle both.
func (s *Server) statuses() (first, second, success string) {
	if s.queued {
		return "queued", "running", "succeeded"
	}
	return "pending", "processing", "completed"
}

// Option configures a Server; pass options to [NewServer] or [NewServerAt].
type Option func(*Server)

// WithAPIKey sets the bearer key the API accepts. An empty key keeps the
// default one, so that the fake never runs without authentication by
// accident.
func WithAPIKey(key string) Option {
	return func(s *Server) {
		if key != "" {
			s.apiKey = key
		}
	}
}

// WithTaskDuration sets how long a task takes on the server's clock: it
// reports the first status of the vocabulary for the first half, the second
// for the second half and succeeds (or fails, see [Server.FailNextTask]) once
// d has passed. The default, 0, finishes every task by its first poll.
// Negative values count as 0.
func WithTaskDuration(d time.Duration) Option {
	return func(s *Server) { s.duration = max(d, 0) }
}

// WithMaxRunningTasks models an account that may run at most n tasks at
// once, as MuleRouter limits accounts: a valid submit that finds n tasks
// still running is answered 429 with a Retry-After (the seconds until the
// first of them finishes, at least 1) and creates nothing. 0, the default,
// means no limit.
func WithMaxRunningTasks(n int) Option {
	return func(s *Server) { s.maxRunning = max(n, 0) }
}

// WithQueuedVocabulary makes the Server report "queued" → "running" →
// "succeeded", as MuleRouter's generic async-task page shows, instead of
// the default "pending" → "processing" → "completed" of the
// qwen-image-edit-max pages. A client should handle both.
func WithQueuedVocabulary() Option {
	return func(s *Server) { s.queued = true }
}

// WithClock replaces time.Now as the server's clock, so tests can move tasks
// along without sleeping. now must be safe for concurrent use; nil keeps
// time.Now.
func WithClock(now func() time.Time) Option {
	return func(s *Server) {
		if now != nil {
			s.now = now
		}
	}
}

// WithErrorCodeField names the numeric field of a failed task's
// task_info.error object. The documentation shows "code" (the default) and
// "error_code"; any other non-empty name is used as given.
func WithErrorCodeField(name string) Option {
	return func(s *Server) {
		if name != "" {
			s.errorCodeField = name
		}
	}
}

// knownModels are the model path segments a Server accepts: the models
// that share the qwen-image-edit request schema. Any other <model> in a
// path is answered 404, like a typo on the real API.
var knownModels = map[string]bool{"qwen-image-edit-max": true, "qwen-image-edit-plus": true, "qwen-image-edit": true}

// WithUppercaseIDs makes the server issue task ids in upper-case UUID form
// ("2227246C-760C-4B7F-9E5A-…"), as in some of the real API's examples.
// Ids are opaque either way: the server never case-folds them, so a poll
// must use the id exactly as issued.
func WithUppercaseIDs() Option {
	return func(s *Server) { s.upperIDs = true }
}

// Server is a running fake. Its methods are safe for concurrent use.
// Always call Close.
type Server struct {
	// Configuration, fixed once the constructor returns.
	apiKey         string
	duration       time.Duration
	maxRunning     int  // WithMaxRunningTasks; 0: no limit
	queued         bool // WithQueuedVocabulary
	now            func() time.Time
	errorCodeField string
	maxBody        int64 // maxRequestBody; smaller in the package's tests
	upperIDs       bool
	useTLS         bool

	api, results *httptest.Server
	cert         *x509.Certificate // WithTLS only
	client       *http.Client      // WithTLS only; else the httptest client

	// closing is closed by Close to release handlers that hang on purpose;
	// handlers counts every running handler, because httptest does not wait
	// for hijacked connections.
	closing   chan struct{}
	closeOnce sync.Once
	handlers  sync.WaitGroup
	active    atomic.Int64 // running handlers, for tests to observe releases

	conns atomic.Int64 // connections accepted by the API listener

	mu       sync.Mutex
	tasks    map[string]*task
	order    []*task // creation order, for Tasks
	requests []RecordedRequest
	faults   []*queuedFault // pending faults, FIFO; entries are private copies
	failures []taskError    // queued by FailNextTask
	expired  bool
}

// NewServer starts a Server on two free loopback ports. Like
// httptest.NewServer, it panics only if the system cannot listen on
// loopback at all; use [NewServerAt] to choose addresses and get an error
// instead.
func NewServer(opts ...Option) *Server {
	s, err := NewServerAt("127.0.0.1:0", "127.0.0.1:0", opts...)
	if err != nil {
		// Some sandboxes only have IPv6 loopback.
		var err6 error
		if s, err6 = NewServerAt("[::1]:0", "[::1]:0", opts...); err6 != nil {
			panic(fmt.Sprintf("qwenedittest: failed to listen on loopback: %v; %v", err, err6))
		}
	}
	return s
}

// NewServerAt starts a Server whose API listens on apiAddr and whose result
// images are served from resultsAddr (host:port; port 0 picks a free port).
// It binds exactly what it is given: keep to loopback unless the fake is
// meant to be reachable from other machines.
func NewServerAt(apiAddr, resultsAddr string, opts ...Option) (*Server, error) {
	s := &Server{
		apiKey:         defaultAPIKey,
		now:            time.Now,
		errorCodeField: "code",
		maxBody:        maxRequestBody,
		closing:        make(chan struct{}),
		tasks:          make(map[string]*task),
	}
	for _, o := range opts {
		if o != nil {
			o(s)
		}
	}
	apiLn, err := net.Listen("tcp", apiAddr)
	if err != nil {
		return nil, fmt.Errorf("qwenedittest: API listener: %w", err)
	}
	resLn, err := net.Listen("tcp", resultsAddr)
	if err != nil {
		_ = apiLn.Close()
		return nil, fmt.Errorf("qwenedittest: results listener: %w", err)
	}
	// A literal httptest.Server (rather than NewUnstartedServer) binds the
	// caller's listener without first grabbing, and possibly panicking over,
	// a port of its own.
	s.api = &httptest.Server{
		Listener:    apiLn,
		EnableHTTP2: true, // used by StartTLS only
		Config: &http.Server{
			Handler:           http.HandlerFunc(s.serveAPI),
			ReadHeaderTimeout: time.Minute,
			ConnState: func(_ net.Conn, st http.ConnState) {
				if st == http.StateNew {
					s.conns.Add(1)
				}
			},
			// Handlers find their connection here, to close it over
			// HTTP/2, where it cannot be hijacked.
			ConnContext: func(ctx context.Context, c net.Conn) context.Context {
				return context.WithValue(ctx, connKey{}, c)
			},
		},
	}
	s.results = &httptest.Server{
		Listener:    resLn,
		EnableHTTP2: true,
		Config: &http.Server{
			Handler:           http.HandlerFunc(s.serveResults),
			ReadHeaderTimeout: time.Minute,
		},
	}
	// The results server starts first: the API's answers name its URL,
	// which its Start sets, and a client may ask as soon as the API listens.
	if !s.useTLS {
		s.results.Start()
		s.api.Start()
		return s, nil
	}
	if err := s.setupTLS(); err != nil {
		_ = apiLn.Close()
		_ = resLn.Close()
		return nil, err
	}
	s.results.StartTLS()
	s.api.StartTLS()
	return s, nil
}

// URL is the API base URL, e.g. "http://127.0.0.1:41234" (https:// with
// [WithTLS]), without a trailing slash: what a client's base-URL option
// expects.
func (s *Server) URL() string { return s.api.URL }

// ResultsURL is the base URL of the result-image origin. Result URLs look
// like ResultsURL()+"/results/<task_id>/result_<i>.png", i from 0 to n-1.
// They answer for any task that exists, whatever its status (clients only
// learn them from a finished task), until [Server.ExpireResults].
func (s *Server) ResultsURL() string { return s.results.URL }

// APIKey is the bearer key the API accepts.
func (s *Server) APIKey() string { return s.apiKey }

// Client returns an *http.Client for talking to either listener; Close
// closes its idle connections. With [WithTLS] it trusts the server's
// certificate and negotiates HTTP/2 (with http.DefaultTransport's
// settings, ExpectContinueTimeout 1 s included, and no proxy); without, it
// is httptest's plain client.
func (s *Server) Client() *http.Client {
	if s.client != nil {
		return s.client
	}
	return s.api.Client()
}

// Close releases handlers that hang on purpose, closes both listeners and
// every connection, and returns once no handler goroutine is left. HTTP/2
// connections first get GOAWAY, as from a server shutting down: a request
// still in flight then fails. Calling Close more than once is harmless.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closing)
		// Shutdown closes the listeners, so that no new connection slips
		// in before the forced close below, and sends GOAWAY on HTTP/2
		// connections; it waits for idle connections, which HTTP/2 ones
		// only become a second after the GOAWAY, hence the short grace.
		ctx, cancel := context.WithTimeout(context.Background(), closeGrace)
		var wg sync.WaitGroup
		for _, hs := range []*httptest.Server{s.api, s.results} {
			wg.Go(func() { _ = hs.Config.Shutdown(ctx) })
		}
		wg.Wait()
		cancel()
		// Forcibly closing connections also ends handlers blocked writing a
		// huge body to a client that stopped reading; httptest's Close alone
		// would wait for them forever.
		s.api.CloseClientConnections()
		s.results.CloseClientConnections()
		s.api.Close()
		s.results.Close()
		s.handlers.Wait()
		if s.client != nil {
			s.client.CloseIdleConnections()
		}
	})
}

// connKey is the request context key of the request's net.Conn.
type connKey struct{}

// Connections is the number of TCP connections the API listener has
// accepted so far, HTTP/2 ones included. Tests use it to prove that a
// client reuses connections.
func (s *Server) Connections() int { return int(s.conns.Load()) }

// RecordedRequest is one request received by either listener.
type RecordedRequest struct {
	Origin   string      // OriginAPI or OriginResults
	Method   string      // e.g. "POST"
	Path     string      // URL path, e.g. "/vendors/alibaba/v1/qwen-image-edit-max/generation"
	RawQuery string      // URL query without "?", usually empty
	Proto    string      // "HTTP/1.1" or "HTTP/2.0": the protocol the request came over
	Header   http.Header // a copy of the request headers, Authorization included (over HTTP/2 not Expect, which net/http consumes)
	Body     []byte      // the body as received
	// Truncated reports that Body is not the whole body: it was over the
	// 64 MiB the API reads, or the server answered without reading it (an
	// early 401, a Fault with BeforeBody) or the client went away while
	// sending it.
	Truncated bool
	Received  time.Time // arrival time on the server's clock
}

// Requests returns every request received so far by either listener, in
// arrival order. The result is a deep copy.
func (s *Server) Requests() []RecordedRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]RecordedRequest, len(s.requests))
	for i, r := range s.requests {
		// Deep copies, so that a test changing what it got cannot change
		// what the next caller sees.
		r.Header = r.Header.Clone()
		if r.Body != nil {
			r.Body = append([]byte(nil), r.Body...)
		}
		out[i] = r
	}
	return out
}

// record appends a request; body is what was read, complete reports whether
// that is the whole body.
func (s *Server) record(origin string, r *http.Request, body []byte, complete bool) {
	rec := RecordedRequest{
		Origin:    origin,
		Method:    r.Method,
		Path:      r.URL.Path,
		RawQuery:  r.URL.RawQuery,
		Proto:     r.Proto,
		Header:    r.Header.Clone(),
		Truncated: !complete,
		Received:  s.now(),
	}
	if len(body) > 0 {
		rec.Body = body
	}
	s.mu.Lock()
	s.requests = append(s.requests, rec)
	s.mu.Unlock()
}

// track wraps a handler so that Close can wait for it.
func (s *Server) track() func() {
	s.handlers.Add(1)
	s.active.Add(1)
	return func() {
		s.active.Add(-1)
		s.handlers.Done()
	}
}

// newID returns a task id: a random version-4 UUID, in upper case with
// WithUppercaseIDs.
func (s *Server) newID() string {
	if s.upperIDs {
		return strings.ToUpper(newUUID())
	}
	return newUUID()
}

// newUUID returns a random version-4 UUID in lower case.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// newTraceparent returns a random W3C traceparent value, sampled.
func newTraceparent() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	b[0] |= 1 // all-zero ids are invalid; make that impossible
	b[16] |= 1
	return "00-" + hex.EncodeToString(b[:16]) + "-" + hex.EncodeToString(b[16:]) + "-01"
}

// timeFormat is RFC 3339 with milliseconds, as in the documentation's
// "2025-09-21T00:00:00.000Z".
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(timeFormat) }
