package qwenedittest

import (
	"encoding/json"
	"image"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-b62e15c8/qwenedit/internal/datauri"
	"github.com/seed-b62e15c8/qwenedit/internal/imageinfo"
	"github.com/seed-b62e15c8/qwenedit/internal/imagetest"
	"github.com/seed-b62e15c8/qwenedit/internal/limits"
)

var (
	uuidV4RE      = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	traceparentRE = regexp.MustCompile(`^00-[0-9a-f]{32}-[0-9a-f]{16}-01$`)
	timeRE        = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
)

func TestSubmitAccepted(t *testing.T) {
	clk := newFakeClock()
	s := newTestServer(t, WithClock(clk.Now), WithTaskDuration(time.Minute))
	img := dataURI(t, imageinfo.PNG, 640, 480)
	body := map[string]any{
		"images":          []any{"https://example.com/a.png", img},
		"prompt":          "Put Image 1 into Image 2",
		"negative_prompt": nil,
		"n":               2,
		"seed":            0,
		"size":            "1024*768",
		"prompt_extend":   false,
		"safety_filter":   true,
	}
	resp, data := call(t, s, http.MethodPost, "/vendors/alibaba/v1/qwen-image-edit-plus/generation", body)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, string(data))
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	assert.Regexp(t, traceparentRE, resp.Header.Get("Traceparent"))

	var raw map[string]map[string]any
	require.NoError(t, json.Unmarshal(data, &raw))
	assert.Len(t, raw, 1, "only task_info at the top level")
	info := raw["task_info"]
	assert.ElementsMatch(t, []string{"id", "status", "created_at", "updated_at"}, keys(info))
	assert.Regexp(t, uuidV4RE, info["id"])
	assert.Equal(t, "pending", info["status"])
	assert.Equal(t, "2026-01-02T03:04:05.678Z", info["created_at"])
	assert.Equal(t, info["created_at"], info["updated_at"])

	require.Equal(t, 1, s.SubmitCount())
	tasks := s.Tasks()
	require.Len(t, tasks, 1)
	rec := tasks[0]
	assert.Equal(t, info["id"], rec.ID)
	assert.Equal(t, "qwen-image-edit-plus", rec.Model)
	assert.Equal(t, clk.Now(), rec.CreatedAt)
	assert.Equal(t, []string{"https://example.com/a.png", img}, rec.Request.Images)
	assert.Equal(t, "Put Image 1 into Image 2", rec.Request.Prompt)
	assert.Nil(t, rec.Request.NegativePrompt)
	assert.Equal(t, 2, *rec.Request.N)
	assert.Equal(t, 0, *rec.Request.Seed)
	assert.Equal(t, "1024*768", *rec.Request.Size)
	assert.False(t, *rec.Request.PromptExtend)
	assert.True(t, *rec.Request.SafetyFilter)

	// Tasks returns copies.
	*tasks[0].Request.N = 5
	tasks[0].Request.Images[0] = "changed"
	assert.Equal(t, 2, *s.Tasks()[0].Request.N)
	assert.Equal(t, "https://example.com/a.png", s.Tasks()[0].Request.Images[0])

	// Every id is new.
	id2 := submit(t, s, validBody())
	assert.NotEqual(t, rec.ID, id2)
	assert.Nil(t, s.Tasks()[1].Request.N, "absent fields stay nil")
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestSubmitAcceptsEveryImageFormat(t *testing.T) {
	s := newTestServer(t)
	for _, f := range []imageinfo.Format{imageinfo.JPEG, imageinfo.PNG, imageinfo.GIF, imageinfo.BMP, imageinfo.TIFF, imageinfo.WEBP} {
		t.Run(string(f), func(t *testing.T) {
			body := validBody()
			body["images"] = []any{dataURI(t, f, 400, 384)}
			id := submit(t, s, body)
			task := poll(t, s, id)
			require.Len(t, task.Images, 1)
			resp, data := fetch(t, task.Images[0])
			require.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, image.Point{400, 384}, decodePNG(t, data).Bounds().Size())
		})
	}
}

func TestSubmitValidation(t *testing.T) {
	s := newTestServer(t)
	png400 := imagetest.MustEncode(t, imageinfo.PNG, 400, 400)
	uri := func(mime string, data []byte) string { return datauri.URI{MediaType: mime, Data: data}.String() }
	big := make([]byte, limits.MaxImageBytes+1)
	copy(big, png400)

	cases := []struct {
		name  string
		edit  func(b map[string]any)
		raw   string // sent instead of the edited body when set
		field string // must appear in the detail
	}{
		{name: "not JSON", raw: `{"images":`, field: "body"},
		{name: "array body", raw: `[]`, field: "body"},
		{name: "null body", raw: `null`, field: "body"},
		{name: "trailing data", raw: `{"images":["https://e.com/a.png"],"prompt":"p"} x`, field: "body"},
		{name: "unknown field", edit: func(b map[string]any) { b["watermark"] = false }, field: `"watermark": unknown field`},
		{name: "images missing", edit: func(b map[string]any) { delete(b, "images") }, field: "images: is required"},
		{name: "images null", edit: func(b map[string]any) { b["images"] = nil }, field: "images: is required"},
		{name: "images a string", edit: func(b map[string]any) { b["images"] = "https://e.com/a.png" }, field: "images: must be an array"},
		{name: "images empty", edit: func(b map[string]any) { b["images"] = []any{} }, field: "images: has 0 images, must have 1 to 3"},
		{name: "images four", edit: func(b map[string]any) {
			b["images"] = []any{"https://e.com/1", "https://e.com/2", "https://e.com/3", "https://e.com/4"}
		}, field: "images: has 4 images"},
		{name: "image not a string", edit: func(b map[string]any) { b["images"] = []any{"https://e.com/1", 7} }, field: "images[1]: must be a string"},
		{name: "image ftp", edit: func(b map[string]any) { b["images"] = []any{"ftp://e.com/a.png"} }, field: "images[0]: must be an http(s) URL or a data:"},
		{name: "image URL without host", edit: func(b map[string]any) { b["images"] = []any{"https://"} }, field: "images[0]: is not a valid http(s) URL"},
		{name: "data URI not base64", edit: func(b map[string]any) { b["images"] = []any{"data:image/png,abc"} }, field: "images[0]: is not a valid data URI"},
		{name: "data URI bad base64", edit: func(b map[string]any) { b["images"] = []any{"data:image/png;base64,@@@@"} }, field: "images[0]: is not a valid data URI"},
		{name: "image too large", raw: `{"prompt":"p","images":["` + uri("image/png", big) + `"]}`, field: "images[0]: is 10,000,001 bytes, at most 10 MB (10,000,000 bytes) is allowed"},
		{name: "image too large, odd base64", raw: `{"prompt":"p","images":["` + uri("image/png", big) + `="]}`, field: "images[0]: is not a valid data URI"},
		{name: "not an image", edit: func(b map[string]any) { b["images"] = []any{uri("image/png", []byte("hello, this is text"))} }, field: "images[0]: unsupported or unreadable image"},
		{name: "no media type", edit: func(b map[string]any) { b["images"] = []any{uri("", png400)} }, field: "images[0]: data URI names no media type"},
		{name: "non-image media type", edit: func(b map[string]any) { b["images"] = []any{uri("text/plain", png400)} }, field: `images[0]: media type "text/plain"`},
		{name: "MIME mismatch still checks the pixels", edit: func(b map[string]any) {
			b["images"] = []any{uri("image/jpeg", imagetest.MustEncode(t, imageinfo.PNG, 383, 400))}
		}, field: "images[0]: is 383×400 pixels"},
		{name: "image too narrow", edit: func(b map[string]any) {
			b["images"] = []any{"https://e.com/ok.png", dataURI(t, imageinfo.PNG, 383, 400)}
		}, field: "images[1]: is 383×400 pixels"},
		{name: "image too tall", edit: func(b map[string]any) { b["images"] = []any{dataURI(t, imageinfo.GIF, 400, 3073)} }, field: "images[0]: is 400×3073 pixels"},
		{name: "prompt missing", edit: func(b map[string]any) { delete(b, "prompt") }, field: "prompt: is required"},
		{name: "prompt null", edit: func(b map[string]any) { b["prompt"] = nil }, field: "prompt: is required"},
		{name: "prompt empty", edit: func(b map[string]any) { b["prompt"] = "" }, field: "prompt: is required"},
		{name: "prompt blank", edit: func(b map[string]any) { b["prompt"] = " \t\n" }, field: "prompt: is required"},
		{name: "prompt number", edit: func(b map[string]any) { b["prompt"] = 5 }, field: "prompt: must be a string"},
		{name: "prompt too long", edit: func(b map[string]any) { b["prompt"] = strings.Repeat("猫", 801) }, field: "prompt: has 801 characters"},
		{name: "negative prompt too long", edit: func(b map[string]any) { b["negative_prompt"] = strings.Repeat("é", 501) }, field: "negative_prompt: has 501 characters"},
		{name: "negative prompt number", edit: func(b map[string]any) { b["negative_prompt"] = 1 }, field: "negative_prompt: must be a string or null"},
		{name: "n zero", edit: func(b map[string]any) { b["n"] = 0 }, field: "n: is 0, must be 1 to 6"},
		{name: "n seven", edit: func(b map[string]any) { b["n"] = 7 }, field: "n: is 7"},
		{name: "n string", edit: func(b map[string]any) { b["n"] = "2" }, field: "n: must be an integer"},
		{name: "n fraction", raw: `{"images":["https://e.com/a.png"],"prompt":"p","n":1.5}`, field: "n: must be an integer"},
		{name: "n float literal", raw: `{"images":["https://e.com/a.png"],"prompt":"p","n":2.0}`, field: "n: must be an integer"},
		{name: "n null", edit: func(b map[string]any) { b["n"] = nil }, field: "n: must be an integer"},
		{name: "seed negative", edit: func(b map[string]any) { b["seed"] = -1 }, field: "seed: is -1"},
		{name: "seed too big", edit: func(b map[string]any) { b["seed"] = 2147483648 }, field: "seed: is 2147483648"},
		{name: "seed huge", raw: `{"images":["https://e.com/a.png"],"prompt":"p","seed":99999999999999999999999}`, field: "seed: is 9223372036854775807"},
		{name: "seed exponent", raw: `{"images":["https://e.com/a.png"],"prompt":"p","seed":1e3}`, field: "seed: must be an integer"},
		{name: "seed bool", edit: func(b map[string]any) { b["seed"] = true }, field: "seed: must be an integer"},
		{name: "size too small", edit: func(b map[string]any) { b["size"] = "511*1024" }, field: `size: "511*1024": width is 511, must be 512 to 2048`},
		{name: "size too big", edit: func(b map[string]any) { b["size"] = "1024*2049" }, field: `size: "1024*2049"`},
		{name: "size with x", edit: func(b map[string]any) { b["size"] = "1024x1024" }, field: `size: "1024x1024" is not of the form`},
		{name: "size half", edit: func(b map[string]any) { b["size"] = "1024*" }, field: "size:"},
		{name: "size signed", edit: func(b map[string]any) { b["size"] = "+1024*1024" }, field: "size:"},
		{name: "size three sides", edit: func(b map[string]any) { b["size"] = "1024*1024*1" }, field: "size:"},
		{name: "size number", edit: func(b map[string]any) { b["size"] = 1024 }, field: "size: must be a string"},
		{name: "prompt_extend string", edit: func(b map[string]any) { b["prompt_extend"] = "true" }, field: "prompt_extend: must be a boolean"},
		{name: "prompt_extend null", edit: func(b map[string]any) { b["prompt_extend"] = nil }, field: "prompt_extend: must be a boolean"},
		{name: "safety_filter number", edit: func(b map[string]any) { b["safety_filter"] = 1 }, field: "safety_filter: must be a boolean or null"},
		{name: "every problem at once", edit: func(b map[string]any) { b["n"] = 9; b["seed"] = -2; delete(b, "prompt") }, field: "prompt: is required; n: is 9, must be 1 to 6; seed: is -2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body any = tc.raw
			if tc.raw == "" {
				b := validBody()
				tc.edit(b)
				body = b
			}
			resp, data := call(t, s, http.MethodPost, submitPath, body)
			require.Equal(t, http.StatusBadRequest, resp.StatusCode, string(data))
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			assert.Regexp(t, traceparentRE, resp.Header.Get("Traceparent"))
			var detail struct{ Detail string }
			require.NoError(t, json.Unmarshal(data, &detail))
			assert.Contains(t, detail.Detail, tc.field)
		})
	}
	assert.Zero(t, s.SubmitCount(), "no task for an invalid body")
}

func TestSubmitValidationAcceptsLimits(t *testing.T) {
	s := newTestServer(t)
	cases := map[string]func(b map[string]any){
		"800-character prompt":     func(b map[string]any) { b["prompt"] = strings.Repeat("猫", 800) },
		"500-character negative":   func(b map[string]any) { b["negative_prompt"] = strings.Repeat("é", 500) },
		"null negative":            func(b map[string]any) { b["negative_prompt"] = nil },
		"null safety_filter":       func(b map[string]any) { b["safety_filter"] = nil },
		"n 1":                      func(b map[string]any) { b["n"] = 1 },
		"n 6":                      func(b map[string]any) { b["n"] = 6 },
		"seed 0":                   func(b map[string]any) { b["seed"] = 0 },
		"seed max":                 func(b map[string]any) { b["seed"] = 2147483647 },
		"size min":                 func(b map[string]any) { b["size"] = "512*512" },
		"size max":                 func(b map[string]any) { b["size"] = "2048*2048" },
		"empty size means default": func(b map[string]any) { b["size"] = "" },
		"three images":             func(b map[string]any) { b["images"] = []any{"http://e.com/1", "https://e.com/2", "HTTPS://E.COM/3"} },
		"smallest image":           func(b map[string]any) { b["images"] = []any{dataURI(t, imageinfo.PNG, 384, 384)} },
		"image/jpg alias": func(b map[string]any) {
			b["images"] = []any{strings.Replace(dataURI(t, imageinfo.JPEG, 400, 400), "image/jpeg", "image/jpg", 1)}
		},
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			b := validBody()
			edit(b)
			submit(t, s, b)
		})
	}
}

func TestBodyTooLarge(t *testing.T) {
	s := newTestServer(t, withMaxBody(100))
	resp, data := call(t, s, http.MethodPost, submitPath, strings.Repeat(" ", 101))
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	assert.Contains(t, string(data), `"detail":"Request body too large`)
	assert.Regexp(t, traceparentRE, resp.Header.Get("Traceparent"))
	reqs := s.Requests()
	require.Len(t, reqs, 1)
	assert.True(t, reqs[0].Truncated)

	resp, _ = call(t, s, http.MethodPost, submitPath, strings.Repeat(" ", 100))
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "exactly the limit is read")
}

func TestAuthentication(t *testing.T) {
	s := newTestServer(t, WithAPIKey("other-test-key"))
	assert.Equal(t, "other-test-key", s.APIKey())
	id := submit(t, s, validBody())

	for name, auth := range map[string]string{
		"none":          "",
		"wrong key":     "Bearer " + defaultAPIKey,
		"basic":         "Basic other-test-key",
		"no scheme":     "other-test-key",
		"empty bearer":  "Bearer ",
		"key as prefix": "Bearer other-test-key-and-more",
	} {
		t.Run(name, func(t *testing.T) {
			for _, req := range []struct{ method, path string }{{"POST", submitPath}, {"GET", submitPath + "/" + id}, {"GET", submitPath + "/nope"}} {
				var body any
				if req.method == "POST" {
					body = validBody()
				}
				resp, data := callKey(t, s, req.method, req.path, body, auth)
				assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
				assert.JSONEq(t, `{"detail":"Invalid or missing API key"}`, string(data))
				assert.Regexp(t, traceparentRE, resp.Header.Get("Traceparent"))
				assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			}
		})
	}
	assert.Equal(t, 1, s.SubmitCount())

	resp, _ := callKey(t, s, "GET", submitPath+"/"+id, nil, "bearer other-test-key")
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the scheme is case-insensitive")

	assert.Equal(t, defaultAPIKey, newTestServer(t, WithAPIKey("")).APIKey(), "an empty key keeps the default")
}

func TestRouting(t *testing.T) {
	s := newTestServer(t)
	for _, tc := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/", http.StatusNotFound, ""},
		{"GET", "/vendors/alibaba/v1/qwen-image-edit-max", http.StatusNotFound, ""},
		{"POST", "/vendors/alibaba/v1//generation", http.StatusNotFound, ""},
		{"GET", submitPath + "/", http.StatusNotFound, ""},
		{"GET", submitPath + "/a/b", http.StatusNotFound, ""},
		{"POST", "/v1/inference/qwen-image-edit-max", http.StatusNotFound, ""},
		{"POST", "/vendors/alibaba/v1/qwen-image-edit-mx/generation", http.StatusNotFound, ""}, // a typo in the model
		{"GET", "/vendors/alibaba/v1/qwen-image-edit-mx/generation/some-id", http.StatusNotFound, ""},
		{"GET", submitPath, http.StatusMethodNotAllowed, "POST"},
		{"PUT", submitPath, http.StatusMethodNotAllowed, "POST"},
		{"POST", submitPath + "/some-id", http.StatusMethodNotAllowed, "GET"},
		{"DELETE", submitPath + "/some-id", http.StatusMethodNotAllowed, "GET"},
	} {
		resp, data := call(t, s, tc.method, tc.path, nil)
		assert.Equal(t, tc.status, resp.StatusCode, tc.method+" "+tc.path)
		assert.Equal(t, tc.allow, resp.Header.Get("Allow"))
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		assert.Regexp(t, traceparentRE, resp.Header.Get("Traceparent"))
		assert.JSONEq(t, `{"detail":"`+http.StatusText(tc.status)+`"}`, string(data))
	}
	// Unknown paths answer 404 even without a key.
	resp, _ := callKey(t, s, "GET", "/nowhere", nil, "")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

// TestModels checks that the sibling models are accepted and that a task
// is found only under the model it was made with.
func TestModels(t *testing.T) {
	s := newTestServer(t)
	for _, m := range []string{"qwen-image-edit-max", "qwen-image-edit-plus", "qwen-image-edit"} {
		resp, data := call(t, s, http.MethodPost, "/vendors/alibaba/v1/"+m+"/generation", validJSON)
		require.Equal(t, http.StatusAccepted, resp.StatusCode, m+": "+string(data))
	}
	id := s.Tasks()[0].ID // made with qwen-image-edit-max
	resp, _ := call(t, s, http.MethodGet, "/vendors/alibaba/v1/qwen-image-edit-max/generation/"+id, nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	resp, data := call(t, s, http.MethodGet, "/vendors/alibaba/v1/qwen-image-edit-plus/generation/"+id, nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "polled under another model")
	assert.Contains(t, string(data), "2005")
}

func TestUnknownTask(t *testing.T) {
	s := newTestServer(t)
	resp, data := call(t, s, http.MethodGet, submitPath+"/no-such-task", nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.JSONEq(t, `{"error_code":2005,"detail":"Task no-such-task does not exist"}`, string(data))
	assert.Regexp(t, traceparentRE, resp.Header.Get("Traceparent"))
}

func TestTraceparentIsRandom(t *testing.T) {
	s := newTestServer(t)
	seen := map[string]bool{}
	for range 20 {
		resp, _ := call(t, s, http.MethodGet, submitPath+"/x", nil)
		seen[resp.Header.Get("Traceparent")] = true
	}
	assert.Len(t, seen, 20)
}

func TestStatusProgression(t *testing.T) {
	for _, tc := range []struct {
		opts     []Option
		statuses [3]string
	}{
		{nil, [3]string{"pending", "processing", "completed"}},
		{[]Option{WithQueuedVocabulary()}, [3]string{"queued", "running", "succeeded"}},
	} {
		t.Run(tc.statuses[0], func(t *testing.T) {
			clk := newFakeClock()
			start := clk.Now()
			s := newTestServer(t, append([]Option{WithClock(clk.Now), WithTaskDuration(10 * time.Second)}, tc.opts...)...)
			body := validBody()
			body["n"] = 3
			resp, data := call(t, s, http.MethodPost, submitPath, body)
			require.Equal(t, http.StatusAccepted, resp.StatusCode)
			created := decodeTask(t, data)
			assert.Equal(t, tc.statuses[0], created.TaskInfo.Status)
			id := created.TaskInfo.ID

			steps := []struct {
				advance time.Duration
				status  string
				updated time.Duration // after start
			}{
				{0, tc.statuses[0], 0},
				{4999 * time.Millisecond, tc.statuses[0], 0},
				{time.Millisecond, tc.statuses[1], 5 * time.Second},
				{4999 * time.Millisecond, tc.statuses[1], 5 * time.Second},
				{time.Millisecond, tc.statuses[2], 10 * time.Second},
				{time.Hour, tc.statuses[2], 10 * time.Second},
			}
			for _, st := range steps {
				clk.Advance(st.advance)
				task := poll(t, s, id)
				assert.Equal(t, st.status, task.TaskInfo.Status, clk.Now().Sub(start))
				assert.Equal(t, formatTime(start), task.TaskInfo.CreatedAt)
				assert.Equal(t, formatTime(start.Add(st.updated)), task.TaskInfo.UpdatedAt)
				assert.Regexp(t, timeRE, task.TaskInfo.UpdatedAt)
				assert.Nil(t, task.TaskInfo.Error)
				if st.status == tc.statuses[2] {
					require.Len(t, task.Images, 3)
					for i, u := range task.Images {
						assert.Equal(t, resultURL(s.ResultsURL(), id, i), u)
					}
				} else {
					assert.Nil(t, task.Images)
				}
			}
		})
	}
}

// TestZeroDurationIsDoneWhenCreated: with the default duration the submit
// answer already says the task is done (so a client's Edit polls at once
// and users' tests are fast); its results come with the first poll.
func TestZeroDurationIsDoneWhenCreated(t *testing.T) {
	s := newTestServer(t)
	resp, data := call(t, s, http.MethodPost, submitPath, validBody())
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	created := decodeTask(t, data)
	assert.Equal(t, "completed", created.TaskInfo.Status, "done when created")
	assert.Empty(t, created.Images, "results come with a poll, as on the real API")

	resp, data = call(t, s, http.MethodGet, submitPath+"/"+created.TaskInfo.ID, nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	assert.Regexp(t, traceparentRE, resp.Header.Get("Traceparent"))
	var raw map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(data, &raw))
	assert.ElementsMatch(t, []string{"task_info", "images"}, func() []string {
		var k []string
		for key := range raw {
			k = append(k, key)
		}
		return k
	}())
	task := decodeTask(t, data)
	assert.Equal(t, "completed", task.TaskInfo.Status)
	assert.Len(t, task.Images, 1, "n defaults to 1")
}

func TestFailNextTask(t *testing.T) {
	for _, field := range []string{"code", "error_code"} {
		t.Run(field, func(t *testing.T) {
			clk := newFakeClock()
			s := newTestServer(t, WithClock(clk.Now), WithTaskDuration(2*time.Second), WithErrorCodeField(field))
			s.FailNextTask(3001, "Invalid Request", "The prompt contains prohibited content")
			s.FailNextTask(3002, "Second", "second failure")
			failed := submit(t, s, validBody())
			failed2 := submit(t, s, validBody())
			ok := submit(t, s, validBody())

			assert.Equal(t, "pending", poll(t, s, failed).TaskInfo.Status, "a failing task waits like any other")
			clk.Advance(time.Second)
			assert.Equal(t, "processing", poll(t, s, failed).TaskInfo.Status)
			clk.Advance(time.Second)

			resp, data := call(t, s, http.MethodGet, submitPath+"/"+failed, nil)
			assert.Equal(t, http.StatusOK, resp.StatusCode, "a failed task is still a successful lookup")
			var raw struct {
				TaskInfo map[string]json.RawMessage `json:"task_info"`
				Images   json.RawMessage            `json:"images"`
			}
			require.NoError(t, json.Unmarshal(data, &raw))
			assert.JSONEq(t, `"failed"`, string(raw.TaskInfo["status"]))
			assert.JSONEq(t, `{"`+field+`":3001,"title":"Invalid Request","detail":"The prompt contains prohibited content"}`, string(raw.TaskInfo["error"]))
			assert.Nil(t, raw.Images)

			assert.Equal(t, float64(3002), poll(t, s, failed2).TaskInfo.Error[field])
			task := poll(t, s, ok)
			assert.Equal(t, "completed", task.TaskInfo.Status, "each FailNextTask fails one task")
			assert.Nil(t, task.TaskInfo.Error)
		})
	}
}

func TestSetTaskStatus(t *testing.T) {
	clk := newFakeClock()
	s := newTestServer(t, WithClock(clk.Now), WithTaskDuration(time.Hour), WithQueuedVocabulary())
	id := submit(t, s, validBody())

	clk.Advance(time.Minute)
	require.NoError(t, s.SetTaskStatus(id, "cancelled"))
	task := poll(t, s, id)
	assert.Equal(t, "cancelled", task.TaskInfo.Status, "any string goes")
	assert.Equal(t, formatTime(clk.Now()), task.TaskInfo.UpdatedAt)
	assert.Nil(t, task.Images)

	require.NoError(t, s.SetTaskStatus(id, "completed"))
	task = poll(t, s, id)
	assert.Equal(t, "completed", task.TaskInfo.Status, "even from the other vocabulary")
	assert.Len(t, task.Images, 1)

	require.NoError(t, s.SetTaskStatus(id, "failed"))
	task = poll(t, s, id)
	assert.Equal(t, "failed", task.TaskInfo.Status)
	assert.Equal(t, float64(3001), task.TaskInfo.Error["code"])
	assert.NotEmpty(t, task.TaskInfo.Error["detail"])

	require.NoError(t, s.SetTaskStatus(id, ""))
	assert.Equal(t, "queued", poll(t, s, id).TaskInfo.Status, "back to the clock")

	err := s.SetTaskStatus("nope", "completed")
	assert.ErrorContains(t, err, "no such task")
}

func TestDeleteTask(t *testing.T) {
	s := newTestServer(t)
	id := submit(t, s, validBody())
	task := poll(t, s, id)
	require.Len(t, task.Images, 1)

	s.DeleteTask(id)
	s.DeleteTask("unknown ids are ignored")
	resp, data := call(t, s, http.MethodGet, submitPath+"/"+id, nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.JSONEq(t, `{"error_code":2005,"detail":"Task `+id+` does not exist"}`, string(data))
	assert.ErrorContains(t, s.SetTaskStatus(id, "completed"), "no such task")

	tasks := s.Tasks()
	require.Len(t, tasks, 1)
	assert.True(t, tasks[0].Deleted)
	assert.Equal(t, 1, s.SubmitCount())

	resp, _ = fetch(t, task.Images[0])
	assert.Equal(t, http.StatusOK, resp.StatusCode, "result URLs outlive the task record, as on a CDN")
}

func TestRequestsRecording(t *testing.T) {
	clk := newFakeClock()
	s := newTestServer(t, WithClock(clk.Now))
	body := `{"images":["https://example.com/a.png"],"prompt":"p"}`
	resp, data := call(t, s, http.MethodPost, submitPath+"?x=1", body)
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	id := decodeTask(t, data).TaskInfo.ID
	callKey(t, s, http.MethodGet, submitPath+"/"+id, nil, "")
	task := poll(t, s, id)
	fetch(t, task.Images[0])

	reqs := s.Requests()
	require.Len(t, reqs, 4)
	post := reqs[0]
	assert.Equal(t, OriginAPI, post.Origin)
	assert.Equal(t, "POST", post.Method)
	assert.Equal(t, submitPath, post.Path)
	assert.Equal(t, "x=1", post.RawQuery)
	assert.Equal(t, body, string(post.Body))
	assert.False(t, post.Truncated)
	assert.Equal(t, "Bearer "+s.APIKey(), post.Header.Get("Authorization"))
	assert.Equal(t, clk.Now(), post.Received)

	assert.Empty(t, reqs[1].Header.Get("Authorization"), "the unauthorized poll is recorded too")
	assert.Nil(t, reqs[1].Body)
	assert.False(t, reqs[1].Truncated)
	assert.Equal(t, OriginResults, reqs[3].Origin)
	assert.Equal(t, "/results/"+id+"/result_0.png", reqs[3].Path)

	// Copies: changing them does not change the record.
	reqs[0].Header.Set("Authorization", "changed")
	reqs[0].Body[0] = 'X'
	again := s.Requests()
	assert.Equal(t, "Bearer "+s.APIKey(), again[0].Header.Get("Authorization"))
	assert.Equal(t, byte('{'), again[0].Body[0])

	small := newTestServer(t, withMaxBody(20))
	call(t, small, http.MethodPost, submitPath, body)
	assert.Equal(t, body[:21], string(small.Requests()[0].Body), "what was read of a body over the limit")
	assert.True(t, small.Requests()[0].Truncated)
}

func TestConnections(t *testing.T) {
	s := newTestServer(t)
	assert.Zero(t, s.Connections())
	id := submit(t, s, validBody())
	for range 5 {
		poll(t, s, id)
	}
	assert.Equal(t, 1, s.Connections(), "a keep-alive client uses one connection")

	noReuse := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for range 3 {
		req, err := http.NewRequest(http.MethodGet, s.URL()+submitPath+"/"+id, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+s.APIKey())
		resp, err := noReuse.Do(req)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
	}
	assert.Equal(t, 4, s.Connections())

	// The results listener is not counted.
	fetch(t, poll(t, s, id).Images[0])
	assert.Equal(t, 4, s.Connections())
}

func TestNewServerAt(t *testing.T) {
	s, err := NewServerAt("127.0.0.1:0", "127.0.0.1:0", WithAPIKey("k"))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(s.URL(), "http://127.0.0.1:"))
	assert.True(t, strings.HasPrefix(s.ResultsURL(), "http://127.0.0.1:"))
	assert.NotEqual(t, s.URL(), s.ResultsURL(), "two origins")
	s.Close()
	s.Close() // harmless

	_, err = NewServerAt("127.0.0.1:bad", "127.0.0.1:0")
	assert.Error(t, err)
	_, err = NewServerAt("127.0.0.1:0", "not an address")
	assert.Error(t, err)

	// The API port is released when the results listener fails.
	taken := newTestServer(t)
	addr := strings.TrimPrefix(taken.URL(), "http://")
	_, err = NewServerAt("127.0.0.1:0", addr)
	assert.Error(t, err)
}

func TestNilOptionsAndOddValues(t *testing.T) {
	s := newTestServer(t, nil, WithClock(nil), WithErrorCodeField(""), WithTaskDuration(-time.Second))
	id := submit(t, s, validBody())
	assert.Equal(t, "completed", poll(t, s, id).TaskInfo.Status)
}

var upperUUIDRE = regexp.MustCompile(`^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$`)

func TestUppercaseIDs(t *testing.T) {
	s := newTestServer(t, WithUppercaseIDs())
	id := submit(t, s, validBody())
	assert.Regexp(t, upperUUIDRE, id)
	task := poll(t, s, id)
	assert.Equal(t, id, task.TaskInfo.ID)
	require.Len(t, task.Images, 1)
	assert.Contains(t, task.Images[0], "/results/"+id+"/")
	resp, _ := fetch(t, task.Images[0])
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	// Ids are opaque: no case folding anywhere.
	resp, data := call(t, s, http.MethodGet, submitPath+"/"+strings.ToLower(id), nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, string(data))
	resp, _ = fetch(t, strings.Replace(task.Images[0], id, strings.ToLower(id), 1))
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.ErrorContains(t, s.SetTaskStatus(strings.ToLower(id), "failed"), "no such task")

	lower := newTestServer(t)
	assert.Regexp(t, uuidV4RE, submit(t, lower, validBody()))
	resp, _ = call(t, lower, http.MethodGet, submitPath+"/"+strings.ToUpper(submit(t, lower, validBody())), nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestFailNextTaskDefaults(t *testing.T) {
	s := newTestServer(t)
	s.FailNextTask(3002, "", "")
	s.FailNextTask(3003, "Content Error", "")
	for _, want := range []map[string]any{
		{"code": float64(3002), "title": defaultFailTitle, "detail": defaultFailDetail},
		{"code": float64(3003), "title": "Content Error", "detail": "Content Error"},
	} {
		task := poll(t, s, submit(t, s, validBody()))
		assert.Equal(t, "failed", task.TaskInfo.Status)
		assert.Equal(t, want, task.TaskInfo.Error)
		assert.NotEmpty(t, task.TaskInfo.Error["detail"])
	}
}

func TestMIMEMismatchIsAcceptedWithAWarning(t *testing.T) {
	s := newTestServer(t)
	png := dataURI(t, "png", 400, 400)
	jpeg := "data:image/jpeg;base64," + strings.SplitN(png, ",", 2)[1]
	body := validBody()
	body["images"] = []any{"https://example.com/a.png", jpeg}
	id := submit(t, s, body)
	tasks := s.Tasks()
	require.Len(t, tasks, 1)
	assert.Equal(t, []string{"images[1]: declared as image/jpeg but the data is image/png; accepted as image/png"}, tasks[0].Warnings)
	tasks[0].Warnings[0] = "changed"
	assert.NotEqual(t, "changed", s.Tasks()[0].Warnings[0], "Tasks returns copies")

	// The result is rendered from the real format.
	task := poll(t, s, id)
	resp, data := fetch(t, task.Images[0])
	require.Equal(t, http.StatusOK, resp.StatusCode)
	decodePNG(t, data)

	submit(t, s, validBody())
	assert.Nil(t, s.Tasks()[1].Warnings)

	// Unsupported data stays refused, whatever it is declared as.
	bad := validBody()
	bad["images"] = []any{"data:image/png;base64,aGVsbG8sIHRoaXMgaXMgdGV4dA=="}
	resp, data = call(t, s, http.MethodPost, submitPath, bad)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, string(data), "unsupported or unreadable image")
}

// TestResultsBaseKeepsTheScheme: result URLs of a public TLS server are
// https too.
func TestResultsBaseKeepsTheScheme(t *testing.T) {
	any4 := &net.TCPAddr{IP: net.IPv4zero, Port: 9000}
	assert.Equal(t, "https://fake.example:9000", resultsBaseFor(any4, "https://0.0.0.0:9000", "fake.example:8080"))
}

// TestMaxRunningTasks: with a limit of 2 running tasks, a third valid
// submit is answered 429 with the seconds until the first one finishes,
// and creates nothing; once one finishes, a submit goes through again.
// An invalid submit is still a 400.
func TestMaxRunningTasks(t *testing.T) {
	clk := newFakeClock()
	s := newTestServer(t, WithClock(clk.Now), WithTaskDuration(5*time.Second), WithMaxRunningTasks(2))
	submit(t, s, validBody())
	clk.Advance(1500 * time.Millisecond)
	submit(t, s, validBody())

	resp, data := call(t, s, http.MethodPost, submitPath, validBody())
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode, string(data))
	assert.Equal(t, "4", resp.Header.Get("Retry-After"), "the first task finishes in 3.5 s")
	assert.Contains(t, string(data), "at most 2 at once")
	assert.Equal(t, 2, s.SubmitCount(), "a refused submit creates nothing")

	bad := validBody()
	bad["prompt"] = ""
	resp, _ = call(t, s, http.MethodPost, submitPath, bad)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)

	clk.Advance(3500 * time.Millisecond) // the first task is done
	submit(t, s, validBody())
	assert.Equal(t, 3, s.SubmitCount())
}
