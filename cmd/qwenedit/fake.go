package main

import (
	"flag"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/seed-b62e15c8/qwenedit"
	"github.com/seed-b62e15c8/qwenedit/qwenedittest"
)

// backend is what a command talks to: MuleRouter with the user's key, or
// the built-in fake server.
type backend struct {
	client *qwenedit.Client
	// once is client without retries of its own (WithMaxRetries(0)), on
	// the same connections: batch submits with it, so that every 429
	// reaches its slots at once instead of being retried inside the SDK,
	// and waits with it, since a Client plans the polls of the tasks it
	// submitted. (A poll is one request either way.)
	once  *qwenedit.Client
	base  string        // the API base URL
	fake  bool          // the built-in fake server: nothing is charged, and its tasks end with the run
	stop  func()        // shuts the fake down, if there is one
	reach *reachability // whether the API answers, from the client's requests
}

// keyUse says what a command does without MULEROUTER_API_KEY.
type keyUse int

const (
	keyOrFake   keyUse = iota // edit, batch: run against the built-in fake
	keyRequired               // status, wait, download TASK_ID: refuse (the fake knows no earlier task)
	keyOptional               // download URL: result hosts ask for no key
)

// fakeFlags are -fake and -fake-duration, for the commands that can run on
// the built-in fake.
type fakeFlags struct {
	force    bool
	duration time.Duration
}

func (f *fakeFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.force, "fake", false, "use the built-in fake server even if MULEROUTER_API_KEY is set (nothing is charged)")
	fs.DurationVar(&f.duration, "fake-duration", 0, "how long a task takes on the built-in fake server (default 0: done by the first poll)")
}

// connect returns the backend for model. With MULEROUTER_API_KEY set (and
// no -fake) it is MuleRouter at MULEROUTER_BASE_URL or MULEROUTER_SITE.
// Otherwise, for keyOrFake, it starts the built-in fake and says so on
// stderr, and why; for keyRequired it fails. fake may be nil except for
// keyOrFake. Call stop when done.
func (c *cli) connect(model string, use keyUse, fake *fakeFlags) (*backend, error) {
	opts := []qwenedit.Option{qwenedit.WithModel(model), qwenedit.WithUserAgent("qwenedit-cli")}
	key := strings.TrimSpace(c.getenv("MULEROUTER_API_KEY"))
	if use == keyOrFake && (key == "" || fake.force) {
		return c.startFake(fake, opts)
	}
	if key == "" {
		if use == keyRequired {
			return nil, configf("MULEROUTER_API_KEY is not set: %s asks MuleRouter about a task, which takes your key "+
				"(the built-in fake that edit uses without a key starts empty on every run, so it knows no earlier task)", c.cmd.name)
		}
		key = "none" // result hosts ask for no key, and the client sends it to the API's origin only
	}
	base, err := c.baseURL()
	if err != nil {
		return nil, err
	}
	reach := &reachability{}
	b := &backend{base: strings.TrimRight(base, "/"), stop: func() {}, reach: reach}
	if err := b.newClients(append(opts, qwenedit.WithAPIKey(key), qwenedit.WithBaseURL(base),
		qwenedit.WithHTTPClient(newHTTPClient(base, reach)))); err != nil {
		return nil, configf("%s", clean(err.Error()))
	}
	return b, nil
}

// newClients makes b's client, and its twin without retries.
func (b *backend) newClients(opts []qwenedit.Option) error {
	var err error
	if b.client, err = qwenedit.NewClient(opts...); err != nil {
		return err
	}
	b.once, err = qwenedit.NewClient(append(opts, qwenedit.WithMaxRetries(0))...)
	return err
}

// baseURL is MULEROUTER_BASE_URL, else the site MULEROUTER_SITE names,
// else MuleRouter's, as the official command-line tool reads them.
func (c *cli) baseURL() (string, error) {
	if raw := strings.TrimSpace(c.getenv("MULEROUTER_BASE_URL")); raw != "" {
		u, err := url.Parse(raw)
		if err == nil && strings.EqualFold(u.Scheme, "http") && !isLoopback(u.Hostname()) {
			return "", configf("MULEROUTER_BASE_URL %s is plain http to another machine, which would send your key in clear text: use an https:// URL", u.Redacted())
		}
		return raw, nil
	}
	switch site := strings.TrimSpace(c.getenv("MULEROUTER_SITE")); strings.ToLower(site) {
	case "", "mulerouter":
		return qwenedit.DefaultBaseURL, nil
	case "mulerun":
		return qwenedit.MuleRunBaseURL, nil
	default:
		return "", configf("MULEROUTER_SITE is %q: want mulerouter or mulerun", site)
	}
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return strings.EqualFold(host, "localhost") || ip != nil && ip.IsLoopback()
}

// startFake starts the built-in fake server on loopback and says on
// stderr why it is used and what it does.
func (c *cli) startFake(fake *fakeFlags, opts []qwenedit.Option) (*backend, error) {
	// A -model the real API does not know is a 404 on the fake too.
	srv, err := qwenedittest.NewServerAt("127.0.0.1:0", "127.0.0.1:0", qwenedittest.WithTaskDuration(fake.duration))
	if err != nil {
		return nil, fmt.Errorf("starting the built-in fake server: %w", err)
	}
	reach := &reachability{}
	b := &backend{base: srv.URL(), fake: true, stop: srv.Close, reach: reach}
	if err := b.newClients(append(opts, qwenedit.WithAPIKey(srv.APIKey()), qwenedit.WithBaseURL(srv.URL()),
		qwenedit.WithHTTPClient(newHTTPClient(srv.URL(), reach)))); err != nil {
		srv.Close()
		return nil, configf("%s", clean(err.Error()))
	}
	why, then := "MULEROUTER_API_KEY is not set", "Set MULEROUTER_API_KEY to edit for real."
	if fake.force {
		why, then = "-fake given", "Leave out -fake to edit for real."
	}
	fmt.Fprintf(c.stderr, "%s: using the built-in fake server at %s, not MuleRouter; nothing is charged.\n"+
		"The fake does not run the model: it ignores the prompt and returns the last input image with its colours inverted\n"+
		"(further results of -n also tinted; a URL input is not fetched and gives a gradient). %s\n",
		why, srv.URL(), then)
	return b, nil
}
