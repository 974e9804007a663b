package qwenedit

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/seed-b62e15c8/qwenedit/internal/limits"
)

// Option configures a Client. Invalid values make NewClient return an error.
type Option func(*config) error

// config is everything NewClient resolved; a Client never changes it afterwards.
type config struct {
	apiKey       string
	apiKeySet    bool
	baseURL      string
	httpClient   *http.Client
	model        string
	userAgent    string
	logger       *slog.Logger
	retry        retryPolicy
	pixelCheck   bool
	insecureHTTP bool
	maxDownload  int64
	internals
}

// internals are the settings no Option sets. They are real in production;
// the package's own tests swap them (export_test.go) so that schedules are
// exact and nothing sleeps.
type internals struct {
	saveParallel int // downloads SaveImages runs at once
	clock        clock
	jitter       func() float64 // uniform in [0,1)
	maxWaitGrace time.Duration  // see maxWaitGrace
}

func defaultConfig() config {
	return config{
		model:       DefaultModel,
		retry:       defaultRetryPolicy(),
		pixelCheck:  true,
		maxDownload: defaultMaxDownloadSize,
		internals: internals{
			saveParallel: limits.MaxN, // every result of a task at once
			clock:        realClock{},
			jitter:       rand.Float64, // safe for concurrent use, needs no seeding
			maxWaitGrace: maxWaitGrace,
		},
	}
}

// WithAPIKey sets the MuleRouter API key, overriding MULEROUTER_API_KEY.
// An empty key makes NewClient fail with ErrNoAPIKey rather than fall back
// to the environment: an explicit option always wins.
func WithAPIKey(key string) Option {
	return func(c *config) error {
		c.apiKey, c.apiKeySet = key, true
		return nil
	}
}

// WithBaseURL sets the API origin, e.g. "https://api.mulerouter.ai", overriding
// MULEROUTER_BASE_URL and MULEROUTER_SITE. A path prefix is kept and the API
// paths are appended to it. Plain http:// is refused for non-loopback hosts
// unless WithInsecureHTTP is also given.
func WithBaseURL(u string) Option {
	return func(c *config) error {
		if strings.TrimSpace(u) == "" {
			return errors.New("qwenedit: WithBaseURL: empty URL")
		}
		c.baseURL = u
		return nil
	}
}

// WithHTTPClient sets the HTTP client. The Client copies it and wraps its
// transport to add the Authorization header for the API's own origin only;
// the caller's client is not modified. The default is a client with dial
// and TLS timeouts and no response-header or overall timeout (uploads of
// large images and downloads may legitimately take long; the per-attempt
// timeout and contexts bound them).
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) error {
		if hc == nil {
			return errors.New("qwenedit: WithHTTPClient: nil client")
		}
		c.httpClient = hc
		return nil
	}
}

// WithModel sets the model path segment (default "qwen-image-edit-max"); the
// same request schema serves "qwen-image-edit-plus".
func WithModel(model string) Option {
	return func(c *config) error {
		if model == "" || strings.ContainsAny(model, "/?#% ") || model == "." || model == ".." {
			return fmt.Errorf("qwenedit: WithModel: invalid model name %q", model)
		}
		c.model = model
		return nil
	}
}

// WithUserAgent appends ua to the SDK's own "qwenedit-go/<version>" User-Agent.
func WithUserAgent(ua string) Option {
	return func(c *config) error {
		// net/http refuses header values with control characters (tab
		// aside) at every request; refuse them here, once.
		if i := strings.IndexFunc(ua, func(r rune) bool { return r != '\t' && (r < ' ' || r == 0x7f) }); i >= 0 {
			return fmt.Errorf("qwenedit: WithUserAgent: control character %q at byte %d is not allowed", ua[i], i)
		}
		c.userAgent = strings.TrimSpace(ua)
		return nil
	}
}

// WithMaxRetries sets how often one HTTP call is retried (default 3); 0 disables retries.
// A submit is only ever retried when the server cannot have created a task.
func WithMaxRetries(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return fmt.Errorf("qwenedit: WithMaxRetries: %d is negative", n)
		}
		c.retry.maxRetries = n
		return nil
	}
}

// WithAttemptTimeout bounds each single HTTP attempt, independent of the
// caller's context (default 2 minutes; a submit adds time for its body at
// 256 KiB/s, and a download 1 s per 256 KiB of WithMaxDownloadSize). An
// attempt that times out is retried where that is safe; its error matches
// ErrAttemptTimeout.
func WithAttemptTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("qwenedit: WithAttemptTimeout: %s is not positive", d)
		}
		c.retry.attemptTimeout = d
		return nil
	}
}

// WithLogger sends structured debug/info/warn events for every attempt,
// retry and poll to l. Events never contain the API key.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		c.logger = l
		return nil
	}
}

// WithPixelCheck turns the pre-flight check of local images' width and height
// (384–3072 px) on or off (default on). Off, a local image's header is not
// parsed at all: only its format (magic bytes) and byte size are checked,
// which also lets through variants Go cannot read. EditRequest.Validate,
// called on its own, always checks pixels.
func WithPixelCheck(enabled bool) Option {
	return func(c *config) error {
		c.pixelCheck = enabled
		return nil
	}
}

// WithInsecureHTTP allows a plain http:// base URL on a non-loopback host.
// The key then travels in clear text: only for trusted networks and proxies.
func WithInsecureHTTP() Option {
	return func(c *config) error {
		c.insecureHTTP = true
		return nil
	}
}

// WithMaxDownloadSize caps the bytes Download and SaveImages accept per image
// (default defaultMaxDownloadSize).
func WithMaxDownloadSize(n int64) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("qwenedit: WithMaxDownloadSize: %d is not positive", n)
		}
		c.maxDownload = n
		return nil
	}
}
