package qwenedittest

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"slices"

	"github.com/seed-b62e15c8/qwenedit/internal/selfsigned"
)

// WithTLS makes both listeners serve HTTPS with a self-signed certificate
// generated for this Server, offering HTTP/2 ("h2") and HTTP/1.1 by ALPN,
// as the real API does. [Server.URL] and [Server.ResultsURL] are then
// https:// URLs, [Server.Client] trusts the certificate and speaks HTTP/2,
// and [Server.Certificate] returns the certificate for other clients.
//
// Both protocols are net/http's own servers, the ones most Go services
// run. Every fault kind works on both; [FaultKind] describes the
// differences.
//
// The certificate names localhost, 127.0.0.1, ::1 and the hosts the
// listeners are bound to (for an unspecified address such as 0.0.0.0, this
// machine's interface addresses and host name). It is valid for about a
// year and is a CA certificate for itself, so it can be given to curl
// (--cacert), Python (SSL_CERT_FILE) or Node (NODE_EXTRA_CA_CERTS) as the
// only trusted root.
func WithTLS() Option {
	return func(s *Server) { s.useTLS = true }
}

// Certificate returns the self-signed certificate both listeners present
// under [WithTLS], or nil without it, like httptest.Server.Certificate.
// pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
// gives the file that curl --cacert and SSL_CERT_FILE read.
func (s *Server) Certificate() *x509.Certificate { return s.cert }

// certHosts lists the names and addresses the certificate must cover for
// listeners bound to addrs.
func certHosts(addrs ...net.Addr) (dns []string, ips []net.IP) {
	dns = []string{"localhost"}
	ips = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	addIP := func(ip net.IP) {
		if !slices.ContainsFunc(ips, ip.Equal) {
			ips = append(ips, ip)
		}
	}
	for _, a := range addrs {
		tcp, ok := a.(*net.TCPAddr)
		if !ok {
			continue
		}
		if !tcp.IP.IsUnspecified() {
			addIP(tcp.IP)
			continue
		}
		// Bound to every interface: a client may use any of them.
		if ifAddrs, err := net.InterfaceAddrs(); err == nil {
			for _, ia := range ifAddrs {
				if n, ok := ia.(*net.IPNet); ok {
					addIP(n.IP)
				}
			}
		}
		if h, err := os.Hostname(); err == nil && h != "" && !slices.Contains(dns, h) {
			dns = append(dns, h)
		}
	}
	return dns, ips
}

// setupTLS creates the certificate and turns both (not yet started)
// httptest servers into HTTPS servers that offer HTTP/2.
func (s *Server) setupTLS() error {
	dns, ips := certHosts(s.api.Listener.Addr(), s.results.Listener.Addr())
	cert, err := selfsigned.New(dns, ips)
	if err != nil {
		return fmt.Errorf("qwenedittest: creating the TLS certificate: %w", err)
	}
	s.cert = cert.Leaf
	for _, hs := range []*httptest.Server{s.api, s.results} {
		hs.TLS = &tls.Config{
			Certificates: []tls.Certificate{cert},
			NextProtos:   []string{"h2", "http/1.1"},
			MinVersion:   tls.VersionTLS12,
		}
	}
	s.client = selfsigned.Client(cert.Leaf)
	return nil
}
