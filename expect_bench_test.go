package qwenedit

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/seed-b62e15c8/qwenedit/internal/imagetest"
)

// BenchmarkSubmitExpectContinue measures what "Expect: 100-continue" on
// large submits costs (see expectContinue), with one 9.5 MiB image:
//
//   - server=honours: Go's server, which sends 100 Continue when the handler
//     reads the body; expect=on is the SDK's default, expect=off the same
//     Client with Expect switched off. The difference is one round trip.
//   - server=ignores: a server that never sends 100 Continue.
//     client=fresh pays net/http's ExpectContinueTimeout (1 s in the
//     default client) on its first large submit; client=reused is a Client
//     that has already seen the server ignore Expect and no longer asks.
func BenchmarkSubmitExpectContinue(b *testing.B) {
	img, err := imagetest.NoisePNG(1824, 1824, 1)
	if err != nil {
		b.Fatal(err)
	}
	req := &EditRequest{Images: []Image{ImageBytes(img)}, Prompt: "Turn the sky purple"}
	honours := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, pendingJS)
	}))
	defer honours.Close()
	ignores := ignoringServer(b)

	submit := func(b *testing.B, c *Client) {
		if _, err := c.Submit(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
	newClient := func(b *testing.B, base string) *Client {
		c, err := NewClient(WithAPIKey(testKey), WithBaseURL(base))
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	b.Run("server=honours/expect=on", func(b *testing.B) {
		c := newClient(b, honours.URL)
		for b.Loop() {
			submit(b, c)
		}
	})
	b.Run("server=honours/expect=off", func(b *testing.B) {
		c := newClient(b, honours.URL)
		c.expectIgnored.Store(true)
		for b.Loop() {
			submit(b, c)
		}
	})
	b.Run("server=ignores/client=fresh", func(b *testing.B) {
		for b.Loop() {
			submit(b, newClient(b, ignores))
		}
	})
	b.Run("server=ignores/client=reused", func(b *testing.B) {
		c := newClient(b, ignores)
		submit(b, c) // learns that the server ignores Expect
		b.ResetTimer()
		for b.Loop() {
			submit(b, c)
		}
	})
}

// ignoringServer is an HTTP/1.1 server that never sends 100 Continue, as
// some proxies do not: it reads each request and its body, then answers.
func ignoringServer(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go serveIgnoringExpect(conn)
		}
	}()
	return "http://" + ln.Addr().String()
}

func serveIgnoringExpect(conn net.Conn) {
	defer conn.Close()
	br := bufio.NewReader(conn)
	for {
		req, err := http.ReadRequest(br) // unlike http.Server, sends no 100 Continue
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		_, err = fmt.Fprintf(conn, "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(pendingJS), pendingJS)
		if err != nil {
			return
		}
	}
}
