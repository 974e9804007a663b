package qwenedit

import (
	"context"
	"log/slog"
)

// event is one HTTP call as its log records and the retry policy see it.
type event struct {
	method, path string
	attempt      int
	paid         bool // a submit (apiCall.paid)
}

func (e event) attrs(extra ...slog.Attr) []slog.Attr {
	attrs := []slog.Attr{
		slog.String("method", e.method),
		slog.String("path", e.path),
		slog.Int("attempt", e.attempt),
	}
	return append(attrs, extra...)
}

// log writes one record when a logger is configured. Records carry method,
// path, status and trace parent, never headers, so the key cannot leak.
func (c *Client) log(ctx context.Context, level slog.Level, msg string, attrs ...slog.Attr) {
	if c.logs(ctx, level) {
		c.cfg.logger.LogAttrs(ctx, level, msg, attrs...)
	}
}

// logs reports whether a record at level would be written, so that hot
// paths skip building attributes nobody reads.
func (c *Client) logs(ctx context.Context, level slog.Level) bool {
	return c.cfg.logger != nil && c.cfg.logger.Enabled(ctx, level)
}
