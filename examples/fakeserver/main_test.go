package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-b62e15c8/qwenedit/qwenedittest"
)

func TestRunServesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout syncBuffer
	ready := make(chan *qwenedittest.Server, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-key", "test-key-1", "-duration", "1m", "-vocab", "queued"},
			&stdout, io.Discard, func(s *qwenedittest.Server) { ready <- s })
	}()
	var srv *qwenedittest.Server
	select {
	case srv = <-ready:
	case err := <-done:
		t.Fatalf("run ended early: %v", err)
	}

	out := stdout.String()
	assert.Contains(t, out, "qwenedit fake server: base URL "+srv.URL()+` (key "test-key-1")`)
	assert.Contains(t, out, "curl -s "+srv.URL()+"/vendors/alibaba/v1/qwen-image-edit-max/generation -H 'Authorization: Bearer test-key-1'")
	assert.Contains(t, out, srv.ResultsURL())
	assert.True(t, strings.HasPrefix(srv.ResultsURL(), "http://127.0.0.1:"), "results on the -addr host")

	req, err := http.NewRequest(http.MethodPost, srv.URL()+"/vendors/alibaba/v1/qwen-image-edit-max/generation",
		strings.NewReader(`{"images":["https://example.com/cat.png"],"prompt":"Give the cat a hat"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer test-key-1")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var body struct {
		TaskInfo struct{ Status string } `json:"task_info"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, http.StatusAccepted, resp.StatusCode)
	assert.Equal(t, "queued", body.TaskInfo.Status, "-vocab is applied")

	cancel()
	require.NoError(t, <-done)
	assert.Contains(t, stdout.String(), "stopped")
	resp, err = http.Get(srv.URL())
	if err == nil {
		resp.Body.Close()
	}
	assert.Error(t, err, "the listener is closed")
}

func TestParseFlags(t *testing.T) {
	c, err := parseFlags(nil, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, config{
		addr: "127.0.0.1:8080", resultsAddr: "127.0.0.1:0", key: qwenedittest.DefaultAPIKey,
		duration: 5_000_000_000, vocab: qwenedittest.VocabularyPending, errorCodeField: "code",
	}, c)

	c, err = parseFlags([]string{"-addr", "[::1]:9000", "-vocab", "queued", "-error-code-field", "error_code"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "[::1]:0", c.resultsAddr)
	assert.Equal(t, qwenedittest.VocabularyQueued, c.vocab)
	assert.Equal(t, "error_code", c.errorCodeField)

	c, err = parseFlags([]string{"-addr", "0.0.0.0:8080", "-public"}, io.Discard)
	require.NoError(t, err, "-public allows any address")
	assert.Equal(t, "0.0.0.0:0", c.resultsAddr)

	for _, args := range [][]string{
		{"-addr", "0.0.0.0:8080"},
		{"-addr", ":8080"},
		{"-addr", "192.0.2.1:8080"},
		{"-addr", "example.com:8080"},
		{"-results-addr", "0.0.0.0:9000"},
	} {
		_, err := parseFlags(args, io.Discard)
		assert.ErrorContains(t, err, "-public", args)
	}
	c, err = parseFlags([]string{"-tls", "-cert-out", "/tmp/x.pem"}, io.Discard)
	require.NoError(t, err)
	assert.True(t, c.tls)
	assert.Equal(t, "/tmp/x.pem", c.certOut)
	_, err = parseFlags([]string{"-cert-out", "/tmp/x.pem"}, io.Discard)
	assert.ErrorContains(t, err, "-cert-out needs -tls")

	for _, args := range [][]string{
		{"-vocab", "other"},
		{"-key", ""},
		{"-duration", "-1s"},
		{"-error-code-field", ""},
		{"-addr", "no-port"},
		{"-results-addr", "no-port"},
		{"-no-such-flag"},
		{"extra"},
	} {
		_, err := parseFlags(args, io.Discard)
		assert.Error(t, err, args)
	}
	_, err = parseFlags([]string{"-h"}, io.Discard)
	assert.ErrorIs(t, err, flag.ErrHelp)
}

func TestRunRefusesPublicAddressWithoutFlag(t *testing.T) {
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"-addr", "0.0.0.0:0"}, io.Discard, &stderr, nil)
	assert.ErrorContains(t, err, "not a loopback address")
}

func TestRunReportsListenErrors(t *testing.T) {
	s := qwenedittest.NewServer()
	defer s.Close()
	taken := strings.TrimPrefix(s.URL(), "http://")
	err := run(context.Background(), []string{"-addr", taken}, io.Discard, io.Discard, nil)
	assert.Error(t, err)
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:1": true, "127.1.2.3:1": true, "[::1]:1": true, "localhost:1": true, "LOCALHOST:1": true,
		"0.0.0.0:1": false, "[::]:1": false, ":1": false, "10.0.0.1:1": false, "example.com:1": false,
	} {
		got, err := isLoopback(addr)
		require.NoError(t, err, addr)
		assert.Equal(t, want, got, addr)
	}
	_, err := isLoopback("nope")
	assert.Error(t, err)
}

func TestShellQuote(t *testing.T) {
	assert.Equal(t, `'it'\''s'`, shellQuote("it's"))
}

// startRun runs the program with args until the test ends and returns the
// server once it listens.
func startRun(t *testing.T, args []string, stdout io.Writer) *qwenedittest.Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *qwenedittest.Server, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, stdout, io.Discard, func(s *qwenedittest.Server) { ready <- s }) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
	})
	select {
	case srv := <-ready:
		return srv
	case err := <-done:
		t.Fatalf("run ended early: %v", err)
		return nil
	}
}

func TestRunTLSWritesTheCertificate(t *testing.T) {
	certFile := filepath.Join(t.TempDir(), "fake cert.pem")
	var stdout syncBuffer
	srv := startRun(t, []string{"-addr", "127.0.0.1:0", "-key", "k", "-duration", "0s", "-tls", "-cert-out", certFile}, &stdout)
	require.True(t, strings.HasPrefix(srv.URL(), "https://127.0.0.1:"), srv.URL())

	data, err := os.ReadFile(certFile)
	require.NoError(t, err)
	block, rest := pem.Decode(data)
	require.NotNil(t, block)
	assert.Equal(t, "CERTIFICATE", block.Type)
	assert.Empty(t, bytes.TrimSpace(rest))
	assert.Equal(t, srv.Certificate().Raw, block.Bytes, "the certificate the server presents")

	out := stdout.String()
	assert.Contains(t, out, "base URL "+srv.URL())
	assert.Contains(t, out, "curl -s --cacert '"+certFile+"' "+srv.URL()+"/vendors/alibaba/v1/qwen-image-edit-max/generation")
	assert.Contains(t, out, "SSL_CERT_FILE='"+certFile+"'")
	assert.Contains(t, out, "NODE_EXTRA_CA_CERTS=")
	assert.Contains(t, out, "localhost, 127.0.0.1, ::1")

	// A client that trusts only the written file speaks HTTP/2 to it.
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(data))
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	for _, base := range []string{srv.URL(), strings.Replace(srv.URL(), "127.0.0.1", "localhost", 1)} {
		req, err := http.NewRequest(http.MethodPost, base+"/vendors/alibaba/v1/qwen-image-edit-max/generation",
			strings.NewReader(`{"images":["https://example.com/cat.png"],"prompt":"Give the cat a hat"}`))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer k")
		resp, err := (&http.Client{Transport: tr}).Do(req)
		require.NoError(t, err, base)
		require.NoError(t, resp.Body.Close())
		assert.Equal(t, http.StatusAccepted, resp.StatusCode)
		assert.Equal(t, "HTTP/2.0", resp.Proto)
	}
}

func TestRunTLSWithoutCertOut(t *testing.T) {
	var stdout syncBuffer
	srv := startRun(t, []string{"-addr", "127.0.0.1:0", "-tls"}, &stdout)
	out := stdout.String()
	assert.Contains(t, out, "use -cert-out FILE")
	assert.Contains(t, out, "curl -s -k "+srv.URL())
}

func TestRunReportsCertOutErrors(t *testing.T) {
	err := run(context.Background(), []string{"-addr", "127.0.0.1:0", "-tls", "-cert-out", filepath.Join(t.TempDir(), "no", "such", "dir.pem")},
		io.Discard, io.Discard, nil)
	assert.ErrorContains(t, err, "-cert-out")
}

// syncBuffer is a bytes.Buffer that the running program and the test may
// use at the same time.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
