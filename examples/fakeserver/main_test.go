package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-b62e15c8/qwenedit"
	"github.com/seed-b62e15c8/qwenedit/internal/lockedbuf"
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
		addr: "127.0.0.1:8080", resultsAddr: "127.0.0.1:0", key: "",
		duration: 5_000_000_000, errorCodeField: "code",
	}, c)

	c, err = parseFlags([]string{"-addr", "[::1]:9000", "-vocab", "queued", "-error-code-field", "error_code", "-max-running", "3"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "[::1]:0", c.resultsAddr)
	assert.True(t, c.queued)
	assert.Equal(t, "error_code", c.errorCodeField)
	assert.Equal(t, 3, c.maxRunning)

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
	c, err = parseFlags([]string{"-tls", "-cert-out", "x.pem"}, io.Discard)
	require.NoError(t, err)
	assert.True(t, c.tls)
	assert.Equal(t, "x.pem", c.certOut)
	_, err = parseFlags([]string{"-cert-out", "x.pem"}, io.Discard)
	assert.ErrorContains(t, err, "-cert-out needs -tls")

	for _, args := range [][]string{
		{"-vocab", "other"},
		{"-duration", "-1s"},
		{"-max-running", "-1"},
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

func TestRunPrintsTheEnvironmentForQwenedit(t *testing.T) {
	var stdout syncBuffer
	srv := startRun(t, []string{"-addr", "127.0.0.1:0", "-key", "test-key-2", "-duration", "0s"}, &stdout)
	out := stdout.String()
	assert.Contains(t, out, "\n  export MULEROUTER_BASE_URL="+srv.URL()+"\n  export MULEROUTER_API_KEY=test-key-2\n")
	assert.NotContains(t, out, "SSL_CERT_FILE", "plain HTTP needs no certificate")
	env := exports(t, out)
	assert.Equal(t, map[string]string{"MULEROUTER_BASE_URL": srv.URL(), "MULEROUTER_API_KEY": "test-key-2"}, env)

	// A client configured by that environment alone, as qwenedit is, edits.
	t.Setenv("MULEROUTER_SITE", "")
	for name, value := range env {
		t.Setenv(name, value)
	}
	task, err := editFromEnvironment(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{task.ID}, taskIDs(srv))
}

func taskIDs(srv *qwenedittest.Server) []string {
	var ids []string
	for _, task := range srv.Tasks() {
		ids = append(ids, task.ID)
	}
	return ids
}

func TestRunTLSPrintsTheCertificateFile(t *testing.T) {
	certFile := filepath.Join(t.TempDir(), "fake cert.pem")
	var stdout syncBuffer
	srv := startRun(t, []string{"-addr", "127.0.0.1:0", "-key", "it's", "-duration", "0s", "-tls", "-cert-out", certFile}, &stdout)
	out := stdout.String()
	assert.Contains(t, out, "  export MULEROUTER_API_KEY='it'\\''s'\n", "quoted for the shell")
	assert.Contains(t, out, "  export SSL_CERT_FILE='"+certFile+"'\n")
	env := exports(t, out)
	assert.Equal(t, map[string]string{"MULEROUTER_BASE_URL": srv.URL(), "MULEROUTER_API_KEY": "it's", "SSL_CERT_FILE": certFile}, env)
	switch runtime.GOOS {
	case "darwin", "ios", "windows", "plan9":
		t.Skipf("Go does not read SSL_CERT_FILE on %s", runtime.GOOS)
	}
	childOut, err := editWithEnvironment(t, env)
	require.NoError(t, err, "%s", childOut)
	assert.Contains(t, childOut, "edited: task ")

	delete(env, "SSL_CERT_FILE")
	childOut, err = editWithEnvironment(t, env)
	assert.Error(t, err, "the SSL_CERT_FILE line is needed")
	assert.Contains(t, childOut, "certificate")
	assert.Len(t, srv.Tasks(), 1, "the untrusted server got no task")
}

func TestRunTLSPrintsTheCertificateFileAbsolute(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	var stdout syncBuffer
	startRun(t, []string{"-addr", "127.0.0.1:0", "-tls", "-cert-out", "fake.pem"}, &stdout)
	assert.Equal(t, filepath.Join(dir, "fake.pem"), exports(t, stdout.String())["SSL_CERT_FILE"],
		"the line works from another terminal's folder")
}

func TestRunTLSWithoutCertOutSaysGoClientsNeedIt(t *testing.T) {
	var stdout syncBuffer
	srv := startRun(t, []string{"-addr", "127.0.0.1:0", "-tls"}, &stdout)
	out := stdout.String()
	assert.Contains(t, out, "  export MULEROUTER_BASE_URL="+srv.URL()+"\n")
	assert.Contains(t, out, "Go clients such as qwenedit need -cert-out FILE to trust this fake")
	assert.NotContains(t, out, "  export SSL_CERT_FILE", "no file to name")
}

func TestShellWord(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8080": "http://127.0.0.1:8080",
		"qwenedittest-key":      "qwenedittest-key",
		"https://[::1]:8080":    "'https://[::1]:8080'",
		"a b":                   "'a b'",
		"it's":                  `'it'\''s'`,
		"$HOME":                 "'$HOME'",
		"":                      "''",
	} {
		assert.Equal(t, want, shellWord(in), in)
	}
}

// exports reads the "export NAME=VALUE" lines of the program's output as a
// POSIX shell would (single quotes only: shellWord uses nothing else).
func exports(t *testing.T, out string) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		assign, ok := strings.CutPrefix(line, "  export ")
		if !ok {
			continue
		}
		name, word, ok := strings.Cut(assign, "=")
		require.True(t, ok, line)
		var value strings.Builder
		for quoted := false; word != ""; word = word[1:] {
			switch {
			case word[0] == '\'':
				quoted = !quoted
			case word[0] == '\\' && !quoted && len(word) > 1:
				word = word[1:]
				value.WriteByte(word[0])
			default:
				require.False(t, !quoted && strings.ContainsRune(" \t#;&|<>()$`\"", rune(word[0])), "unquoted %q in %q", word[0], line)
				value.WriteByte(word[0])
			}
		}
		env[name] = value.String()
	}
	return env
}

// helperEnv marks the re-executed test binary that edits like qwenedit
// would, with only the environment the fake printed.
const helperEnv = "FAKESERVER_TEST_EDIT_HELPER"

// editWithEnvironment runs editFromEnvironment in a child process whose
// environment is this one's without any MuleRouter or certificate setting,
// plus env: a child is the only way to make Go read SSL_CERT_FILE afresh.
func editWithEnvironment(t *testing.T, env map[string]string) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperEditFromEnvironment$", "-test.v")
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "MULEROUTER_") && !strings.HasPrefix(name, "SSL_CERT_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, helperEnv+"=1")
	for name, value := range env {
		cmd.Env = append(cmd.Env, name+"="+value)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestHelperEditFromEnvironment is the child of editWithEnvironment.
func TestHelperEditFromEnvironment(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		t.Skip("run by editWithEnvironment")
	}
	task, err := editFromEnvironment(t.Context())
	require.NoError(t, err)
	fmt.Printf("edited: task %s\n", task.ID)
}

// editFromEnvironment edits with a client that knows only the environment
// (MULEROUTER_API_KEY, MULEROUTER_BASE_URL, and the system's certificates,
// which SSL_CERT_FILE may name), as the qwenedit command reads them, and
// saves nothing.
func editFromEnvironment(ctx context.Context) (*qwenedit.Task, error) {
	client, err := qwenedit.NewClient()
	if err != nil {
		return nil, err
	}
	task, err := client.Edit(ctx, &qwenedit.EditRequest{
		Images: []qwenedit.Image{qwenedit.ImageURL("https://example.com/cat.png")},
		Prompt: "Give the cat a hat",
	}, qwenedit.WithPollInterval(time.Millisecond))
	if err == nil && len(task.Images) == 0 {
		err = errors.New("no result image")
	}
	return task, err
}

// syncBuffer is a buffer that the running program and the test may use at the same time.
type syncBuffer = lockedbuf.Buffer
