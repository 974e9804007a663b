package main

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-b62e15c8/qwenedit/qwenedittest"
)

// TestUntrustedCertificateFailsAtOnceWithAdvice: a server whose
// certificate this machine does not trust (the fake with -tls, before its
// -cert-out file is trusted) fails the command at its first connection,
// and the message says how to trust it.
func TestUntrustedCertificateFailsAtOnceWithAdvice(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t, qwenedittest.WithTLS())
	o := runCLI(context.Background(), e, "status", "00000000-0000-4000-8000-000000000000")
	require.Equal(t, exitFailure, o.code, o.stderr)
	assert.Contains(t, o.lastLine(), "certificate")
	assert.Contains(t, o.lastLine(), "-cert-out FILE")
	assert.Contains(t, o.lastLine(), "SSL_CERT_FILE=FILE")
	assert.NotContains(t, o.lastLine(), "gave up after")
	assert.Equal(t, 1, srv.Connections(), "one connection: no retry")
}
