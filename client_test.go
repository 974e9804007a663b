package qwenedit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewClientKeyFromEnvAndOptions(t *testing.T) {
	t.Setenv("MULEROUTER_API_KEY", "env-key")
	t.Setenv("MULEROUTER_BASE_URL", "")
	t.Setenv("MULEROUTER_SITE", "")

	c, err := NewClient()
	require.NoError(t, err)
	assert.Equal(t, "Bearer env-key", c.auth())
	assert.Equal(t, DefaultBaseURL, baseURLOf(c))

	c, err = NewClient(WithAPIKey("option-key"))
	require.NoError(t, err)
	assert.Equal(t, "Bearer option-key", c.auth(), "the option wins over the environment")

	_, err = NewClient(WithAPIKey(""))
	assert.ErrorIs(t, err, ErrNoAPIKey, "an explicit empty key does not fall back to the environment")

	t.Setenv("MULEROUTER_API_KEY", "")
	_, err = NewClient()
	assert.ErrorIs(t, err, ErrNoAPIKey)
}

func TestNewClientBaseURLResolution(t *testing.T) {
	t.Setenv("MULEROUTER_API_KEY", "k")
	cases := []struct {
		name, envBase, envSite string
		opts                   []Option
		want                   string
	}{
		{"default", "", "", nil, DefaultBaseURL},
		{"site mulerun", "", "MuleRun", nil, MuleRunBaseURL},
		{"site mulerouter", "", "mulerouter", nil, DefaultBaseURL},
		{"env base wins over site", "https://proxy.test/", "mulerun", nil, "https://proxy.test"},
		{"option wins over env", "https://proxy.test", "", []Option{WithBaseURL("https://other.test/prefix/")}, "https://other.test/prefix"},
		{"loopback http allowed", "", "", []Option{WithBaseURL("http://127.0.0.1:8080")}, "http://127.0.0.1:8080"},
		{"insecure opt-in", "", "", []Option{WithBaseURL("http://proxy.internal"), WithInsecureHTTP()}, "http://proxy.internal"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("MULEROUTER_BASE_URL", tc.envBase)
			t.Setenv("MULEROUTER_SITE", tc.envSite)
			c, err := NewClient(tc.opts...)
			require.NoError(t, err)
			assert.Equal(t, tc.want, baseURLOf(c))
		})
	}
}

func TestNewClientRejectsBadOptions(t *testing.T) {
	t.Setenv("MULEROUTER_API_KEY", "k")
	t.Setenv("MULEROUTER_BASE_URL", "")
	t.Setenv("MULEROUTER_SITE", "")
	cases := map[string][]Option{
		"plain http remote":   {WithBaseURL("http://api.mulerouter.ai")},
		"ftp scheme":          {WithBaseURL("ftp://x.test")},
		"no host":             {WithBaseURL("https://")},
		"credentials in URL":  {WithBaseURL("https://user:pw@x.test")},
		"query in URL":        {WithBaseURL("https://x.test/?a=b")},
		"empty base URL":      {WithBaseURL(" ")},
		"nil http client":     {WithHTTPClient(nil)},
		"model with slash":    {WithModel("a/b")},
		"empty model":         {WithModel("")},
		"negative retries":    {WithMaxRetries(-1)},
		"zero attempt":        {WithAttemptTimeout(0)},
		"user agent newline":  {WithUserAgent("a\r\nX-Evil: 1")},
		"zero download cap":   {WithMaxDownloadSize(0)},
		"key with whitespace": {WithAPIKey("abc def")},
	}
	for name, opts := range cases {
		t.Run(name, func(t *testing.T) {
			c, err := NewClient(opts...)
			assert.Error(t, err)
			assert.Nil(t, c)
		})
	}
	t.Run("unknown site from env", func(t *testing.T) {
		t.Setenv("MULEROUTER_SITE", "nowhere")
		_, err := NewClient()
		assert.ErrorContains(t, err, "nowhere")
	})
}

func TestKeyNeverPrinted(t *testing.T) {
	const key = "sk-very-secret-value"
	c, err := NewClient(WithAPIKey(key), WithBaseURL(testBase))
	require.NoError(t, err)
	type embedding struct {
		Name string
		Client
	}
	type embeddingPtr struct {
		Name string
		*Client
	}
	values := map[string]any{
		"pointer":             c,
		"value":               *c,
		"struct embedding":    embedding{"svc", *c},
		"struct embedding *":  embeddingPtr{"svc", c},
		"pointer to embedder": &embedding{"svc", *c},
		"slice of values":     []Client{*c},
		"map of values":       map[string]Client{"c": *c},
	}
	verbs := []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T", "%p", "%t"}
	for name, v := range values {
		for _, verb := range verbs {
			out := fmt.Sprintf(verb, v)
			assert.NotContains(t, out, key, "%s %s", name, verb)
			assert.NotContains(t, out, fmt.Sprintf("%x", key), "%s %s", name, verb)
			assert.NotContains(t, out, fmt.Sprintf("%X", key), "%s %s", name, verb)
		}
	}
	assert.NotContains(t, fmt.Sprintf("%+v %#v", c.cfg, c.cfg), key)

	_, err = NewClient(WithAPIKey("bad key\n"+key), WithBaseURL(testBase))
	require.Error(t, err)
	assert.NotContains(t, err.Error(), key)
}

// TestKeyUnreachableByReflection walks every field reachable from a Client
// (unexported ones too, as fmt and loggers do) and finds the key in none:
// it lives only inside a closure.
func TestKeyUnreachableByReflection(t *testing.T) {
	const key = "sk-very-secret-value"
	c, err := NewClient(WithAPIKey(key), WithBaseURL(testBase))
	require.NoError(t, err)
	var found []string
	seen := map[uintptr]bool{}
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		switch v.Kind() {
		case reflect.String:
			if strings.Contains(v.String(), key) {
				found = append(found, path)
			}
		case reflect.Pointer, reflect.Interface:
			if v.IsNil() {
				return
			}
			if v.Kind() == reflect.Pointer {
				if seen[v.Pointer()] {
					return
				}
				seen[v.Pointer()] = true
			}
			walk(v.Elem(), path)
		case reflect.Struct:
			for i := range v.NumField() {
				walk(v.Field(i), path+"."+v.Type().Field(i).Name)
			}
		case reflect.Slice, reflect.Array:
			for i := range v.Len() {
				walk(v.Index(i), fmt.Sprintf("%s[%d]", path, i))
			}
		case reflect.Map:
			for _, k := range v.MapKeys() {
				walk(k, path+"[key]")
				walk(v.MapIndex(k), path+"[value]")
			}
		}
	}
	walk(reflect.ValueOf(c), "Client")
	assert.Empty(t, found, "the key is reachable by reflection")
	assert.Equal(t, "Bearer "+key, c.auth(), "yet the client can still use it")
}

// TestUserAgentRejectsControlCharacters checks that a User-Agent net/http
// would refuse at every request is refused once, by NewClient.
func TestUserAgentRejectsControlCharacters(t *testing.T) {
	for _, ua := range []string{"app\x01", "app\r\nX: y", "app\x7f"} {
		_, err := NewClient(WithAPIKey(testKey), WithBaseURL(testBase), WithUserAgent(ua))
		assert.ErrorContains(t, err, "WithUserAgent", "%q", ua)
	}
	_, err := NewClient(WithAPIKey(testKey), WithBaseURL(testBase), WithUserAgent("app/1.0\t(tab is fine)"))
	assert.NoError(t, err)
}

func TestRequestHeadersAndPaths(t *testing.T) {
	c, mt, _ := mockClient(t, WithUserAgent("myapp/2.0"), WithModel("qwen-image-edit-plus"))
	var got *http.Request
	var body []byte
	plus := testBase + "/vendors/alibaba/v1/qwen-image-edit-plus/generation"
	mt.RegisterResponder(http.MethodPost, plus, func(r *http.Request) (*http.Response, error) {
		got = r
		body, _ = io.ReadAll(r.Body)
		return jsonResponder(202, pendingJS)(r)
	})
	info, err := c.Submit(context.Background(), validRequest(t))
	require.NoError(t, err)
	assert.Equal(t, "task-1", info.ID)
	assert.Equal(t, statusPending, info.Status)

	assert.Equal(t, "Bearer "+testKey, got.Header.Get("Authorization"))
	assert.Equal(t, "application/json", got.Header.Get("Content-Type"))
	assert.Equal(t, "qwenedit-go/"+Version+" myapp/2.0", got.Header.Get("User-Agent"))
	assert.Equal(t, int64(len(body)), got.ContentLength, "exact Content-Length, no chunking")
	assert.Empty(t, got.TransferEncoding)
	assert.True(t, json.Valid(body))

	mt.RegisterResponder(http.MethodGet, plus+"/task-1", jsonResponder(200, runningJS))
	task, err := c.Get(context.Background(), "task-1")
	require.NoError(t, err)
	assert.Equal(t, statusProcessing, task.Status)
	assert.Equal(t, 1, mt.GetCallCountInfo()["GET "+plus+"/task-1"])
}

func TestPathPrefixIsKept(t *testing.T) {
	c, mt, _ := mockClient(t, WithBaseURL(testBase+"/proxy/v2/"))
	mt.RegisterResponder(http.MethodGet, testBase+"/proxy/v2/vendors/alibaba/v1/qwen-image-edit-max/generation/abc", jsonResponder(200, strings.Replace(runningJS, "task-1", "abc", 1)))
	task, err := c.Get(context.Background(), "abc")
	require.NoError(t, err)
	assert.Equal(t, "abc", task.ID)
}

func TestTaskIDIsPathEscaped(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Raw-Path", r.URL.EscapedPath())
		w.Header().Set("X-Query", r.URL.RawQuery)
		w.WriteHeader(404)
		_, _ = io.WriteString(w, `{"detail":"nope"}`)
	}))
	defer srv.Close()
	c, err := NewClient(WithAPIKey(testKey), WithBaseURL(srv.URL), WithMaxRetries(0))
	require.NoError(t, err)
	_, err = c.Get(context.Background(), "../x?y=1#z")
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, "/vendors/alibaba/v1/qwen-image-edit-max/generation/..%2Fx%3Fy=1%23z", apiErr.Path)

	for _, bad := range []string{"", "  ", ".", ".."} {
		_, err := c.Get(context.Background(), bad)
		assert.ErrorIs(t, err, ErrInvalidRequest, "%q", bad)
		_, err = c.WaitForResult(context.Background(), bad)
		assert.ErrorIs(t, err, ErrInvalidRequest, "%q", bad)
	}
}

func TestTaskIDReachesServerEscaped(t *testing.T) {
	var rawPath, query string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rawPath, query = r.URL.EscapedPath(), r.URL.RawQuery
		_, _ = io.WriteString(w, `{"task_info":{"id":"../x?y","status":"running"}}`)
	}))
	defer srv.Close()
	c, err := NewClient(WithAPIKey(testKey), WithBaseURL(srv.URL))
	require.NoError(t, err)
	_, err = c.Get(context.Background(), "../x?y")
	require.NoError(t, err)
	assert.Equal(t, "/vendors/alibaba/v1/qwen-image-edit-max/generation/..%2Fx%3Fy", rawPath)
	assert.Empty(t, query)
}

func TestResponseBodyLimit(t *testing.T) {
	c, mt, _ := mockClient(t)
	huge := `{"task_info":{"id":"task-1","status":"pending"},"pad":"` + strings.Repeat("x", maxSuccessBody) + `"}`
	mt.RegisterResponder(http.MethodGet, taskURL, jsonResponder(200, huge))
	_, err := c.Get(context.Background(), "task-1")
	assert.ErrorIs(t, err, ErrResponseTooLarge)
	assert.Equal(t, 1, mt.GetTotalCallCount(), "a too-large answer is not retried")

	// An answer announced too large fails before its body is read.
	mt.RegisterResponder(http.MethodGet, taskURL, func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, ContentLength: maxSuccessBody + 1, Header: http.Header{},
			Body: io.NopCloser(iotest.ErrReader(errors.New("the body was read")))}, nil
	})
	_, err = c.Get(context.Background(), "task-1")
	assert.ErrorIs(t, err, ErrResponseTooLarge)
	assert.NotContains(t, err.Error(), "the body was read")
}

// TestAttemptTimeoutIsNamed checks that a per-attempt timeout is told apart
// from the caller's deadline: it matches ErrAttemptTimeout (and still
// context.DeadlineExceeded), while a caller's own deadline does not match
// ErrAttemptTimeout.
func TestAttemptTimeoutIsNamed(t *testing.T) {
	c, mt, _ := mockClient(t, WithAttemptTimeout(time.Millisecond), WithMaxRetries(0))
	mt.RegisterResponder(http.MethodGet, taskURL, func(r *http.Request) (*http.Response, error) {
		<-r.Context().Done()
		return nil, r.Context().Err()
	})
	_, err := c.Get(context.Background(), "task-1")
	assert.ErrorIs(t, err, ErrAttemptTimeout)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	// A caller's deadline later than the attempt timeout leaves it in force.
	later, cancelLater := context.WithTimeout(context.Background(), time.Hour)
	defer cancelLater()
	_, err = c.Get(later, "task-1")
	assert.ErrorIs(t, err, ErrAttemptTimeout)

	c, mt, _ = mockClient(t, WithMaxRetries(0))
	mt.RegisterResponder(http.MethodGet, taskURL, func(r *http.Request) (*http.Response, error) {
		<-r.Context().Done()
		return nil, r.Context().Err()
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	_, err = c.Get(ctx, "task-1")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, ErrAttemptTimeout)
}

func TestLoggerEvents(t *testing.T) {
	var buf strings.Builder
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, mt, _ := mockClient(t, WithLogger(logger))
	mt.RegisterResponder(http.MethodGet, taskURL, httpmock.ResponderFromMultipleResponses([]*http.Response{
		httpmock.NewStringResponse(503, `{"detail":"busy"}`), //nolint:bodyclose // the client under test closes it
		httpmock.NewStringResponse(200, runningJS),           //nolint:bodyclose // the client under test closes it
	}))
	_, err := c.Get(context.Background(), "task-1")
	require.NoError(t, err)
	out := buf.String()
	assert.NotContains(t, out, testKey)
	assert.Contains(t, out, `"msg":"qwenedit: retrying"`)
	assert.Contains(t, out, `"level":"INFO"`)
	assert.Contains(t, out, `"attempt":2`)
	assert.Contains(t, out, `"status":503`)
	assert.Contains(t, out, `"path":"/vendors/alibaba/v1/qwen-image-edit-max/generation/task-1"`)
}

// TestZeroValueClientErrsInsteadOfPanicking checks that a Client not made
// by NewClient reports that, rather than dereferencing nil.
func TestZeroValueClientErrsInsteadOfPanicking(t *testing.T) {
	for _, c := range []*Client{nil, new(Client)} {
		_, err := c.Get(context.Background(), "task-1")
		assert.ErrorContains(t, err, "NewClient")
		_, err = c.WaitForResult(context.Background(), "task-1")
		assert.ErrorContains(t, err, "NewClient")
		_, err = c.Submit(context.Background(), &EditRequest{Images: []Image{ImageURL("https://x.test/a.png")}, Prompt: "p"})
		assert.ErrorContains(t, err, "NewClient")
	}
}

// baseURLOf is the base URL c resolved, without a trailing slash: the
// origin and the path prefix in front of the API paths.
func baseURLOf(c *Client) string {
	return c.origin + strings.TrimSuffix(c.submitPath, "/vendors/alibaba/v1/"+c.cfg.model+"/generation")
}
