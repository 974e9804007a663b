package qwenedit

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// defaultHTTPClient bounds the phases that can hang before a request goes
// out (dial, TLS) but sets no overall Client.Timeout and no
// ResponseHeaderTimeout: a 40 MB upload or a large download may take long,
// and the per-attempt timeout (WithAttemptTimeout) already bounds the wait
// for an answer, without a second timer per request.
func defaultHTTPClient() *http.Client {
	t, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		t = &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true}
	} else {
		t = t.Clone()
	}
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ExpectContinueTimeout = time.Second
	t.IdleConnTimeout = 90 * time.Second
	// Many concurrent polls go to one host; the default of 2 idle conns per
	// host would make most of them open new connections.
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 64
	return &http.Client{Transport: t}
}

// keyGuard strips the Authorization header from any request that leaves
// the API's origin (a redirect to another host, scheme or port), so the
// key never reaches a host it does not belong to. net/http strips it only
// for other domains, not for a move from https to http on the same host.
type keyGuard struct {
	base         http.RoundTripper
	origin       string // scheme://host:port of the base URL
	scheme, host string // as the base URL spells them
}

func (t *keyGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	// The SDK's own requests carry the base URL's scheme and host exactly:
	// that common case needs no origin built per request.
	sameAsBase := req.URL.Scheme == t.scheme && req.URL.Host == t.host
	if req.Header.Get("Authorization") == "" || sameAsBase || originOf(req.URL) == t.origin {
		return t.base.RoundTrip(req)
	}
	// A RoundTripper must not modify the caller's request.
	r := req.Clone(req.Context())
	r.Header.Del("Authorization")
	return t.base.RoundTrip(r)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the wrapped transport.
func (t *keyGuard) CloseIdleConnections() {
	if ci, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// originOf is scheme://host:port in lower case with the default port made explicit.
func originOf(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if port == "" {
		switch scheme {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// wrapHTTPClient copies hc (never modifying the caller's value) and wraps its transport.
//
// It also stops redirects of a submit: net/http would follow a 301, 302 or
// 303 answer to a POST with a GET elsewhere, after the task may have been
// created, and a failure of that GET would look like a submit that was
// never sent. The 3xx is returned instead and the submit is ambiguous.
func wrapHTTPClient(hc *http.Client, base *url.URL) *http.Client {
	cp := *hc
	rt := cp.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	cp.Transport = &keyGuard{base: rt, origin: originOf(base), scheme: base.Scheme, host: base.Host}
	userCheck := cp.CheckRedirect
	cp.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		switch {
		case via[0].Method == http.MethodPost:
			return http.ErrUseLastResponse
		case userCheck != nil:
			return userCheck(req, via)
		case len(via) >= 10: // net/http's own default policy
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &cp
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
