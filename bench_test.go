package qwenedit_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/seed-b62e15c8/qwenedit"
	"github.com/seed-b62e15c8/qwenedit/internal/imageinfo"
	"github.com/seed-b62e15c8/qwenedit/internal/imagetest"
)

const benchTaskJSON = `{"task_info":{"id":"8e1e315e-b50d-4334-a231-be7d19a372f4","status":"pending","created_at":"2026-01-01T00:00:00.000Z","updated_at":"2026-01-01T00:00:00.000Z"}}`

// sinkServer reads and discards every body and answers like the API.
func sinkServer(b *testing.B) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusAccepted)
		}
		_, _ = io.WriteString(w, benchTaskJSON)
	}))
	b.Cleanup(srv.Close)
	return srv
}

type benchCase struct {
	name   string
	images [][]byte
}

// benchCases are one small image, three small images, and three images of
// almost 10 MB each (9,987,233 bytes, just under MaxImageBytes; PNG noise
// does not compress, so its size is real).
func benchCases(b *testing.B) []benchCase {
	small := imagetest.MustEncode(b, imageinfo.PNG, 512, 512)
	var big [][]byte
	for i := range 3 {
		img, err := imagetest.NoisePNG(1824, 1824, uint64(i+1))
		if err != nil {
			b.Fatal(err)
		}
		if len(img) > qwenedit.MaxImageBytes {
			b.Fatalf("fixture too big: %d", len(img))
		}
		big = append(big, img)
	}
	return []benchCase{
		{"1x" + sizeLabel(small), [][]byte{small}},
		{"3x" + sizeLabel(small), [][]byte{small, small, small}},
		{"3x" + sizeLabel(big[0]), big},
	}
}

func sizeLabel(b []byte) string {
	if len(b) >= 1<<20 {
		return fmt.Sprintf("%.1fMiB", float64(len(b))/(1<<20))
	}
	return fmt.Sprintf("%dKiB", len(b)>>10)
}

// naiveBody is how the vendor's example and most clients build the request:
// every image as a base64 string inside one json.Marshal.
func naiveBody(images [][]byte) ([]byte, error) {
	req := struct {
		Images []string `json:"images"`
		Prompt string   `json:"prompt"`
	}{Prompt: "Turn the sky purple"}
	for _, img := range images {
		req.Images = append(req.Images, "data:image/png;base64,"+base64.StdEncoding.EncodeToString(img))
	}
	return json.Marshal(req)
}

func postAndDecode(b *testing.B, hc *http.Client, url string, body []byte) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer bench")
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	var out struct {
		TaskInfo struct{ ID string } `json:"task_info"`
	}
	err = json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if err != nil || out.TaskInfo.ID == "" {
		b.Fatal("bad answer", err)
	}
}

// BenchmarkSubmit compares, in one run, the SDK's streaming Submit with a
// naive client (json.Marshal of base64 strings) and with the floor: a bare
// net/http POST of the same body already encoded, to the same local server.
func BenchmarkSubmit(b *testing.B) {
	srv := sinkServer(b)
	client, err := qwenedit.NewClient(qwenedit.WithAPIKey("bench"), qwenedit.WithBaseURL(srv.URL))
	if err != nil {
		b.Fatal(err)
	}
	url := srv.URL + "/vendors/alibaba/v1/qwen-image-edit-max/generation"
	for _, bc := range benchCases(b) {
		var total int64
		for _, img := range bc.images {
			total += int64(len(img))
		}
		b.Run("impl=streaming/images="+bc.name, func(b *testing.B) {
			req := &qwenedit.EditRequest{Prompt: "Turn the sky purple"}
			for _, img := range bc.images {
				req.Images = append(req.Images, qwenedit.ImageBytes(img))
			}
			b.SetBytes(total)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := client.Submit(context.Background(), req); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("impl=naive/images="+bc.name, func(b *testing.B) {
			b.SetBytes(total)
			b.ReportAllocs()
			for b.Loop() {
				body, err := naiveBody(bc.images)
				if err != nil {
					b.Fatal(err)
				}
				postAndDecode(b, srv.Client(), url, body)
			}
		})
		b.Run("impl=floor/images="+bc.name, func(b *testing.B) {
			body, err := naiveBody(bc.images)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(total)
			b.ReportAllocs()
			for b.Loop() {
				postAndDecode(b, srv.Client(), url, body)
			}
		})
	}
}

// BenchmarkGet compares Get with a bare net/http GET and encoding/json decode.
func BenchmarkGet(b *testing.B) {
	srv := sinkServer(b)
	client, err := qwenedit.NewClient(qwenedit.WithAPIKey("bench"), qwenedit.WithBaseURL(srv.URL))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("impl=sdk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := client.Get(context.Background(), "8e1e315e-b50d-4334-a231-be7d19a372f4"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=bare", func(b *testing.B) {
		url := srv.URL + "/vendors/alibaba/v1/qwen-image-edit-max/generation/8e1e315e-b50d-4334-a231-be7d19a372f4"
		hc := srv.Client()
		b.ReportAllocs()
		for b.Loop() {
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			req.Header.Set("Authorization", "Bearer bench")
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			var out struct {
				TaskInfo struct {
					ID, Status string
				} `json:"task_info"`
				Images []string `json:"images"`
			}
			err = json.NewDecoder(resp.Body).Decode(&out)
			resp.Body.Close()
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}
