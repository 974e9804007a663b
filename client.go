package qwenedit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/seed-b62e15c8/qwenedit/internal/streambody"
)

// Limits on what the client reads from a response.
const (
	maxSuccessBody = 4 << 20  // a task JSON is a few hundred bytes; 4 MiB is generous
	maxErrorBody   = 64 << 10 // error bodies are parsed from at most this much
	maxDrain       = 64 << 10
)

// Client talks to the MuleRouter API. Create it with NewClient; it is safe for
// concurrent use, and one Client should be shared so connections are reused.
type Client struct {
	cfg        config
	hc         *http.Client
	baseURL    string // no trailing slash
	origin     string // scheme://host of baseURL
	submitPath string // base path + /vendors/alibaba/v1/<model>/generation
	userAgent  string
	// cred holds the key behind a pointer: fmt prints a nested pointer as
	// an address, so even %+v of a Client value (which bypasses the
	// methods below) or of a struct embedding one cannot show the key.
	cred *credential
}

// credential is the API key and the Authorization value made from it.
type credential struct{ key, header string }

// NewClient builds a Client. The API key comes from WithAPIKey, else the
// MULEROUTER_API_KEY environment variable; without one it returns an error
// wrapping ErrNoAPIKey. The base URL comes from WithBaseURL, else
// MULEROUTER_BASE_URL, else WithSite or MULEROUTER_SITE, else DefaultBaseURL.
func NewClient(opts ...Option) (*Client, error) {
	cfg := defaultConfig()
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&cfg); err != nil {
			return nil, err
		}
	}
	if err := resolveFromEnv(&cfg); err != nil {
		return nil, err
	}
	base, err := parseBaseURL(cfg.baseURL, cfg.insecureHTTP)
	if err != nil {
		return nil, err
	}
	if err := checkAPIKey(cfg.apiKey); err != nil {
		return nil, err
	}
	hc := cfg.httpClient
	if hc == nil {
		hc = defaultHTTPClient()
	}
	ua := "qwenedit-go/" + Version
	if cfg.userAgent != "" {
		ua += " " + cfg.userAgent
	}
	baseURL := strings.TrimRight(base.String(), "/")
	cred := &credential{key: cfg.apiKey, header: "Bearer " + cfg.apiKey}
	cfg.apiKey = "" // from here on only in cred
	return &Client{
		cfg:        cfg,
		hc:         wrapHTTPClient(hc, originOf(base), cred),
		baseURL:    baseURL,
		origin:     base.Scheme + "://" + base.Host,
		submitPath: strings.TrimRight(base.Path, "/") + "/vendors/alibaba/v1/" + cfg.model + "/generation",
		userAgent:  ua,
		cred:       cred,
	}, nil
}

// resolveFromEnv fills what no option set from the MULEROUTER_* variables.
func resolveFromEnv(cfg *config) error {
	if !cfg.apiKeySet {
		cfg.apiKey = os.Getenv("MULEROUTER_API_KEY")
	}
	if cfg.baseURL != "" {
		return nil
	}
	if env := os.Getenv("MULEROUTER_BASE_URL"); strings.TrimSpace(env) != "" {
		cfg.baseURL = env
		return nil
	}
	site := cfg.site
	if site == "" {
		site = os.Getenv("MULEROUTER_SITE")
	}
	if strings.TrimSpace(site) == "" {
		cfg.baseURL = DefaultBaseURL
		return nil
	}
	u, err := siteURL(site)
	if err != nil {
		return err
	}
	cfg.baseURL = u
	return nil
}

func siteURL(site string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(site)) {
	case "mulerouter":
		return DefaultBaseURL, nil
	case "mulerun":
		return MuleRunBaseURL, nil
	}
	return "", fmt.Errorf("qwenedit: unknown site %q (want \"mulerouter\" or \"mulerun\")", site)
}

func checkAPIKey(key string) error {
	if strings.TrimSpace(key) == "" {
		return ErrNoAPIKey
	}
	for _, r := range key {
		if r <= ' ' || r == 0x7f {
			// Never echo the key: the message names the problem only.
			return errors.New("qwenedit: the API key contains whitespace or control characters")
		}
	}
	return nil
}

func parseBaseURL(raw string, insecureOK bool) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, fmt.Errorf("qwenedit: base URL: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("qwenedit: base URL %q: scheme must be http or https", u.Redacted())
	case u.Host == "":
		return nil, fmt.Errorf("qwenedit: base URL %q: no host", u.Redacted())
	case u.User != nil:
		return nil, fmt.Errorf("qwenedit: base URL %q: credentials in the URL are not allowed; use WithAPIKey", u.Redacted())
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("qwenedit: base URL %q: query and fragment are not allowed", u.Redacted())
	case u.Scheme == "http" && !insecureOK && !isLoopbackHost(u.Hostname()):
		return nil, fmt.Errorf("qwenedit: base URL %q: plain http to a non-loopback host would send the key in clear text; use https or WithInsecureHTTP", u.Redacted())
	}
	return u, nil
}

// ready reports a Client that did not come from NewClient (a nil pointer or
// a zero value), which has no key, no URL and no clock, as an error rather
// than a nil-pointer panic. Every public call reaches it first: Submit and
// Edit through buildBody, Get and WaitForResult through taskPath, and
// Download and SaveImages through download.
func (c *Client) ready() error {
	if c == nil || c.hc == nil || c.cred == nil {
		return errors.New("qwenedit: the Client was not created with NewClient")
	}
	return nil
}

// BaseURL is the API origin (and path prefix) the client talks to.
func (c *Client) BaseURL() string { return c.baseURL }

// String describes the client without its key.
func (c *Client) String() string {
	if c == nil {
		return "qwenedit.Client(nil)"
	}
	key := ""
	if c.cred != nil {
		key = c.cred.key
	}
	return fmt.Sprintf("qwenedit.Client{baseURL: %q, model: %q, apiKey: %s}", c.baseURL, c.cfg.model, redact(key))
}

// GoString is String for %#v.
func (c *Client) GoString() string { return c.String() }

// Format makes every fmt verb (%v, %+v, %#v, %s, %x, ...) print String, so the key cannot leak through fmt.
func (c *Client) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

func redact(key string) string {
	if key == "" {
		return `""`
	}
	return "[REDACTED]"
}

// apiCall is one logical API request; its body can be replayed for retries.
type apiCall struct {
	method string
	path   string           // absolute path on the API origin
	body   *streambody.Body // nil for GET
}

// apiResponse is a fully read 2xx answer.
type apiResponse struct {
	status int
	header http.Header
	body   []byte
}

// call runs c with retries and returns the 2xx answer.
func (c *Client) call(ctx context.Context, ac apiCall) (*apiResponse, error) {
	var resp *apiResponse
	timeout := c.cfg.retry.attemptTimeout
	if ac.body != nil {
		// Give big uploads time for their bytes, assuming at least 256 KiB/s.
		timeout += time.Duration(ac.body.Len()/(256<<10)) * time.Second
	}
	ev := event{method: ac.method, path: ac.path}
	err := c.withRetries(ctx, ev, timeout, func(actx context.Context, n int) outcome {
		r, o := c.attempt(actx, ctx, ac, n)
		resp = r
		return o
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// attempt performs one HTTP exchange. actx carries the per-attempt timeout;
// parent is the caller's context, used to tell our timeout from theirs.
func (c *Client) attempt(actx, parent context.Context, ac apiCall, n int) (*apiResponse, outcome) {
	if err := parent.Err(); err != nil {
		// Nothing goes out for a caller who already gave up: a plain
		// context error, never "a task may exist".
		return nil, outcome{err: fmt.Errorf("qwenedit: %s %s: %w", ac.method, ac.path, err)}
	}
	req, err := c.newRequest(actx, ac)
	if err != nil {
		return nil, outcome{err: err}
	}
	trace := &sendTrace{}
	if ac.method == http.MethodPost {
		// Only a submit needs to know how far the request got.
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace.hooks()))
	}
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.transportFailure(parent, ac, err, trace)
	}
	defer resp.Body.Close()
	if c.logs(actx, slog.LevelDebug) {
		c.log(actx, slog.LevelDebug, "qwenedit: attempt", event{ac.method, ac.path, n + 1}.attrs(
			slog.Int("status", resp.StatusCode),
			slog.Duration("elapsed", time.Since(start)),
			slog.String("traceparent", resp.Header.Get("Traceparent")),
		)...)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, c.statusFailure(ac, resp)
	}
	body, err := readLimited(resp.Body, resp.ContentLength, maxSuccessBody)
	if err != nil {
		return nil, c.bodyFailure(parent, ac, err)
	}
	return &apiResponse{status: resp.StatusCode, header: resp.Header, body: body}, outcome{}
}

func (c *Client) newRequest(ctx context.Context, ac apiCall) (*http.Request, error) {
	var body io.Reader
	getBody := func() (io.ReadCloser, error) { return ac.body.Open() }
	switch {
	case ac.body == nil:
	case ac.body.Len() <= maxInMemoryBody:
		// net/http sends headers and an in-memory body in one packet, but
		// flushes headers on their own before a streamed body: an extra
		// round of wake-ups that costs a small submit ~30 %.
		b, err := ac.body.Bytes()
		if err != nil {
			return nil, imageSourceErr(ac, err)
		}
		body = bytes.NewReader(b)
		getBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	default:
		rc, err := ac.body.Open()
		if err != nil {
			return nil, fmt.Errorf("qwenedit: %s %s: opening body: %w", ac.method, ac.path, err)
		}
		body = rc
	}
	req, err := http.NewRequestWithContext(ctx, ac.method, c.origin+ac.path, body)
	if err != nil {
		return nil, fmt.Errorf("qwenedit: %s %s: %w", ac.method, ac.path, err)
	}
	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set("Accept", "application/json")
	// Set here so the transport need not copy the request; it still strips
	// the header should a redirect lead to another origin.
	req.Header.Set("Authorization", c.cred.header)
	if ac.body != nil {
		req.Header.Set("Content-Type", "application/json")
		req.ContentLength = ac.body.Len()
		req.GetBody = getBody
	}
	return req, nil
}

// transportFailure classifies an error from http.Client.Do.
func (c *Client) transportFailure(parent context.Context, ac apiCall, err error, trace *sendTrace) outcome {
	if isSourceError(err) {
		// Our own image failed mid-body: the server got a truncated request
		// and can have made nothing, and a retry would fail the same way.
		return outcome{err: imageSourceErr(ac, err)}
	}
	wrapped := wrapAttemptErr(parent, ac, "", err)
	if parent.Err() != nil {
		// The caller gave up. A submit that went out in full may still have created a task.
		if ac.method == http.MethodPost && !trace.nothingSent(err) {
			return outcome{err: &AmbiguousSubmitError{Err: wrapped}}
		}
		return outcome{err: wrapped}
	}
	if ac.method != http.MethodPost {
		return outcome{err: wrapped, retry: true, reason: "network"}
	}
	if trace.nothingSent(err) {
		return outcome{err: wrapped, retry: true, reason: "network, request not sent"}
	}
	return outcome{err: &AmbiguousSubmitError{Err: wrapped}, reason: "network after the request was sent"}
}

// isSourceError reports a failure of a local image inside the request body.
func isSourceError(err error) bool {
	var se *streambody.SourceError
	return errors.As(err, &se)
}

// imageSourceErr is the error of a call whose local image failed while its
// body was built or sent.
func imageSourceErr(ac apiCall, err error) error {
	return fmt.Errorf("qwenedit: %s %s: %w: %w", ac.method, ac.path, ErrImageSource, err)
}

// wrapAttemptErr names the API call; see attemptErr.
func wrapAttemptErr(parent context.Context, ac apiCall, what string, err error) error {
	return attemptErr(parent, "qwenedit: "+ac.method+" "+ac.path, what, err)
}

// attemptErr is "<call>: <what><err>", marked with ErrAttemptTimeout when
// the deadline that ended the attempt was the per-attempt timeout rather
// than the caller's, so that the caller can tell them apart. API calls and
// downloads share it.
func attemptErr(parent context.Context, call, what string, err error) error {
	if parent.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %s%w: %w", call, what, ErrAttemptTimeout, err)
	}
	return fmt.Errorf("%s: %s%w", call, what, err)
}

// bodyFailure classifies an error while reading a 2xx body.
func (c *Client) bodyFailure(parent context.Context, ac apiCall, err error) outcome {
	wrapped := wrapAttemptErr(parent, ac, "reading response: ", err)
	switch {
	case ac.method == http.MethodPost:
		// The server answered 2xx: the task exists, but we lost its ID
		// (also when the body is too large: errors.Is still finds that).
		return outcome{err: &AmbiguousSubmitError{Err: wrapped}}
	case errors.Is(err, ErrResponseTooLarge):
		return outcome{err: wrapped}
	case parent.Err() != nil:
		return outcome{err: wrapped}
	}
	return outcome{err: wrapped, retry: true, reason: "response body"}
}

// statusFailure turns a non-2xx answer into an *APIError and decides on a retry.
func (c *Client) statusFailure(ac apiCall, resp *http.Response) outcome {
	apiErr := newAPIError(ac.method, ac.path, resp, c.cfg.clock.Now())
	o := outcome{err: apiErr, retryAfter: apiErr.RetryAfter, reason: fmt.Sprintf("status %d", resp.StatusCode)}
	switch {
	case ac.method != http.MethodPost:
		o.retry = isRetryableStatus(resp.StatusCode)
	case resp.StatusCode == http.StatusTooManyRequests:
		// A rate-limited submit was refused before any task was made.
		o.retry = true
	case resp.StatusCode >= 500, resp.StatusCode >= 300 && resp.StatusCode < 400:
		// A gateway error may come after the task was created upstream,
		// and so may a redirect (never followed for a submit).
		o.err = &AmbiguousSubmitError{Err: apiErr}
	}
	return o
}

// maxInMemoryBody is the largest request body sent from memory rather than
// streamed: small enough to be no memory concern, big enough for a prompt
// and a small image.
const maxInMemoryBody = 64 << 10

// readLimited reads all of r, failing with ErrResponseTooLarge past limit
// bytes. size is the announced length (-1 if unknown): an answer announced
// too large fails before a byte is read, and a known size is read into a
// buffer of exactly that size instead of a doubling one.
func readLimited(r io.Reader, size, limit int64) ([]byte, error) {
	if size > limit {
		return nil, fmt.Errorf("%w: %d bytes announced, the limit is %d", ErrResponseTooLarge, size, limit)
	}
	var buf bytes.Buffer
	if size >= 0 {
		buf.Grow(int(size) + bytes.MinRead) // room to see EOF without growing
	}
	n, err := io.Copy(&buf, io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrResponseTooLarge, limit)
	}
	return buf.Bytes(), nil
}

// drain reads a little of what is left so the connection can be reused, then
// gives up: a huge error body is not worth reading to keep one connection.
func drain(r io.Reader) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r, maxDrain))
}

// sendTrace records how far a request got, to tell "never sent" (safe to
// retry a submit) from "sent, answer lost" (a task may exist).
type sendTrace struct {
	mu        sync.Mutex
	getConn   bool // the transport started to look for a connection (real transports only)
	gotConn   bool
	wroteDone bool
	wroteErr  error
	answered  bool // a response began to arrive: the request was sent, once and for all
}

func (t *sendTrace) hooks() *httptrace.ClientTrace {
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
		GotFirstResponseByte: func() { t.mu.Lock(); t.answered = true; t.mu.Unlock() },
	}
}

// nothingSent reports positive evidence that the server cannot have received
// the complete request: a dial error, no connection, or a write that failed.
// Without evidence (a custom transport that fires no trace events) it says false.
func (t *sendTrace) nothingSent(err error) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.answered {
		// Whatever failed later (a redirect, a second connection), this
		// request reached the server.
		return false
	}
	if isDialError(err) {
		return true
	}
	return t.getConn && (!t.gotConn || !t.wroteDone || t.wroteErr != nil)
}

func isDialError(err error) bool {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return true
	}
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr)
}
