package qwenedit_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-b62e15c8/qwenedit"
	"github.com/seed-b62e15c8/qwenedit/internal/lockedbuf"
	"github.com/seed-b62e15c8/qwenedit/qwenedittest"
)

// TestRefusedStreamsAreRetried runs many concurrent submits on a fresh
// Client against net/http's own HTTP/2 server limited to one stream per
// connection. Until the client has read the server's SETTINGS it opens
// streams beyond the limit, and the server refuses them with
// RST_STREAM(REFUSED_STREAM): by RFC 9113 §8.7 no processing happened, so
// the submit is retried like one never sent. Every Submit succeeds, and
// the fake behind the server makes exactly one task per Submit.
func TestRefusedStreamsAreRetried(t *testing.T) {
	const submits = 50
	fake := qwenedittest.NewServer()
	defer fake.Close()
	target, err := url.Parse(fake.URL())
	require.NoError(t, err)

	var logs lockedbuf.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	front := httptest.NewUnstartedServer(httputil.NewSingleHostReverseProxy(target))
	front.EnableHTTP2 = true
	front.Config.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: 1}
	front.StartTLS()
	defer front.Close()

	for round := 0; round < 3; round++ {
		before := fake.SubmitCount()
		// A fresh transport each round: the race is on a new connection,
		// before the client knows the server's limit.
		hc := front.Client()
		c, err := qwenedit.NewClient(qwenedit.WithAPIKey(fake.APIKey()), qwenedit.WithBaseURL(front.URL), qwenedit.WithHTTPClient(hc), qwenedit.WithLogger(logger))
		require.NoError(t, err)

		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		var wg sync.WaitGroup
		errs := make([]error, submits)
		ids := make([]string, submits)
		for i := range submits {
			wg.Go(func() {
				info, err := c.Submit(ctx, faultRequest())
				errs[i] = err
				if err == nil {
					ids[i] = info.ID
				}
			})
		}
		wg.Wait()
		cancel()
		hc.CloseIdleConnections()

		seen := map[string]bool{}
		for i, err := range errs {
			if assert.NoError(t, err, "submit %d", i) {
				assert.False(t, seen[ids[i]], "task %s returned twice", ids[i])
				seen[ids[i]] = true
			}
		}
		assert.Equal(t, submits, fake.SubmitCount()-before, "round %d: one task per Submit", round)
	}
	// The test means something only if the server did refuse streams.
	assert.Positive(t, strings.Count(logs.String(), "not processed (REFUSED_STREAM"), "no stream was refused: the race this test is about did not happen")
}
