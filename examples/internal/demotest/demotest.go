// Package demotest holds the test helpers the example programs' tests share.
package demotest

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"github.com/seed-b62e15c8/qwenedit/qwenedittest"
)

// FakeAPI starts a qwenedittest server for the test and points the
// MULEROUTER_* environment at it, so that a program under test takes the
// same path as with a real key.
func FakeAPI(t *testing.T, opts ...qwenedittest.Option) *qwenedittest.Server {
	t.Helper()
	srv := qwenedittest.NewServer(opts...)
	t.Cleanup(srv.Close)
	t.Setenv("MULEROUTER_API_KEY", srv.APIKey())
	t.Setenv("MULEROUTER_BASE_URL", srv.URL())
	t.Setenv("MULEROUTER_SITE", "")
	return srv
}

// SyncBuffer is a bytes.Buffer that a running program and the test may use
// at the same time.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// RequestsTo counts the API requests with this method whose path ends in
// suffix, e.g. RequestsTo(srv, "POST", "/generation").
func RequestsTo(srv *qwenedittest.Server, method, suffix string) int {
	n := 0
	for _, r := range srv.Requests() {
		if r.Origin == qwenedittest.OriginAPI && r.Method == method && strings.HasSuffix(r.Path, suffix) {
			n++
		}
	}
	return n
}

// SavedPaths returns the paths a program printed as "saved <path>" lines.
func SavedPaths(stdout string) []string {
	var paths []string
	for line := range strings.Lines(stdout) {
		if p, ok := strings.CutPrefix(strings.TrimSpace(line), "saved "); ok {
			paths = append(paths, p)
		}
	}
	return paths
}
