package qwenedit

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConcurrentSmallBodiesStayApart: many small submits at once, each with
// its own image, over HTTP/1.1 and HTTP/2: the server gets every body
// intact, never bytes of another request. Some answers come before the
// body is read, so that writers are still unwinding when Do returns.
// Under -race, a body shared by two requests is also a reported race.
func TestConcurrentSmallBodiesStayApart(t *testing.T) {
	const workers, each, variants = 8, 25, 4
	images := make([][]byte, variants)
	for k := range images {
		images[k] = pngBytes(t, 400+k, 400) // different lengths, so a stale tail would show
	}
	for _, h2 := range []bool{false, true} {
		var requests, checked atomic.Int64
		var mu sync.Mutex
		var mismatches []string
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := requests.Add(1)
			if n%3 == 0 {
				// An early answer: the body is left unread.
				w.WriteHeader(http.StatusAccepted)
				_, _ = fmt.Fprintf(w, `{"task_info":{"id":"t-%d","status":"pending"}}`, n)
				return
			}
			if problem := checkBody(r.Body, images); problem != "" {
				mu.Lock()
				mismatches = append(mismatches, problem)
				mu.Unlock()
			}
			checked.Add(1)
			w.WriteHeader(http.StatusAccepted)
			_, _ = fmt.Fprintf(w, `{"task_info":{"id":"t-%d","status":"pending"}}`, n)
		}))
		srv.EnableHTTP2 = h2
		srv.StartTLS()
		t.Cleanup(srv.Close)
		c, err := NewClient(WithAPIKey(testKey), WithBaseURL(srv.URL), WithHTTPClient(srv.Client()))
		require.NoError(t, err)

		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		for g := range workers {
			wg.Go(func() {
				for i := range each {
					k := (g + i) % variants
					req := &EditRequest{Prompt: "variant " + strconv.Itoa(k), Images: []Image{ImageBytes(images[k])}}
					if _, err := c.Submit(context.Background(), req); err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("h2=%v: %v", h2, err)
		}
		assert.Empty(t, mismatches, "h2=%v", h2)
		assert.Greater(t, checked.Load(), int64(workers*each/2), "h2=%v: most bodies were checked", h2)
	}
}

// checkBody reads an edit request and says what is wrong with it: its
// image must be images[k] for the k its prompt names.
func checkBody(r io.Reader, images [][]byte) string {
	raw, err := io.ReadAll(r)
	if err != nil {
		return "reading: " + err.Error()
	}
	var body struct {
		Prompt string   `json:"prompt"`
		Images []string `json:"images"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return fmt.Sprintf("not JSON (%v): %.80q", err, raw)
	}
	k, err := strconv.Atoi(strings.TrimPrefix(body.Prompt, "variant "))
	if err != nil || k < 0 || k >= len(images) || len(body.Images) != 1 {
		return fmt.Sprintf("prompt %q with %d images", body.Prompt, len(body.Images))
	}
	data, ok := strings.CutPrefix(body.Images[0], "data:image/png;base64,")
	img, err := base64.StdEncoding.DecodeString(data)
	if !ok || err != nil || !bytes.Equal(img, images[k]) {
		return fmt.Sprintf("%s: the image is not its own", body.Prompt)
	}
	return ""
}
