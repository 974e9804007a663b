package qwenedit_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-b62e15c8/qwenedit"
)

// TestPermanentFailuresAreNotRetried: a server whose certificate this
// machine does not trust, or that does not speak TLS behind an https://
// URL, gets one connection per call, and the error says what to do. A
// wait stops at the first such poll instead of polling until its timeout.
func TestPermanentFailuresAreNotRetried(t *testing.T) {
	answer := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"task_info":{"id":"t-1","status":"pending"}}`)
	})
	for _, tc := range []struct {
		name   string
		tls    bool
		advice string
		is     func(error) bool
	}{
		{"an untrusted certificate", true, "SSL_CERT_FILE", func(err error) bool {
			var v *tls.CertificateVerificationError
			return errors.As(err, &v)
		}},
		{"no TLS behind https", false, "does not speak TLS", func(err error) bool {
			return errors.Is(err, http.ErrSchemeMismatch)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(answer)
			var conns atomic.Int32
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					conns.Add(1)
				}
			}
			srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the failed handshakes
			var base string
			if tc.tls {
				srv.StartTLS()
				base = srv.URL
			} else {
				srv.Start()
				base = "https://" + strings.TrimPrefix(srv.URL, "http://")
			}
			defer srv.Close()
			// The default HTTP client: the system's roots, which do not
			// hold httptest's certificate.
			c, err := qwenedit.NewClient(qwenedit.WithAPIKey("test-key"), qwenedit.WithBaseURL(base),
				qwenedit.WithRetryBackoff(time.Millisecond, time.Millisecond))
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()

			_, err = c.Submit(ctx, faultRequest())
			require.Error(t, err)
			assert.True(t, tc.is(err), "%v", err)
			assert.Contains(t, err.Error(), "not retried: ")
			assert.Contains(t, err.Error(), tc.advice)
			assert.NotContains(t, err.Error(), "gave up after")
			var amb *qwenedit.AmbiguousSubmitError
			assert.False(t, errors.As(err, &amb), "no request left: %v", err)
			assert.Equal(t, int32(1), conns.Load(), "one connection, no retry")

			_, err = c.WaitForResult(ctx, "t-1", qwenedit.WithPollInterval(time.Millisecond))
			var we *qwenedit.WaitError
			require.ErrorAs(t, err, &we)
			assert.True(t, tc.is(err), "%v", err)
			assert.Equal(t, int32(2), conns.Load(), "the wait stopped at its first poll")
		})
	}
}
