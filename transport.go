package qwenedit

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"regexp"
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

// h2Unprocessed reports the HTTP/2 server's own word that it did no
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
func h2Unprocessed(err error) bool {
	msg := err.Error()
	return h2RefusedStream.MatchString(msg) ||
		strings.Contains(msg, "net/http: cannot rewind body after connection loss") ||
		strings.Contains(msg, "http2: Transport received Server's graceful shutdown GOAWAY") ||
		strings.Contains(msg, "http2: Transport received GOAWAY from server ErrCode:")
}

// h2RefusedStream matches net/http's text of a stream reset with REFUSED_STREAM.
var h2RefusedStream = regexp.MustCompile(`stream error: stream ID \d+; REFUSED_STREAM\b`)
