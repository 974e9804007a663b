package qwenedit

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-b62e15c8/qwenedit/internal/limits"
)

// problems returns the FieldErrors of err, failing the test if it is not a *ValidationError.
func problems(t *testing.T, err error) []FieldError {
	t.Helper()
	var v *ValidationError
	require.ErrorAs(t, err, &v)
	assert.ErrorIs(t, err, ErrInvalidRequest)
	return v.Problems
}

func fields(ps []FieldError) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Field
	}
	return out
}

func TestValidateFieldLimits(t *testing.T) {
	img := []Image{ImageURL("https://example.com/a.png")}
	ok := func(mutate func(r *EditRequest)) *EditRequest {
		r := &EditRequest{Images: img, Prompt: "p"}
		mutate(r)
		return r
	}
	cases := []struct {
		name  string
		req   *EditRequest
		field string // "" = valid
		msg   string
	}{
		{"minimal", ok(func(*EditRequest) {}), "", ""},
		{"800 chinese characters", ok(func(r *EditRequest) { r.Prompt = strings.Repeat("猫", 800) }), "", ""},
		{"801 characters", ok(func(r *EditRequest) { r.Prompt = strings.Repeat("a", 801) }), "prompt", "801 characters, at most 800"},
		{"blank prompt", ok(func(r *EditRequest) { r.Prompt = " \n" }), "prompt", "required"},
		{"invalid utf8", ok(func(r *EditRequest) { r.Prompt = "\xff" }), "prompt", "UTF-8"},
		{"negative 500", ok(func(r *EditRequest) { r.NegativePrompt = strings.Repeat("模", 500) }), "", ""},
		{"negative 501", ok(func(r *EditRequest) { r.NegativePrompt = strings.Repeat("x", 501) }), "negative_prompt", "at most 500"},
		{"n 1", ok(func(r *EditRequest) { r.N = 1 }), "", ""},
		{"n 6", ok(func(r *EditRequest) { r.N = 6 }), "", ""},
		{"n 7", ok(func(r *EditRequest) { r.N = 7 }), "n", "1 to 6"},
		{"n -1", ok(func(r *EditRequest) { r.N = -1 }), "n", "1 to 6"},
		{"seed 0", ok(func(r *EditRequest) { r.Seed = Ptr(0) }), "", ""},
		{"seed max", ok(func(r *EditRequest) { r.Seed = Ptr(limits.MaxSeed) }), "", ""},
		{"seed -1", ok(func(r *EditRequest) { r.Seed = Ptr(-1) }), "seed", "0 to 2147483647"},
		{"seed max+1", ok(func(r *EditRequest) { r.Seed = Ptr(limits.MaxSeed + 1) }), "seed", "0 to 2147483647"},
		{"size edges", ok(func(r *EditRequest) { r.Size = Size{512, 2048} }), "", ""},
		{"size 511", ok(func(r *EditRequest) { r.Size = Size{511, 1024} }), "size", "width is 511, must be 512 to 2048"},
		{"size 2049", ok(func(r *EditRequest) { r.Size = Size{1024, 2049} }), "size", "height is 2049"},
		{"half a size", ok(func(r *EditRequest) { r.Size = Size{Width: 1024} }), "size", "height is 0"},
		{"no images", ok(func(r *EditRequest) { r.Images = nil }), "images", "has 0 images, must have 1 to 3"},
		{"four images", ok(func(r *EditRequest) { r.Images = append(img, img[0], img[0], img[0]) }), "images", "has 4 images"},
		{"three images", ok(func(r *EditRequest) { r.Images = append(img, img[0], img[0]) }), "", ""},
		{"ftp url", ok(func(r *EditRequest) { r.Images = []Image{ImageURL("ftp://x/a.png")} }), "images[0]", "use http or https"},
		{"relative url", ok(func(r *EditRequest) { r.Images = []Image{ImageURL("/a.png")} }), "images[0]", "scheme"},
		{"no host", ok(func(r *EditRequest) { r.Images = []Image{ImageURL("https:///a.png")} }), "images[0]", "no host"},
		{"data uri", ok(func(r *EditRequest) { r.Images = []Image{ImageURL("data:image/png;base64,AAAA")} }), "images[0]", "ImageBytes"},
		{"zero image", ok(func(r *EditRequest) { r.Images = []Image{{}} }), "images[0]", "zero Image"},
		{"second image bad", ok(func(r *EditRequest) { r.Images = append(img, ImageURL("gopher://x")) }), "images[1]", "scheme"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.req.Validate()
			if tc.field == "" {
				require.NoError(t, err)
				return
			}
			ps := problems(t, err)
			require.Len(t, ps, 1, "%v", ps)
			assert.Equal(t, tc.field, ps[0].Field)
			assert.Contains(t, ps[0].Message, tc.msg)
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	r := &EditRequest{
		Images:         []Image{ImageURL("ftp://a"), ImageBytes([]byte("not an image"))},
		Prompt:         "",
		NegativePrompt: strings.Repeat("n", 600),
		N:              9,
		Seed:           Ptr(-5),
		Size:           Size{100, 5000},
	}
	ps := problems(t, r.Validate())
	assert.Equal(t, []string{"prompt", "negative_prompt", "n", "seed", "size", "size", "images[0]", "images[1]"}, fields(ps))
	var nilReq *EditRequest
	assert.Equal(t, []string{"request"}, fields(problems(t, nilReq.Validate())))
}

func TestSubmitValidatesBeforeAnyNetworkCall(t *testing.T) {
	c, mt, _ := mockClient(t)
	_, err := c.Submit(context.Background(), &EditRequest{Prompt: "x"})
	assert.ErrorIs(t, err, ErrInvalidRequest)
	_, err = c.Edit(context.Background(), &EditRequest{Images: []Image{ImageURL("https://x.test/a.png")}})
	assert.ErrorIs(t, err, ErrInvalidRequest)
	assert.Zero(t, mt.GetTotalCallCount())
}

// submittedJSON submits req through a mock and returns the decoded body.
func submittedJSON(t *testing.T, req *EditRequest) map[string]any {
	t.Helper()
	c, mt, _ := mockClient(t)
	var body map[string]any
	mt.RegisterResponder(http.MethodPost, submitURL, func(r *http.Request) (*http.Response, error) {
		raw, err := io.ReadAll(r.Body)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(raw, &body))
		return jsonResponder(202, pendingJS)(r)
	})
	_, err := c.Submit(context.Background(), req)
	require.NoError(t, err)
	return body
}

func TestWireFormatOmitsUnsetAndSendsZeroValues(t *testing.T) {
	body := submittedJSON(t, &EditRequest{Images: []Image{ImageURL("https://x.test/a.png?sig=1&b=<2>")}, Prompt: "edit"})
	assert.Equal(t, map[string]any{"images": []any{"https://x.test/a.png?sig=1&b=<2>"}, "prompt": "edit"}, body)

	body = submittedJSON(t, &EditRequest{
		Images:         []Image{ImageURL("https://x.test/a.png"), ImageURL("https://x.test/b.png")},
		Prompt:         "Put Image 1 on Image 2",
		NegativePrompt: "blurry",
		N:              2,
		Seed:           Ptr(0),
		Size:           Size{1024, 768},
		PromptExtend:   Ptr(false),
		SafetyFilter:   Ptr(false),
	})
	assert.Equal(t, map[string]any{
		"images":          []any{"https://x.test/a.png", "https://x.test/b.png"},
		"prompt":          "Put Image 1 on Image 2",
		"negative_prompt": "blurry",
		"n":               float64(2),
		"seed":            float64(0),
		"size":            "1024*768",
		"prompt_extend":   false,
		"safety_filter":   false,
	}, body)
}

func TestSizeParseAndString(t *testing.T) {
	for in, want := range map[string]Size{"1024*768": {1024, 768}, "512x512": {512, 512}, " 640 X 480 ": {640, 480}} {
		got, err := ParseSize(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got)
	}
	for _, bad := range []string{"", "1024", "1024*", "*768", "a*b", "-1*5", "0*5", "+5*5", "1*2*3", "99999999999999999999*1"} {
		_, err := ParseSize(bad)
		assert.Error(t, err, bad)
	}
	assert.Equal(t, "1024*768", Size{1024, 768}.String())
	var s Size
	require.NoError(t, s.UnmarshalText([]byte("800*600")))
	assert.Equal(t, Size{800, 600}, s)
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"1024*768", "1x1", "", "*", "00012*3", "9223372036854775807*1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sz, err := ParseSize(s)
		if err != nil {
			return
		}
		assert.Positive(t, sz.Width)
		assert.Positive(t, sz.Height)
		again, err := ParseSize(sz.String())
		require.NoError(t, err)
		assert.Equal(t, sz, again)
	})
}

func FuzzValidate(f *testing.F) {
	f.Add("prompt", "", 1, 0, 1024, 768, []byte("\x89PNG\r\n\x1a\n"))
	f.Add("", "neg", 7, -1, 0, 0, []byte("GIF89a"))
	f.Fuzz(func(t *testing.T, prompt, neg string, n, seed, w, h int, img []byte) {
		r := &EditRequest{Images: []Image{ImageBytes(img)}, Prompt: prompt, NegativePrompt: neg, N: n, Seed: &seed, Size: Size{w, h}}
		err := r.Validate()
		if err == nil {
			return
		}
		var v *ValidationError
		require.ErrorAs(t, err, &v)
		require.NotEmpty(t, v.Problems)
		for _, p := range v.Problems {
			assert.NotEmpty(t, p.Field)
			assert.NotEmpty(t, p.Message)
		}
	})
}

// TestValidateChecksImagesDespiteAWrongCount: "all problems at once" holds
// when the number of images is wrong too: each image is still checked (of
// too many, the first 10).
func TestValidateChecksImagesDespiteAWrongCount(t *testing.T) {
	good := ImageURL("https://example.com/a.png")
	bad := ImageBytes([]byte("not an image"))
	r := &EditRequest{Images: []Image{good, bad, good, ImageURL("ftp://x")}, Prompt: "p"}
	ps := problems(t, r.Validate())
	assert.Equal(t, []string{"images", "images[1]", "images[3]"}, fields(ps))
	assert.Equal(t, "has 4 images, must have 1 to 3", ps[0].Message)
	assert.Contains(t, ps[1].Message, "not a supported image format")

	many := make([]Image, 12)
	for i := range many {
		many[i] = bad
	}
	ps = problems(t, (&EditRequest{Images: many, Prompt: "p"}).Validate())
	require.Len(t, ps, 1+10)
	assert.Equal(t, "has 12 images, must have 1 to 3 (only the first 10 were checked)", ps[0].Message)
	assert.Equal(t, "images[9]", ps[10].Field)

	ps = problems(t, (&EditRequest{Prompt: "p"}).Validate())
	assert.Equal(t, []string{"images"}, fields(ps))
}

// TestWireFields: unset optional fields are left out so the server applies
// its defaults, pointer fields set to zero values are sent, and the size
// goes as "W*H".
func TestWireFields(t *testing.T) {
	for _, tc := range []struct {
		req  EditRequest
		want string
	}{
		{EditRequest{Prompt: "p"}, `{"prompt":"p"}`},
		{EditRequest{Prompt: "p", Seed: Ptr(0), PromptExtend: Ptr(false), SafetyFilter: Ptr(false)},
			`{"prompt":"p","seed":0,"prompt_extend":false,"safety_filter":false}`},
		{EditRequest{Prompt: "q\"<", NegativePrompt: "blur", N: 2, Seed: Ptr(42), Size: Size{1024, 768}, PromptExtend: Ptr(true)},
			`{"prompt":"q\"\u003c","negative_prompt":"blur","n":2,"seed":42,"size":"1024*768","prompt_extend":true}`},
	} {
		got, err := tc.req.fieldsJSON()
		require.NoError(t, err)
		assert.JSONEq(t, tc.want, string(got))
		assert.Equal(t, tc.want, string(got), "names in the documented order")
	}
}
