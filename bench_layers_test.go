package qwenedit

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/seed-b62e15c8/qwenedit/internal/imageinfo"
	"github.com/seed-b62e15c8/qwenedit/internal/imagetest"
	"github.com/seed-b62e15c8/qwenedit/internal/sendtrace"
)

// BenchmarkSubmitLayers says where the time of a small submit (three
// 2 KiB images) goes: it starts from a bare net/http POST of the body
// already encoded (impl=floor) and adds what Submit does, one layer per
// implementation, each including the ones before:
//
//	headers: the SDK's http.Client (the key guard) and headers (User-Agent, Accept)
//	timeout: a per-attempt timeout context (WithAttemptTimeout)
//	trace:   the httptrace hooks that tell "never sent" from "may exist"
//	call:    the SDK's request path (send.go): the body built from the images, retries, reading and decoding the answer
//	submit:  Client.Submit: validation and the body's assembly too
//
// and, for scale, impl=floor+5us: the floor after 5 µs of pure CPU work
// (a busy loop) before each POST: what any client-side work of that size
// costs in this benchmark, whatever it does.
// Run it in interleaved rounds, as BENCHMARKS.md says; the ratios to the
// floor, not the times, are what carries over to another machine.
func BenchmarkSubmitLayers(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"task_info":{"id":"8e1e315e-b50d-4334-a231-be7d19a372f4","status":"pending","created_at":"2026-01-01T00:00:00.000Z","updated_at":"2026-01-01T00:00:00.000Z"}}`)
	}))
	b.Cleanup(srv.Close)
	c, err := NewClient(WithAPIKey("bench"), WithBaseURL(srv.URL))
	if err != nil {
		b.Fatal(err)
	}
	small := imagetest.MustEncode(b, imageinfo.PNG, 512, 512)
	req := &EditRequest{Prompt: "Turn the sky purple", Images: []Image{ImageBytes(small), ImageBytes(small), ImageBytes(small)}}
	body, err := c.buildBody(context.Background(), req)
	if err != nil {
		b.Fatal(err)
	}
	raw, err := body.AppendTo(nil)
	if err != nil {
		b.Fatal(err)
	}
	bareTransport := http.DefaultTransport.(*http.Transport).Clone()
	bareTransport.MaxIdleConnsPerHost = 64
	bare := &http.Client{Transport: bareTransport}
	url := srv.URL + c.submitPath

	type layers struct{ headers, timeout, trace bool }
	post := func(l layers) {
		ctx := context.Background()
		hc := bare
		if l.timeout {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, c.cfg.retry.attemptTimeout)
			defer cancel()
		}
		if l.trace {
			ctx = httptrace.WithClientTrace(ctx, (&sendtrace.Trace{}).Hooks())
		}
		r, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(raw))
		if err != nil {
			b.Fatal(err)
		}
		r.Header.Set("Authorization", "Bearer bench")
		r.Header.Set("Content-Type", "application/json")
		if l.headers {
			hc = c.hc
			r.Header.Set("User-Agent", c.userAgent)
			r.Header.Set("Accept", "application/json")
		}
		resp, err := hc.Do(r)
		if err != nil {
			b.Fatal(err)
		}
		var out struct {
			TaskInfo struct{ ID string } `json:"task_info"`
		}
		err = json.NewDecoder(resp.Body).Decode(&out)
		_ = resp.Body.Close()
		if err != nil || out.TaskInfo.ID == "" {
			b.Fatal("bad answer", err)
		}
	}
	impls := []struct {
		name string
		run  func()
	}{
		{"impl=floor", func() { post(layers{}) }},
		{"impl=floor+5us", func() { busy(5 * time.Microsecond); post(layers{}) }},
		{"impl=headers", func() { post(layers{headers: true}) }},
		{"impl=timeout", func() { post(layers{headers: true, timeout: true}) }},
		{"impl=trace", func() { post(layers{headers: true, timeout: true, trace: true}) }},
		{"impl=call", func() {
			if _, err := c.callTask(context.Background(), apiCall{method: http.MethodPost, path: c.submitPath, body: body}); err != nil {
				b.Fatal(err)
			}
		}},
		{"impl=submit", func() {
			if _, err := c.Submit(context.Background(), req); err != nil {
				b.Fatal(err)
			}
		}},
	}
	if f := flag.Lookup("reverse"); f != nil && f.Value.String() == "true" {
		slices.Reverse(impls) // tools/bench-rounds.sh -R, as bench_test.go's runImpls
	}
	for _, im := range impls {
		b.Run(im.name, func(b *testing.B) {
			b.ReportAllocs()
			im.run() // a warm connection, then no one's garbage: as bench_test.go's warmUp
			runtime.GC()
			for b.Loop() {
				im.run()
			}
		})
	}
}

// busySink keeps busy's loop from being optimised away.
var busySink int

// busy spends d of CPU time on nothing.
func busy(d time.Duration) {
	for end := time.Now().Add(d); time.Now().Before(end); {
		busySink++
	}
}
