package qwenedit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/seed-b62e15c8/qwenedit/internal/imageinfo"
	"golang.org/x/sync/errgroup"
)

// Download streams the image at a result URL into w and returns the bytes
// written. The API key is sent only if the URL is on the API's own origin,
// never to a result host. It fails if the answer is not an image or exceeds
// the download cap (WithMaxDownloadSize). It retries network errors and the
// answers 408, 425, 429 and every 5xx (honouring Retry-After), but only
// as long as nothing was written to w; other statuses fail at once, and an
// expired or unknown URL (403/404; result URLs live 24 hours) gives an
// error matching ErrResultExpired.
//
// Each attempt may take the per-attempt timeout (WithAttemptTimeout) plus
// one second per 256 KiB of the download cap (5 min 20 s in all with the
// defaults), so that the largest image the cap allows still arrives at
// 256 KiB/s; an attempt that runs out of time gives an error matching
// ErrAttemptTimeout. Errors and log records show a result URL without its
// query, which holds the URL's signature: https://host/path?… .
func (c *Client) Download(ctx context.Context, resultURL string, w io.Writer) (int64, error) {
	n, _, err := c.download(ctx, resultURL, w)
	return n, err
}

// SaveImages downloads every result of task into dir (created if needed) as
// <task id>_<index>.<ext>, the extension taken from the image's format, and
// returns the paths written, in the order of task.Images. All results (up
// to limits.MaxN) are fetched at once, so that six take about as long as one. Files appear complete or not at all: each is written
// to a temporary name first and renamed. They are created with mode 0666
// less the umask, like any file the user makes. On an error, the first one
// is returned with the paths of the images saved before the others were
// stopped.
func (c *Client) SaveImages(ctx context.Context, task *Task, dir string) ([]string, error) {
	if task == nil || len(task.Images) == 0 {
		return nil, errors.New("qwenedit: SaveImages: the task has no result images")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("qwenedit: SaveImages: %w", err)
	}
	paths := make([]string, len(task.Images))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.cfg.saveParallel)
	for i, u := range task.Images {
		g.Go(func() error {
			p, err := c.saveOne(gctx, u, dir, fmt.Sprintf("%s_%d", safeFileName(task.ID), i))
			if err != nil {
				return fmt.Errorf("qwenedit: SaveImages: image %d of task %s: %w", i, task.ID, err)
			}
			paths[i] = p
			return nil
		})
	}
	err := g.Wait()
	return slices.DeleteFunc(paths, func(p string) bool { return p == "" }), err
}

func (c *Client) saveOne(ctx context.Context, resultURL, dir, stem string) (path string, err error) {
	tmp, err := createPart(dir, stem)
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	_, format, err := c.download(ctx, resultURL, tmp)
	if err != nil {
		return "", err
	}
	// Flushed before the rename, so that a crash cannot leave a complete
	// name over incomplete bytes (callers record "saved" right after).
	if err = tmp.Sync(); err != nil {
		return "", err
	}
	if err = tmp.Close(); err != nil {
		return "", err
	}
	path = filepath.Join(dir, stem+extensionFor(format))
	if err = os.Rename(tmp.Name(), path); err != nil {
		return "", err
	}
	return path, nil
}

// createPart creates a new hidden temporary file in dir. Unlike
// os.CreateTemp (mode 0600) it asks for 0666, so the saved image gets the
// same permissions as any file the user's umask allows.
func createPart(dir, stem string) (*os.File, error) {
	var err error
	for range 10 {
		name := filepath.Join(dir, fmt.Sprintf(".%s.%d.part", stem, rand.Uint32()))
		var f *os.File
		f, err = os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if !errors.Is(err, fs.ErrExist) {
			return f, err
		}
	}
	return nil, err
}

// download does the work of Download and also returns the image's format,
// sniffed from its bytes.
func (c *Client) download(ctx context.Context, resultURL string, w io.Writer) (int64, imageinfo.Format, error) {
	if err := c.ready(); err != nil {
		return 0, "", err
	}
	u, err := url.Parse(resultURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return 0, "", fmt.Errorf("qwenedit: download: %q is not an http(s) URL", redactURLString(resultURL))
	}
	cw := &countingWriter{w: w}
	var format imageinfo.Format
	err = c.send(ctx, apiCall{method: http.MethodGet, url: u, read: func(resp *http.Response) error {
		var err error
		format, err = c.copyImage(cw, resp)
		if err != nil && (cw.n > 0 || cw.err != nil) {
			// Bytes already went to w, or w itself failed: a retry would
			// duplicate them or fail the same way.
			return finalError{err}
		}
		return err
	}})
	if err != nil {
		var apiErr *APIError
		if errors.As(err, &apiErr) && (apiErr.StatusCode == http.StatusForbidden || apiErr.StatusCode == http.StatusNotFound) {
			err = fmt.Errorf("%w: %w", ErrResultExpired, err)
		}
		return cw.n, "", err
	}
	return cw.n, format, nil
}

// copyImage checks that a 2xx answer is an image within the download cap
// and copies it to w. An answer that is empty or does not sniff as an image
// (an error page served as image/png, say) is an error whatever its
// Content-Type, and nothing is written for it.
func (c *Client) copyImage(w *countingWriter, resp *http.Response) (imageinfo.Format, error) {
	limit := c.cfg.maxDownload
	if resp.ContentLength > limit {
		return "", finalError{fmt.Errorf("%w: %d bytes, the cap is %d", ErrResponseTooLarge, resp.ContentLength, limit)}
	}
	head := make([]byte, imageinfo.SniffLen)
	n, err := io.ReadFull(resp.Body, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", err
	}
	format, sniffErr := imageinfo.Sniff(head[:n])
	if sniffErr != nil {
		what := "is not an image"
		if n == 0 {
			what = "is empty"
		}
		return "", fmt.Errorf("%w: the answer %s (Content-Type %q)", ErrUnexpectedResponse, what, resp.Header.Get("Content-Type"))
	}
	body := io.MultiReader(bytes.NewReader(head[:n]), resp.Body)
	copied, err := io.Copy(w, io.LimitReader(body, addSat(limit, 1)))
	switch {
	case copied > limit:
		return "", finalError{fmt.Errorf("%w: more than %d bytes", ErrResponseTooLarge, limit)}
	case w.err != nil:
		// The caller's writer failed, not the network.
		return "", finalError{fmt.Errorf("writing the image: %w", w.err)}
	case err != nil:
		return "", err
	case resp.ContentLength >= 0 && copied != resp.ContentLength:
		return "", fmt.Errorf("got %d of %d bytes: %w", copied, resp.ContentLength, io.ErrUnexpectedEOF)
	}
	return format, nil
}

// redactURL is u without credentials, query and fragment; a removed query
// shows as "?…". Result URLs are signed in their query.
func redactURL(u *url.URL) string {
	r := *u
	r.RawQuery, r.ForceQuery, r.Fragment, r.RawFragment = "", false, "", ""
	s := r.Redacted()
	if u.RawQuery != "" || u.ForceQuery {
		s += "?…"
	}
	return s
}

// redactURLString is redactURL for a string that may not parse: then
// everything from the first '?' or '#' is cut.
func redactURLString(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return redactURL(u)
	}
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		return raw[:i] + "?…"
	}
	return raw
}

// extensionFor is the file extension of a saved image of format f.
func extensionFor(f imageinfo.Format) string {
	if f == imageinfo.JPEG {
		return ".jpg"
	}
	return "." + string(f)
}

// safeFileName keeps an ID usable as a file name on every OS.
func safeFileName(id string) string {
	var b strings.Builder
	for _, r := range id {
		if r < 128 && (r == '-' || r == '_' || r == '.' || ('0' <= r && r <= '9') || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z')) {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	s := strings.Trim(b.String(), ".")
	if s == "" {
		return "task"
	}
	return s
}

// countingWriter counts the bytes written to w and keeps w's error, so
// that a failing destination is not mistaken for a failing download.
type countingWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}
