package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-b62e15c8/qwenedit/examples/internal/demotest"
	"github.com/seed-b62e15c8/qwenedit/qwenedittest"
)

func TestRunServesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout demotest.SyncBuffer
	ready := make(chan *qwenedittest.Server, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-key", "test-key-1", "-duration", "0s", "-vocab", "queued"},
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
