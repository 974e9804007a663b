package main

// Whether the API server answers: a batch whose server goes away keeps
// polling (the SDK retries network errors) and must say so, instead of
// staying silent until -max-wait.

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// reachability follows whether the API host answers: down since the first
// connection failure after the last answer, up again at the next answer.
// It is safe for concurrent use.
type reachability struct {
	mu     sync.Mutex
	since  time.Time                        // the first failure since the last answer; zero: up
	notify func(down bool, since time.Time) // told of every change; nil: nobody listens
}

// watch calls notify, from now on, whenever the server goes down (with the
// time of the first failure) or answers again.
func (r *reachability) watch(notify func(down bool, since time.Time)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notify = notify
}

// failed notes a request that got no answer at t.
func (r *reachability) failed(t time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.since.IsZero() {
		return
	}
	r.since = t
	if r.notify != nil {
		r.notify(true, t) // under the lock, so that the changes are told in order
	}
}

// answered notes a request that got an answer, whatever its status.
func (r *reachability) answered() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.since.IsZero() {
		return
	}
	since := r.since
	r.since = time.Time{}
	if r.notify != nil {
		r.notify(false, since)
	}
}

// reachTransport is the HTTP transport of a command's client: base, with
// every request to the API's host noted in reach. A request given up by
// its caller (Ctrl-C, -max-wait) says nothing about the server.
type reachTransport struct {
	base  http.RoundTripper
	host  string // the API's host:port, as the base URL gives it
	reach *reachability
}

func (t *reachTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if req.URL.Host != t.host {
		return resp, err // a result URL, on a host of its own
	}
	switch {
	case err == nil:
		t.reach.answered()
	case req.Context().Err() == nil && req.Context().Value(quietKey{}) == nil:
		t.reach.failed(time.Now())
	}
	return resp, err
}

// quietKey marks the context of a call whose caller reports its failure
// itself (the key check: "cannot reach ..."), so that no "unreachable,
// retrying" comes before it.
type quietKey struct{}

// quiet returns ctx marked so.
func quiet(ctx context.Context) context.Context {
	return context.WithValue(ctx, quietKey{}, true)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach base.
func (t *reachTransport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// newHTTPClient is the HTTP client of a command against base: the SDK's
// default settings (dial and TLS handshake bounded, no overall timeout:
// uploads may take long), its API requests noted in reach.
func newHTTPClient(base string, reach *reachability) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ExpectContinueTimeout = time.Second
	t.MaxIdleConns, t.MaxIdleConnsPerHost = 256, 64 // many concurrent polls go to one host
	host := ""
	if u, err := url.Parse(base); err == nil {
		host = u.Host
	}
	return &http.Client{Transport: &reachTransport{base: t, host: host, reach: reach}}
}

// unreachable returns the network error that kept a request from getting
// any answer (no connection, no such host, a connection cut), or nil if
// err is something else: an answer, a refusal of the request, a
// certificate not trusted.
func unreachable(err error) error {
	var op *net.OpError
	if errors.As(err, &op) {
		if op.Err != nil {
			return op.Err
		}
		return op
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return dns
	}
	return nil
}

// hostOf is the host:port of a URL, or the URL itself if it has none.
func hostOf(base string) string {
	if u, err := url.Parse(base); err == nil && u.Host != "" {
		return u.Host
	}
	return base
}
