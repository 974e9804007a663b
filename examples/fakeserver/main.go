// Command fakeserver runs the qwenedittest fake MuleRouter server as a
// process, for trying the API with curl or testing clients written in other
// languages, offline and free of charge.
//
//	go run ./examples/fakeserver -addr 127.0.0.1:8080 -key my-test-key -duration 5s -vocab pending
//
// It serves the qwen-image-edit-max submit and poll endpoints on -addr and
// the result images from a second port (-results-addr), then runs until
// interrupted (Ctrl-C or SIGTERM). It listens on loopback only, unless
// -public is given: the fake accepts a fixed, published key.
//
// At start it prints the lines that point the qwenedit command (or any
// program that reads the same environment) at it, to paste into another
// terminal, so that status, wait and download can be tried without a
// MuleRouter key:
//
//	export MULEROUTER_BASE_URL=http://127.0.0.1:8080
//	export MULEROUTER_API_KEY=qwenedittest-key
//
// With -tls both ports serve HTTPS, offering HTTP/2 and HTTP/1.1 like the
// real API, with a self-signed certificate made at start; -cert-out FILE
// writes that certificate as PEM so that other clients can trust it (and
// the printed lines then include export SSL_CERT_FILE=FILE):
//
//	go run ./examples/fakeserver -tls -cert-out fake.pem
//	curl --cacert fake.pem https://127.0.0.1:8080/...
//	SSL_CERT_FILE=fake.pem python3 ...   NODE_EXTRA_CA_CERTS=fake.pem node ...
package main

import (
	"context"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/seed-b62e15c8/qwenedit/qwenedittest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, nil)
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		// -h: the usage has been printed; asking for help is not a failure.
	default:
		fmt.Fprintln(os.Stderr, "fakeserver:", err)
		stop()
		os.Exit(2)
	}
}

// config is the parsed command line.
type config struct {
	addr, resultsAddr string
	key               string
	duration          time.Duration
	queued            bool // -vocab queued
	errorCodeField    string
	maxRunning        int
	public            bool
	tls               bool
	certOut           string
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	var vocab string
	fs := flag.NewFlagSet("fakeserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "`host:port` of the API (port 0 picks a free one)")
	fs.StringVar(&c.resultsAddr, "results-addr", "", "`host:port` serving result images (default: the -addr host, a free port)")
	fs.StringVar(&c.key, "key", "", "bearer `key` the fake accepts (default: the fake's own, printed at start)")
	fs.DurationVar(&c.duration, "duration", 5*time.Second, "how long each task takes")
	fs.StringVar(&vocab, "vocab", "pending", "status names: pending (pending/processing/completed) or queued (queued/running/succeeded)")
	fs.StringVar(&c.errorCodeField, "error-code-field", "code", "name of the numeric field in a failed task's error: code or error_code")
	fs.IntVar(&c.maxRunning, "max-running", 0, "answer a submit 429 with Retry-After, creating nothing, while this many tasks run (an account's limit; 0: none)")
	fs.BoolVar(&c.public, "public", false, "allow listening on non-loopback addresses (anyone who can reach it can use the published key)")
	fs.BoolVar(&c.tls, "tls", false, "serve HTTPS with HTTP/2 and HTTP/1.1, like the real API, with a self-signed certificate made at start")
	fs.StringVar(&c.certOut, "cert-out", "", "with -tls, write the certificate as PEM to `file`, for curl --cacert, SSL_CERT_FILE or NODE_EXTRA_CA_CERTS")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: fakeserver [flags]\n\nRuns a fake MuleRouter qwen-image-edit-max API until interrupted.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	switch vocab {
	case "pending":
	case "queued":
		c.queued = true
	default:
		return config{}, fmt.Errorf("-vocab %q: want pending or queued", vocab)
	}
	if c.maxRunning < 0 {
		return config{}, fmt.Errorf("-max-running %d: must not be negative", c.maxRunning)
	}
	if c.duration < 0 {
		return config{}, fmt.Errorf("-duration %v: must not be negative", c.duration)
	}
	if c.errorCodeField == "" {
		return config{}, errors.New("-error-code-field must not be empty")
	}
	if c.certOut != "" && !c.tls {
		return config{}, errors.New("-cert-out needs -tls")
	}
	host, _, err := net.SplitHostPort(c.addr)
	if err != nil {
		return config{}, fmt.Errorf("-addr %q: %w", c.addr, err)
	}
	if c.resultsAddr == "" {
		c.resultsAddr = net.JoinHostPort(host, "0")
	}
	for _, a := range []struct{ flag, addr string }{{"-addr", c.addr}, {"-results-addr", c.resultsAddr}} {
		ok, err := isLoopback(a.addr)
		if err != nil {
			return config{}, fmt.Errorf("%s %q: %w", a.flag, a.addr, err)
		}
		if !ok && !c.public {
			return config{}, fmt.Errorf("%s %q is not a loopback address; the fake accepts a published key, so pass -public to expose it anyway", a.flag, a.addr)
		}
	}
	return c, nil
}

// isLoopback reports whether addr (host:port) names a loopback host. An
// empty host means every interface, so it is not loopback.
func isLoopback(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, err
	}
	if strings.EqualFold(host, "localhost") {
		return true, nil
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback(), nil
}

// run serves until ctx ends. ready, if not nil, is called once the server
// listens, so that tests need not parse the output.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, ready func(*qwenedittest.Server)) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	opts := []qwenedittest.Option{
		qwenedittest.WithAPIKey(c.key),
		qwenedittest.WithTaskDuration(c.duration),
		qwenedittest.WithErrorCodeField(c.errorCodeField),
		qwenedittest.WithMaxRunningTasks(c.maxRunning),
	}
	if c.queued {
		opts = append(opts, qwenedittest.WithQueuedVocabulary())
	}
	if c.tls {
		opts = append(opts, qwenedittest.WithTLS())
	}
	srv, err := qwenedittest.NewServerAt(c.addr, c.resultsAddr, opts...)
	if err != nil {
		return err
	}
	defer srv.Close()
	// curl needs to be told to trust the certificate: with the file if
	// there is one, else to skip the check (fine for a quick try).
	trust := ""
	if c.tls {
		trust = "-k "
		if c.certOut != "" {
			certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
			if err := os.WriteFile(c.certOut, certPEM, 0o644); err != nil {
				return fmt.Errorf("-cert-out: %w", err)
			}
			trust = "--cacert " + shellQuote(c.certOut) + " "
		}
	}

	endpoint := srv.URL() + "/vendors/alibaba/v1/qwen-image-edit-max/generation"
	auth := shellQuote("Authorization: Bearer " + srv.APIKey())
	fmt.Fprintf(stdout, "qwenedit fake server: base URL %s (key %q)\n", srv.URL(), srv.APIKey())
	fmt.Fprintf(stdout, "result images from %s; each task takes %v; statuses: %s\n", srv.ResultsURL(), c.duration, statusNames(c.queued))
	if c.tls {
		fmt.Fprintf(stdout, "HTTPS with HTTP/2 and HTTP/1.1; self-signed certificate for %s\n", strings.Join(certNames(srv), ", "))
		if c.certOut != "" {
			q := shellQuote(c.certOut)
			fmt.Fprintf(stdout, "certificate written to %s; to trust it: curl --cacert %s, SSL_CERT_FILE=%s (Go programs such as qwenedit, Python, OpenSSL), NODE_EXTRA_CA_CERTS=%s (Node)\n", c.certOut, q, q, q)
		} else {
			fmt.Fprintln(stdout, "(use -cert-out FILE to save the certificate for clients; the curl lines below skip the check with -k)")
		}
	}
	printExports(stdout, srv, c)
	fmt.Fprintf(stdout, "\nTry:\n  curl -s %s%s -H %s -H 'Content-Type: application/json' \\\n    -d '{\"images\":[\"https://example.com/cat.png\"],\"prompt\":\"Give the cat a hat\"}'\n", trust, endpoint, auth)
	fmt.Fprintf(stdout, "  curl -s %s%s/<task_id> -H %s\n\nPress Ctrl-C to stop.\n", trust, endpoint, auth)
	if ready != nil {
		ready(srv)
	}

	<-ctx.Done()
	fmt.Fprintln(stdout, "qwenedit fake server: stopped")
	return nil
}

// printExports prints the environment that points qwenedit at srv, as
// lines to paste into another terminal. Without them, the commands that
// need a key (status, wait, download) could only be tried against
// MuleRouter, and a user would have to piece the variables together from
// the help. The certificate line is printed only when there is a file to
// name: Go programs have no -k, so without -cert-out they cannot trust the
// fake over HTTPS at all, and the output says so.
func printExports(w io.Writer, srv *qwenedittest.Server, c config) {
	fmt.Fprintf(w, "\nTo point qwenedit (edit, status, wait, download, batch) at this fake, paste into another terminal:\n")
	fmt.Fprintf(w, "  export MULEROUTER_BASE_URL=%s\n", shellWord(srv.URL()))
	fmt.Fprintf(w, "  export MULEROUTER_API_KEY=%s\n", shellWord(srv.APIKey()))
	if !c.tls {
		return
	}
	if c.certOut != "" {
		// Absolute, as the other terminal may be in another folder.
		certFile, err := filepath.Abs(c.certOut)
		if err != nil {
			certFile = c.certOut
		}
		fmt.Fprintf(w, "  export SSL_CERT_FILE=%s\n", shellWord(certFile))
		fmt.Fprintln(w, "(SSL_CERT_FILE replaces the system's certificates in that terminal; Go reads it on Linux and the BSDs)")
		return
	}
	fmt.Fprintln(w, "(over HTTPS, Go clients such as qwenedit need -cert-out FILE to trust this fake: restart it with -cert-out FILE, then export SSL_CERT_FILE=FILE)")
}

// certNames lists the names and addresses the server's certificate covers.
func certNames(srv *qwenedittest.Server) []string {
	cert := srv.Certificate()
	names := append([]string(nil), cert.DNSNames...)
	for _, ip := range cert.IPAddresses {
		names = append(names, ip.String())
	}
	return names
}

func statusNames(queued bool) string {
	if queued {
		return "queued → running → succeeded"
	}
	return "pending → processing → completed"
}

// shellWord is s as one POSIX shell word: as it is when no character of it
// is special to the shell, so that the usual URLs and keys print plainly,
// else quoted.
func shellWord(s string) string {
	if s == "" || strings.ContainsFunc(s, func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && !strings.ContainsRune("@%+=:,./_-", r)
	}) {
		return shellQuote(s)
	}
	return s
}

// shellQuote quotes s for a POSIX shell, so that the printed curl commands
// work whatever the key contains.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
