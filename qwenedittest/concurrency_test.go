package qwenedittest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-b62e15c8/qwenedit/internal/imageinfo"
)

// TestConcurrentUse runs many clients at once, together with the control
// methods, for the race detector.
func TestConcurrentUse(t *testing.T) {
	const workers = 200
	clk := newFakeClock()
	s := newTestServer(t, WithClock(clk.Now), WithTaskDuration(time.Second))
	tr := &http.Transport{MaxIdleConnsPerHost: workers}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	inline, err := json.Marshal(map[string]any{"images": []string{dataURI(t, imageinfo.PNG, 400, 400)}, "prompt": "p", "n": 2})
	require.NoError(t, err)

	do := func(method, url string, body []byte) (int, []byte, error) {
		var r io.Reader
		if body != nil {
			r = strings.NewReader(string(body))
		}
		req, err := http.NewRequest(method, url, r)
		if err != nil {
			return 0, nil, err
		}
		req.Header.Set("Authorization", "Bearer "+s.APIKey())
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		return resp.StatusCode, data, err
	}

	var wg sync.WaitGroup
	ids := make([]string, workers)
	errs := make(chan error, workers*4)
	for w := range workers {
		wg.Go(func() {
			body := []byte(validJSON)
			if w%20 == 0 {
				body = inline
			}
			status, data, err := do(http.MethodPost, s.URL()+submitPath, body)
			if err != nil || status != http.StatusAccepted {
				errs <- fmt.Errorf("submit: %d %s %w", status, data, err)
				return
			}
			var tb taskBody
			if err := json.Unmarshal(data, &tb); err != nil {
				errs <- err
				return
			}
			ids[w] = tb.TaskInfo.ID
			clk.Advance(10 * time.Millisecond) // time moves while others poll
			for {
				status, data, err := do(http.MethodGet, s.URL()+submitPath+"/"+tb.TaskInfo.ID, nil)
				if err != nil || status != http.StatusOK {
					errs <- fmt.Errorf("poll: %d %s %w", status, data, err)
					return
				}
				var got taskBody
				if err := json.Unmarshal(data, &got); err != nil {
					errs <- err
					return
				}
				if got.TaskInfo.Status == "failed" { // FailNextTask below
					return
				}
				if got.TaskInfo.Status == "completed" {
					if w%20 == 0 {
						// Several goroutines render the same image at once.
						for range 3 {
							wg.Go(func() {
								status, data, err := do(http.MethodGet, got.Images[1], nil)
								if err != nil || status != http.StatusOK || len(data) == 0 {
									errs <- fmt.Errorf("result: %d %w", status, err)
								}
							})
						}
					}
					return
				}
				clk.Advance(10 * time.Millisecond)
			}
		})
	}
	// The control and inspection methods, concurrently with the traffic.
	wg.Go(func() {
		for i := range 50 {
			s.Tasks()
			s.Requests()
			s.SubmitCount()
			s.Connections()
			s.PendingFaults()
			_ = len(s.Requests())
			if i%10 == 0 {
				s.FailNextTask(3001, "t", "d")
				s.InjectFault(Fault{Method: "GET", Kind: FaultUnknownStatus})
			}
			_ = s.SetTaskStatus("nope", "x")
			s.DeleteTask("nope")
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	assert.GreaterOrEqual(t, s.SubmitCount(), workers)
	seen := map[string]bool{}
	for _, id := range ids {
		assert.NotEmpty(t, id)
		assert.False(t, seen[id], "duplicate id %s", id)
		seen[id] = true
	}
}

// TestCloseLeavesNoGoroutines exercises every goroutine-starting path, then
// checks that Close leaves nothing behind.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	http.DefaultClient.CloseIdleConnections()
	before := runtime.NumGoroutine()

	tr := &http.Transport{}
	client := &http.Client{Transport: tr}
	s := NewServer()
	get := func(ctx context.Context, url string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+s.APIKey())
		return client.Do(req)
	}

	req, err := http.NewRequest(http.MethodPost, s.URL()+submitPath, strings.NewReader(validJSON))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+s.APIKey())
	resp, err := client.Do(req)
	require.NoError(t, err)
	var tb taskBody
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&tb))
	require.NoError(t, resp.Body.Close())
	resp, err = get(context.Background(), s.URL()+submitPath+"/"+tb.TaskInfo.ID)
	require.NoError(t, err)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&tb))
	require.NoError(t, resp.Body.Close())
	resp, err = get(context.Background(), tb.Images[0])
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	require.NoError(t, resp.Body.Close())

	// A hang released by the client, and a hang, a stall and an unread huge
	// body left for Close.
	s.InjectFault(Fault{Kind: FaultHang})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := get(ctx, s.URL()+submitPath+"/x"); err == nil {
			resp.Body.Close()
		}
	}()
	eventually(t, recorded(s, 4), "the hanging request arrives")
	cancel()
	<-done

	s.InjectFault(Fault{Kind: FaultHang})
	s.InjectFault(Fault{Kind: FaultStallBody})
	s.InjectFault(Fault{Kind: FaultHugeBody, Size: 1 << 40})
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if resp, err := get(context.Background(), s.URL()+submitPath+"/x"); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	eventually(t, recorded(s, 7), "the faulted requests arrive")

	s.Close()
	wg.Wait()
	tr.CloseIdleConnections()
	eventually(t, func() bool { return runtime.NumGoroutine() <= before }, "goroutines settle after Close")
}

// BenchmarkSubmitPoll measures one submit and one poll against a shared
// server, in parallel.
func BenchmarkSubmitPoll(b *testing.B) {
	s := NewServer()
	defer s.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: 256}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodPost, s.URL()+submitPath, strings.NewReader(validJSON))
			req.Header.Set("Authorization", "Bearer "+s.APIKey())
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			var tb taskBody
			_ = json.NewDecoder(resp.Body).Decode(&tb)
			resp.Body.Close()
			req, _ = http.NewRequest(http.MethodGet, s.URL()+submitPath+"/"+tb.TaskInfo.ID, nil)
			req.Header.Set("Authorization", "Bearer "+s.APIKey())
			resp, err = client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
