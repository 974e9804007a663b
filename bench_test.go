package qwenedit_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/png"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"testing"
	"time"

	simdbase64 "github.com/segmentio/asm/base64"

	"github.com/seed-b62e15c8/qwenedit"
	"github.com/seed-b62e15c8/qwenedit/internal/imageinfo"
	"github.com/seed-b62e15c8/qwenedit/internal/imagetest"
	"github.com/seed-b62e15c8/qwenedit/internal/limits"
)

// reverseImpls runs each benchmark's implementations in the reverse order.
// tools/bench-rounds.sh -R passes it on every other round, so that no
// implementation always runs first in a fresh process (and pays for its
// warming up) or last.
var reverseImpls = flag.Bool("reverse", false, "run each benchmark's implementations in reverse order (tools/bench-rounds.sh -R alternates it)")

// impl is one implementation of a side-by-side benchmark.
type impl struct {
	name string
	run  func(b *testing.B)
}

// runImpls runs impls as sub-benchmarks, in order or, with -reverse, in
// reverse order.
func runImpls(b *testing.B, impls []impl) {
	if *reverseImpls {
		slices.Reverse(impls)
	}
	for _, im := range impls {
		b.Run(im.name, im.run)
	}
}

const benchTaskJSON = `{"task_info":{"id":"8e1e315e-b50d-4334-a231-be7d19a372f4","status":"pending","created_at":"2026-01-01T00:00:00.000Z","updated_at":"2026-01-01T00:00:00.000Z"}}`

// sinkServer reads and discards every body and answers like the API.
func sinkServer(b *testing.B) *httptest.Server {
	srv := httptest.NewServer(sinkHandler)
	b.Cleanup(srv.Close)
	return srv
}

// sinkRead is how much the bench server reads at once: a real server's
// read size (nginx's client body buffers, Go's own servers' copy buffers
// are in the tens to hundreds of KiB), so that the server side costs what
// it would, not a read per small block.
const sinkRead = 256 << 10

// sinkBufs are the bench server's read buffers, made once: a buffer made
// per request (or kept in a sync.Pool, which a collection empties) would
// count in the B/op of the client measured in the same process.
var sinkBufs = func() chan *[sinkRead]byte {
	c := make(chan *[sinkRead]byte, 8)
	for range cap(c) {
		c <- new([sinkRead]byte)
	}
	return c
}()

var sinkHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	buf := <-sinkBufs
	for {
		if _, err := r.Body.Read(buf[:]); err != nil {
			break
		}
	}
	sinkBufs <- buf
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodPost {
		w.WriteHeader(http.StatusAccepted)
	}
	_, _ = io.WriteString(w, benchTaskJSON)
})

type benchCase struct {
	name   string
	images [][]byte
}

// size is the raw bytes of the case's images.
func (bc benchCase) size() int64 {
	var n int64
	for _, img := range bc.images {
		n += int64(len(img))
	}
	return n
}

// benchCases are small images (one and three of 2 KiB), medium ones (one
// and three of about 60 KiB, the 15–100 KiB range of a web photo) and three
// images of almost 10 MB each (9,987,233 bytes, just under MaxImageBytes;
// PNG noise does not compress, so its size is real).
func benchCases(b *testing.B) []benchCase {
	small := imagetest.MustEncode(b, imageinfo.PNG, 512, 512)
	medium := mediumPNG(b)
	var big [][]byte
	for i := range 3 {
		img, err := imagetest.NoisePNG(1824, 1824, uint64(i+1))
		if err != nil {
			b.Fatal(err)
		}
		if len(img) > limits.MaxImageBytes {
			b.Fatalf("fixture too big: %d", len(img))
		}
		big = append(big, img)
	}
	return []benchCase{
		{"1x" + sizeLabel(small), [][]byte{small}},
		{"3x" + sizeLabel(small), [][]byte{small, small, small}},
		{"1x" + sizeLabel(medium), [][]byte{medium}},
		{"3x" + sizeLabel(medium), [][]byte{medium, medium, medium}},
		{"3x" + sizeLabel(big[0]), big},
	}
}

// mediumPNG is a 400×400 gray PNG whose top 150 rows are noise: about 59
// KiB, a valid input (sides of at least 384 px) of a web photo's size.
func mediumPNG(b *testing.B) []byte {
	img := image.NewGray(image.Rect(0, 0, 400, 400))
	rng := rand.New(rand.NewPCG(9, 9))
	for i := range 400 * 150 {
		img.Pix[i] = byte(rng.Uint32())
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
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

func postAndDecode(b *testing.B, hc *http.Client, url string, body io.Reader, size int64) {
	req, err := http.NewRequest(http.MethodPost, url, body)
	if err != nil {
		b.Fatal(err)
	}
	req.ContentLength = size
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

// handmadeBody is the request body a careful user would stream by hand:
// literals around the images, each image base64-encoded with the SIMD
// encoder straight into the caller's buffer (net/http's), nothing encoded
// ahead. Its bytes are naiveBody's (TestHandmadeBodyIsTheNaiveBody).
type handmadeBody struct {
	parts   [][]byte // literal, image, literal, ..., literal
	i, off  int      // the part being read, and the offset in it (raw bytes of an image)
	pending []byte   // encoded bytes a too-small buffer could not take
	quantum [4]byte
	size    int64
}

func newHandmadeBody(images [][]byte) *handmadeBody {
	h := &handmadeBody{}
	lit := `{"images":["data:image/png;base64,`
	for i, img := range images {
		if i > 0 {
			lit = `","data:image/png;base64,`
		}
		h.parts = append(h.parts, []byte(lit), img)
		h.size += int64(len(lit) + base64.StdEncoding.EncodedLen(len(img)))
	}
	end := `"],"prompt":"Turn the sky purple"}`
	h.parts = append(h.parts, []byte(end))
	h.size += int64(len(end))
	return h
}

func (h *handmadeBody) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(h.pending) > 0 {
			c := copy(p[n:], h.pending)
			h.pending, n = h.pending[c:], n+c
			continue
		}
		if h.i == len(h.parts) {
			break
		}
		part := h.parts[h.i]
		if h.i%2 == 0 {
			c := copy(p[n:], part[h.off:])
			h.off, n = h.off+c, n+c
		} else {
			n += h.encode(p[n:], part[h.off:])
		}
		if h.off == len(part) {
			h.i, h.off = h.i+1, 0
		}
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// encode encodes as much of rest as fits into p, in whole 3-byte groups
// but for the image's end, and returns the bytes written to p.
func (h *handmadeBody) encode(p, rest []byte) int {
	room := len(p) / 4 * 3
	switch {
	case room >= len(rest):
		simdbase64.StdEncoding.Encode(p, rest)
		h.off += len(rest)
		return simdbase64.StdEncoding.EncodedLen(len(rest))
	case room > 0:
		simdbase64.StdEncoding.Encode(p, rest[:room])
		h.off += room
		return room / 3 * 4
	}
	q := min(3, len(rest))
	simdbase64.StdEncoding.Encode(h.quantum[:], rest[:q])
	h.off += q
	h.pending = h.quantum[:simdbase64.StdEncoding.EncodedLen(q)]
	return 0
}

// BenchmarkSubmit compares, in the same rounds, the SDK's Submit
// (impl=sdk) with three clients a user could write instead, all on the
// same kind of net/http client to the same local server:
//   - impl=floor: a bare POST of the body already encoded, the least any
//     client can do per call;
//   - impl=handmade: the best streaming client written by hand, the JSON
//     around the images as literals and each image base64-encoded with the
//     SIMD encoder straight into net/http's buffer, no read-ahead;
//   - impl=marshal: the usual client (openai-go, replicate-go, the
//     vendor's example): json.Marshal of base64 strings, then the POST.
//
// The impl=limit-* cases are what the machine does with the same bytes,
// for scale: base64 with encoding/base64 and with the SIMD encoder, a
// memcpy of the encoded body, and raw loopback TCP of its length. Run it
// in interleaved rounds (tools/bench-rounds.sh).
func BenchmarkSubmit(b *testing.B) {
	srv := sinkServer(b)
	client, err := qwenedit.NewClient(qwenedit.WithAPIKey("bench"), qwenedit.WithBaseURL(srv.URL))
	if err != nil {
		b.Fatal(err)
	}
	hc := &http.Client{Transport: benchTransport()}
	url := srv.URL + "/vendors/alibaba/v1/qwen-image-edit-max/generation"
	for _, bc := range benchCases(b) {
		total := bc.size()
		body, err := naiveBody(bc.images)
		if err != nil {
			b.Fatal(err)
		}
		impls := []impl{
			sdkSubmit("impl=sdk/images="+bc.name, client, bc),
			postImpl("impl=floor/images="+bc.name, total, func() { postAndDecode(b, hc, url, bytes.NewReader(body), int64(len(body))) }),
			postImpl("impl=handmade/images="+bc.name, total, func() {
				hb := newHandmadeBody(bc.images)
				postAndDecode(b, hc, url, hb, hb.size)
			}),
			postImpl("impl=marshal/images="+bc.name, total, func() {
				body, err := naiveBody(bc.images)
				if err != nil {
					b.Fatal(err)
				}
				postAndDecode(b, hc, url, bytes.NewReader(body), int64(len(body)))
			}),
		}
		runImpls(b, append(impls, machineLimits(bc, len(body))...))
	}
}

// postImpl is an implementation that calls post, which sends size bytes
// of images.
func postImpl(name string, size int64, post func()) impl {
	return impl{name, func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		warmUp(post)
		for b.Loop() {
			post()
		}
	}}
}

// sdkSubmit is the implementation that submits bc's images with client.
func sdkSubmit(name string, client *qwenedit.Client, bc benchCase) impl {
	return impl{name, func(b *testing.B) {
		req := &qwenedit.EditRequest{Prompt: "Turn the sky purple"}
		for _, img := range bc.images {
			req.Images = append(req.Images, qwenedit.ImageBytes(img))
		}
		b.SetBytes(bc.size())
		b.ReportAllocs()
		submit := func() {
			if _, err := client.Submit(context.Background(), req); err != nil {
				b.Fatal(err)
			}
		}
		warmUp(submit)
		for b.Loop() {
			submit()
		}
	}}
}

// warmUp makes every implementation start alike: a call outside the timer
// (a connection in the pool, buffers grown), then a collection, so that no
// one pays for the garbage of the set-up or of the one before.
func warmUp(call func()) {
	call()
	runtime.GC()
}

// benchTransport is the transport of the floor and the bare GET: the same
// settings as the SDK's default client, so that neither side gets a
// different connection pool or Expect behaviour by accident.
func benchTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	t.ExpectContinueTimeout = time.Second
	return t
}

// machineLimits are the impl=limit-* cases for one image set whose encoded
// body is n bytes.
func machineLimits(bc benchCase, n int) []impl {
	var raw []byte
	for _, img := range bc.images {
		raw = append(raw, img...)
	}
	dst := make([]byte, base64.StdEncoding.EncodedLen(len(raw)))
	src, out := make([]byte, n), make([]byte, n)
	return []impl{{"impl=limit-base64-std/images=" + bc.name, func(b *testing.B) {
		for b.Loop() {
			base64.StdEncoding.Encode(dst, raw)
		}
	}}, {"impl=limit-base64-simd/images=" + bc.name, func(b *testing.B) {
		for b.Loop() {
			simdbase64.StdEncoding.Encode(dst, raw)
		}
	}}, {"impl=limit-memcpy/images=" + bc.name, func(b *testing.B) {
		for b.Loop() {
			copy(out, src)
		}
	}}, {"impl=limit-tcp/images=" + bc.name, func(b *testing.B) {
		conn := loopbackSink(b, n)
		chunk := make([]byte, 32<<10)
		ack := make([]byte, 1)
		for b.Loop() {
			for left := n; left > 0; left -= len(chunk) {
				if _, err := conn.Write(chunk[:min(len(chunk), left)]); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := io.ReadFull(conn, ack); err != nil {
				b.Fatal(err)
			}
		}
	}}}
}

// loopbackSink is a loopback TCP connection to a server that reads n bytes
// and answers one, over and over.
func loopbackSink(b *testing.B, n int) net.Conn {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 64<<10)
		for {
			if _, err := io.CopyBuffer(io.Discard, io.LimitReader(c, int64(n)), buf); err != nil {
				return
			}
			if _, err := c.Write([]byte{1}); err != nil {
				return
			}
		}
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	return conn
}

// BenchmarkGet compares Get with a bare net/http GET and encoding/json decode.
func BenchmarkGet(b *testing.B) {
	srv := sinkServer(b)
	client, err := qwenedit.NewClient(qwenedit.WithAPIKey("bench"), qwenedit.WithBaseURL(srv.URL))
	if err != nil {
		b.Fatal(err)
	}
	runImpls(b, []impl{{"impl=sdk", func(b *testing.B) {
		b.ReportAllocs()
		get := func() {
			if _, err := client.Get(context.Background(), "8e1e315e-b50d-4334-a231-be7d19a372f4"); err != nil {
				b.Fatal(err)
			}
		}
		warmUp(get)
		for b.Loop() {
			get()
		}
	}}, {"impl=bare", func(b *testing.B) {
		url := srv.URL + "/vendors/alibaba/v1/qwen-image-edit-max/generation/8e1e315e-b50d-4334-a231-be7d19a372f4"
		hc := &http.Client{Transport: benchTransport()}
		b.ReportAllocs()
		get := func() {
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
		warmUp(get)
		for b.Loop() {
			get()
		}
	}}})
}

// BenchmarkSubmitLargeTLS is the large case of BenchmarkSubmit over HTTPS
// and HTTP/2, the transport of the real API, against the hand-written
// streaming client.
func BenchmarkSubmitLargeTLS(b *testing.B) {
	srv := httptest.NewUnstartedServer(sinkHandler)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	b.Cleanup(srv.Close)
	newClient := func(opts ...qwenedit.Option) *qwenedit.Client {
		c, err := qwenedit.NewClient(append([]qwenedit.Option{qwenedit.WithAPIKey("bench"), qwenedit.WithBaseURL(srv.URL), qwenedit.WithHTTPClient(srv.Client())}, opts...)...)
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	cases := benchCases(b)
	large := cases[len(cases)-1]
	hc := srv.Client()
	url := srv.URL + "/vendors/alibaba/v1/qwen-image-edit-max/generation"
	runImpls(b, []impl{
		sdkSubmit("impl=sdk/images="+large.name, newClient(), large),
		postImpl("impl=handmade/images="+large.name, large.size(), func() {
			hb := newHandmadeBody(large.images)
			postAndDecode(b, hc, url, hb, hb.size)
		}),
	})
}

// TestHandmadeBodyIsTheNaiveBody: the hand-written streaming client of the
// benchmarks sends exactly the usual client's bytes, whatever the size of
// the buffers it is read into, so the two are compared on the same work.
func TestHandmadeBodyIsTheNaiveBody(t *testing.T) {
	images := [][]byte{[]byte("a"), []byte("ab"), []byte("abc"), bytes.Repeat([]byte{0xfb, 0xff, 7}, 5000)}
	want, err := naiveBody(images)
	if err != nil {
		t.Fatal(err)
	}
	for _, chunk := range []int{1, 2, 3, 5, 7, 4096, 1 << 20} {
		hb := newHandmadeBody(images)
		var got bytes.Buffer
		buf := make([]byte, chunk)
		for {
			n, err := hb.Read(buf)
			got.Write(buf[:n])
			if errors.Is(err, io.EOF) {
				break
			}
		}
		if !bytes.Equal(want, got.Bytes()) || int64(len(want)) != hb.size {
			t.Fatalf("read in %d-byte chunks: %d bytes (size %d), want %d", chunk, got.Len(), hb.size, len(want))
		}
	}
}
