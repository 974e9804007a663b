package qwenedittest

import (
	"bytes"
	"image"
	"image/color"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-b62e15c8/qwenedit/internal/imageinfo"
	"github.com/seed-b62e15c8/qwenedit/internal/imagetest"
)

func TestResultImageFromInlineInput(t *testing.T) {
	s := newTestServer(t)
	input := imagetest.MustEncode(t, imageinfo.PNG, 640, 480)
	src, err := imageinfo.Decode(bytes.NewReader(input), imageinfo.PNG)
	require.NoError(t, err)

	body := validBody()
	body["images"] = []any{"https://example.com/first.png", dataURI(t, imageinfo.PNG, 640, 480)}
	body["n"] = 2
	task := poll(t, s, submit(t, s, body))
	require.Len(t, task.Images, 2)

	// Served from a different origin than the API, without a key.
	u, err := url.Parse(task.Images[0])
	require.NoError(t, err)
	api, err := url.Parse(s.URL())
	require.NoError(t, err)
	assert.NotEqual(t, api.Host, u.Host)
	assert.Equal(t, s.ResultsURL(), u.Scheme+"://"+u.Host)

	resp, first := fetch(t, task.Images[0])
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "image/png", resp.Header.Get("Content-Type"))
	assert.Equal(t, strconv.Itoa(len(first)), resp.Header.Get("Content-Length"))
	img := decodePNG(t, first)
	assert.Equal(t, image.Pt(640, 480), img.Bounds().Size(), "no size: the input's own size, being under 1024")

	// The colours of the last input, inverted: visibly edited, and derived
	// from the input rather than made up.
	for _, p := range []image.Point{{0, 0}, {320, 240}, {639, 479}} {
		in := color.NRGBAModel.Convert(src.At(p.X, p.Y)).(color.NRGBA)
		out := color.NRGBAModel.Convert(img.At(p.X, p.Y)).(color.NRGBA)
		assert.Equal(t, color.NRGBA{255 - in.R, 255 - in.G, 255 - in.B, in.A}, out, p)
	}
	assert.Equal(t, transform(src, 640, 480, 0).Pix, toNRGBA(img).Pix)

	_, second := fetch(t, task.Images[1])
	assert.NotEqual(t, first, second, "the n results differ")
	assert.Equal(t, transform(src, 640, 480, 1).Pix, toNRGBA(decodePNG(t, second)).Pix)

	_, again := fetch(t, task.Images[0])
	assert.Equal(t, first, again, "cached and deterministic")

	// HEAD works too, with the length.
	head, err := http.Head(task.Images[0])
	require.NoError(t, err)
	require.NoError(t, head.Body.Close())
	assert.Equal(t, http.StatusOK, head.StatusCode)
	assert.Equal(t, int64(len(first)), head.ContentLength)
}

func toNRGBA(img image.Image) *image.NRGBA {
	if n, ok := img.(*image.NRGBA); ok {
		return n
	}
	b := img.Bounds()
	out := image.NewNRGBA(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			out.Set(x, y, img.At(x, y))
		}
	}
	return out
}

func TestResultImageSizes(t *testing.T) {
	s := newTestServer(t)
	for _, tc := range []struct {
		name  string
		image string
		size  string
		want  image.Point
	}{
		{"inline, size given", dataURI(t, imageinfo.JPEG, 640, 480), "800*608", image.Pt(800, 608)},
		{"size rounded to multiples of 16", dataURI(t, imageinfo.JPEG, 640, 480), "1033*1030", image.Pt(1040, 1024)},
		{"inline landscape over 1024", dataURI(t, imageinfo.PNG, 2000, 1000), "", image.Pt(1024, 512)},
		{"inline portrait over 1024", dataURI(t, imageinfo.PNG, 1000, 3000), "", image.Pt(341, 1024)},
		{"URL, no size", "https://example.com/x.png", "", image.Pt(1024, 1024)},
		{"URL, size given", "https://example.com/x.png", "512*2048", image.Pt(512, 2048)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := validBody()
			body["images"] = []any{tc.image}
			if tc.size != "" {
				body["size"] = tc.size
			}
			task := poll(t, s, submit(t, s, body))
			require.Len(t, task.Images, 1)
			resp, data := fetch(t, task.Images[0])
			require.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, tc.want, decodePNG(t, data).Bounds().Size())
		})
	}
}

func TestResultGradientForURLInput(t *testing.T) {
	s := newTestServer(t)
	body := validBody()
	body["size"] = "512*512"
	body["n"] = 2
	task := poll(t, s, submit(t, s, body))
	_, a := fetch(t, task.Images[0])
	_, b := fetch(t, task.Images[1])
	assert.Equal(t, gradient(512, 512, 0).Pix, toNRGBA(decodePNG(t, a)).Pix)
	assert.NotEqual(t, a, b)
}

func TestResultImageNotFound(t *testing.T) {
	s := newTestServer(t)
	id := submit(t, s, validBody()) // n = 1
	for _, p := range []string{
		"/results/" + id + "/result_1.png",
		"/results/unknown/result_0.png",
		"/results/" + id + "/result_x.png",
		"/results/" + id + "/result_0.jpg",
		"/results/" + id + "/result_-1.png",
		"/results//result_0.png",
		"/other",
	} {
		resp, _ := fetch(t, s.ResultsURL()+p)
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, p)
	}
	resp, err := http.Post(s.ResultsURL()+"/results/"+id+"/result_0.png", "text/plain", nil)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}

func TestResultRequestsRecordAuthorization(t *testing.T) {
	s := newTestServer(t)
	task := poll(t, s, submit(t, s, validBody()))
	req, err := http.NewRequest(http.MethodGet, task.Images[0], nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+s.APIKey())
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the CDN ignores the header...")

	var leaked []string
	for _, r := range s.Requests() {
		if r.Origin == OriginResults && r.Header.Get("Authorization") != "" {
			leaked = append(leaked, r.Path)
		}
	}
	assert.Len(t, leaked, 1, "...but the recording shows the leak")
}

func TestExpireResults(t *testing.T) {
	s := newTestServer(t)
	before := poll(t, s, submit(t, s, validBody()))
	resp, _ := fetch(t, before.Images[0])
	require.Equal(t, http.StatusOK, resp.StatusCode)

	s.ExpireResults()
	resp, data := fetch(t, before.Images[0])
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "cached results expire too")
	assert.Contains(t, string(data), "AccessDenied")

	after := poll(t, s, submit(t, s, validBody()))
	resp, _ = fetch(t, after.Images[0])
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "and so do new ones")
}

func TestTransformAndGradientEdgeCases(t *testing.T) {
	assert.Equal(t, image.Pt(10, 10), transform(image.NewNRGBA(image.Rect(0, 0, 0, 0)), 10, 10, 0).Bounds().Size(), "empty source: blank image")
	assert.True(t, transform(image.NewNRGBA(image.Rect(5, 5, 9, 9)), -1, 3, 7).Bounds().Empty())
	assert.True(t, gradient(-1, -1, 0).Bounds().Empty())
	g := gradient(1, 1, 100)
	assert.Equal(t, uint8(255), g.NRGBAAt(0, 0).A)

	// A source whose bounds do not start at the origin.
	sub := image.NewNRGBA(image.Rect(10, 10, 12, 12))
	sub.SetNRGBA(10, 10, color.NRGBA{10, 20, 30, 255})
	out := transform(sub, 4, 4, 0)
	assert.Equal(t, color.NRGBA{245, 235, 225, 255}, out.NRGBAAt(0, 0))
}

func TestResultsBaseForPublicListener(t *testing.T) {
	loop := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9000}
	any4 := &net.TCPAddr{IP: net.IPv4zero, Port: 9000}
	any6 := &net.TCPAddr{IP: net.IPv6unspecified, Port: 9000}
	assert.Equal(t, "http://127.0.0.1:9000", resultsBaseFor(loop, "http://127.0.0.1:9000", "127.0.0.1:8080"))
	assert.Equal(t, "http://fake.example:9000", resultsBaseFor(any4, "http://0.0.0.0:9000", "fake.example:8080"))
	assert.Equal(t, "http://[2001:db8::1]:9000", resultsBaseFor(any6, "http://[::]:9000", "[2001:db8::1]:8080"))
	assert.Equal(t, "http://fake.example:9000", resultsBaseFor(any4, "http://0.0.0.0:9000", "fake.example"))
	assert.Equal(t, "http://0.0.0.0:9000", resultsBaseFor(any4, "http://0.0.0.0:9000", ""))
}

func TestParseResultPath(t *testing.T) {
	id, i, ok := parseResultPath("/results/abc/result_12.png")
	assert.True(t, ok)
	assert.Equal(t, "abc", id)
	assert.Equal(t, 12, i)
	_, _, ok = parseResultPath("/results/abc/result_99999999999999999999999.png")
	assert.False(t, ok)
}
