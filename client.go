package qwenedit

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"

	"github.com/seed-b62e15c8/qwenedit/internal/schedule"
)

// Client talks to the MuleRouter API. Create it with NewClient; it is safe for
// concurrent use, and one Client should be shared so connections are reused.
type Client struct {
	cfg        config
	hc         *http.Client
	origin     string // scheme://host of the base URL
	keyOrigin  string // originOf(base URL): where the key may go
	submitPath string // base path + /vendors/alibaba/v1/<model>/generation
	userAgent  string
	// auth returns the Authorization value. The key lives only inside this
	// closure: fmt and reflection print a func as an address, so no verb
	// on a Client, a pointer to one or a struct embedding one can show it.
	auth authorization
	// expectIgnored is set once the server answered a submit that asked
	// for a 100 Continue without sending one; see expectContinue.
	expectIgnored *atomic.Bool
	// tasks is what the Client learned of its tasks, for the poll schedule.
	tasks *schedule.History
}

// authorization returns the Authorization header value ("Bearer <key>").
type authorization func() string

// newAuthorization keeps key where reflection cannot reach it.
func newAuthorization(key string) authorization {
	header := "Bearer " + key
	return func() string { return header }
}

// NewClient builds a Client. The API key comes from WithAPIKey, else the
// MULEROUTER_API_KEY environment variable; without one it returns an error
// wrapping ErrNoAPIKey. The base URL comes from WithBaseURL, else
// MULEROUTER_BASE_URL, else MULEROUTER_SITE ("mulerouter" or "mulerun"),
// else DefaultBaseURL.
func NewClient(opts ...Option) (*Client, error) {
	cfg := defaultConfig()
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&cfg); err != nil {
			return nil, err
		}
	}
	if err := resolveFromEnv(&cfg); err != nil {
		return nil, err
	}
	base, err := parseBaseURL(cfg.baseURL, cfg.insecureHTTP)
	if err != nil {
		return nil, err
	}
	if err := checkAPIKey(cfg.apiKey); err != nil {
		return nil, err
	}
	hc := cfg.httpClient
	if hc == nil {
		hc = defaultHTTPClient()
	}
	ua := "qwenedit-go/" + Version
	if cfg.userAgent != "" {
		ua += " " + cfg.userAgent
	}
	auth := newAuthorization(cfg.apiKey)
	cfg.apiKey = "" // from here on only inside auth
	return &Client{
		cfg:           cfg,
		hc:            wrapHTTPClient(hc, base),
		keyOrigin:     originOf(base),
		origin:        base.Scheme + "://" + base.Host,
		submitPath:    strings.TrimRight(base.Path, "/") + "/vendors/alibaba/v1/" + cfg.model + "/generation",
		userAgent:     ua,
		auth:          auth,
		expectIgnored: new(atomic.Bool),
		tasks:         schedule.NewHistory(),
	}, nil
}

// resolveFromEnv fills what no option set from the MULEROUTER_* variables.
func resolveFromEnv(cfg *config) error {
	if !cfg.apiKeySet {
		cfg.apiKey = os.Getenv("MULEROUTER_API_KEY")
	}
	if cfg.baseURL != "" {
		return nil
	}
	if env := os.Getenv("MULEROUTER_BASE_URL"); strings.TrimSpace(env) != "" {
		cfg.baseURL = env
		return nil
	}
	site := os.Getenv("MULEROUTER_SITE")
	if strings.TrimSpace(site) == "" {
		cfg.baseURL = DefaultBaseURL
		return nil
	}
	u, err := siteURL(site)
	if err != nil {
		return err
	}
	cfg.baseURL = u
	return nil
}

func siteURL(site string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(site)) {
	case "mulerouter":
		return DefaultBaseURL, nil
	case "mulerun":
		return MuleRunBaseURL, nil
	}
	return "", fmt.Errorf("qwenedit: unknown site %q (want \"mulerouter\" or \"mulerun\")", site)
}

func checkAPIKey(key string) error {
	if strings.TrimSpace(key) == "" {
		return ErrNoAPIKey
	}
	for _, r := range key {
		if r <= ' ' || r == 0x7f {
			// Never echo the key: the message names the problem only.
			return errors.New("qwenedit: the API key contains whitespace or control characters")
		}
	}
	return nil
}

func parseBaseURL(raw string, insecureOK bool) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, fmt.Errorf("qwenedit: base URL: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("qwenedit: base URL %q: scheme must be http or https", u.Redacted())
	case u.Host == "":
		return nil, fmt.Errorf("qwenedit: base URL %q: no host", u.Redacted())
	case u.User != nil:
		return nil, fmt.Errorf("qwenedit: base URL %q: credentials in the URL are not allowed; use WithAPIKey", u.Redacted())
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("qwenedit: base URL %q: query and fragment are not allowed", u.Redacted())
	case u.Scheme == "http" && !insecureOK && !isLoopbackHost(u.Hostname()):
		return nil, fmt.Errorf("qwenedit: base URL %q: plain http to a non-loopback host would send the key in clear text; use https or WithInsecureHTTP", u.Redacted())
	}
	return u, nil
}

// ready reports a Client that did not come from NewClient (a nil pointer or
// a zero value), which has no key, no URL and no clock, as an error rather
// than a nil-pointer panic. Every public call reaches it first: Submit and
// Edit through buildBody, Get and WaitForResult through taskPath, and
// Download and SaveImages through download.
func (c *Client) ready() error {
	if c == nil || c.hc == nil || c.auth == nil {
		return errors.New("qwenedit: the Client was not created with NewClient")
	}
	return nil
}
