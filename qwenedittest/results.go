package qwenedittest

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/seed-b62e15c8/qwenedit/internal/imageinfo"
)

// decodedSource caches the decoded last input image of a task.
type decodedSource struct {
	img image.Image
	err error
}

// serveResults is the handler of the result-image listener: a stand-in for
// the CDN behind real result URLs, so it asks for no key.
func (s *Server) serveResults(w http.ResponseWriter, r *http.Request) {
	defer s.track()()
	body, err := io.ReadAll(io.LimitReader(r.Body, s.maxBody+1))
	s.record(OriginResults, r, body, err == nil && int64(len(body)) <= s.maxBody)

	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	id, index, ok := parseResultPath(r.URL.Path)
	if !ok {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	expired := s.expired
	t := s.tasks[id]
	s.mu.Unlock()
	if expired {
		// What an object store says about an expired signed URL.
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
			`<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>`+"\n")
		return
	}
	if t == nil || index >= t.n {
		http.NotFound(w, r)
		return
	}
	data, err := t.resultPNG(index)
	if err != nil {
		http.Error(w, "cannot render result: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Header().Set("Cache-Control", "private, max-age=86400")
	_, _ = w.Write(data)
}

// parseResultPath splits "/results/<id>/result_<i>.png".
func parseResultPath(p string) (id string, index int, ok bool) {
	rest, ok := strings.CutPrefix(p, "/results/")
	if !ok {
		return "", 0, false
	}
	id, file, ok := strings.Cut(rest, "/")
	if !ok || id == "" {
		return "", 0, false
	}
	num, ok := strings.CutPrefix(file, "result_")
	if !ok {
		return "", 0, false
	}
	num, ok = strings.CutSuffix(num, ".png")
	if !ok || !allDigits(num) {
		return "", 0, false
	}
	index, err := strconv.Atoi(num)
	if err != nil {
		return "", 0, false
	}
	return id, index, true
}

// resultPNG renders result i once and caches it. The server lock is not
// held: rendering takes tens of milliseconds and must not stall the API.
func (t *task) resultPNG(i int) ([]byte, error) {
	slot := t.results[i]
	slot.once.Do(func() { slot.png, slot.err = t.render(i) })
	return slot.png, slot.err
}

// sourceImage decodes the last input image once for all result indexes.
func (t *task) sourceImage() (image.Image, error) {
	t.decodeOnce.Do(func() {
		img, err := imageinfo.Decode(bytes.NewReader(t.source), t.srcFormat)
		t.decoded = decodedSource{img: img, err: err}
	})
	return t.decoded.img, t.decoded.err
}

// render builds result i: the last input image, colour-inverted and resized
// to the output size, when it was sent inline; a gradient otherwise (URL
// inputs are never fetched) or when it cannot be decoded, since the header
// check at submit time does not prove the pixels are intact.
func (t *task) render(i int) ([]byte, error) {
	var img *image.NRGBA
	if t.source != nil {
		if src, err := t.sourceImage(); err == nil {
			img = transform(src, t.outW, t.outH, i)
		}
	}
	if img == nil {
		img = gradient(t.outW, t.outH, i)
	}
	var buf bytes.Buffer
	// Speed over size: these files live for one test.
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// tint is the colour that result i > 0 of a task is blended towards, so
// that the results of one task differ from each other.
func tint(i int) color.NRGBA {
	switch (i - 1) % 5 {
	case 0:
		return color.NRGBA{255, 0, 0, 255}
	case 1:
		return color.NRGBA{0, 160, 255, 255}
	case 2:
		return color.NRGBA{0, 200, 0, 255}
	case 3:
		return color.NRGBA{255, 200, 0, 255}
	default:
		return color.NRGBA{200, 0, 255, 255}
	}
}

// transform is the edit the fake applies to produce result i of a task from
// its last input image: a nearest-neighbour resize of src to w×h with the
// colours inverted (alpha kept) and, for i > 0, blended a quarter of the
// way towards a colour that depends on i, so that the n results of a task
// differ.
func transform(src image.Image, w, h, i int) *image.NRGBA {
	w, h = max(w, 0), max(h, 0)
	dst := image.NewNRGBA(image.Rect(0, 0, w, h))
	b := src.Bounds()
	if b.Empty() || w == 0 || h == 0 {
		return dst
	}
	xs := make([]int, w) // source column of each destination column
	for x := range xs {
		xs[x] = b.Min.X + x*b.Dx()/w
	}
	tc := tint(i)
	at := pixelReader(src)
	for y := range h {
		sy := b.Min.Y + y*b.Dy()/h
		row := dst.Pix[y*dst.Stride : y*dst.Stride+4*w]
		for x, sx := range xs {
			c := at(sx, sy)
			c.R, c.G, c.B = 255-c.R, 255-c.G, 255-c.B
			if i > 0 {
				c.R = uint8((3*int(c.R) + int(tc.R)) / 4)
				c.G = uint8((3*int(c.G) + int(tc.G)) / 4)
				c.B = uint8((3*int(c.B) + int(tc.B)) / 4)
			}
			row[4*x], row[4*x+1], row[4*x+2], row[4*x+3] = c.R, c.G, c.B, c.A
		}
	}
	return dst
}

// pixelReader returns a non-premultiplied pixel reader for img, avoiding the
// generic At and colour-model interfaces for the types decoders usually
// return: a 1024×1024 result costs a million reads.
func pixelReader(img image.Image) func(x, y int) color.NRGBA {
	switch img := img.(type) {
	case *image.NRGBA:
		return img.NRGBAAt
	case *image.RGBA:
		return func(x, y int) color.NRGBA {
			c := img.RGBAAt(x, y)
			if c.A == 255 {
				return color.NRGBA{c.R, c.G, c.B, 255}
			}
			return color.NRGBAModel.Convert(c).(color.NRGBA)
		}
	case *image.YCbCr:
		return func(x, y int) color.NRGBA {
			c := img.YCbCrAt(x, y)
			r, g, b := color.YCbCrToRGB(c.Y, c.Cb, c.Cr)
			return color.NRGBA{r, g, b, 255}
		}
	}
	return func(x, y int) color.NRGBA {
		return color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
	}
}

// gradient is result i of a task whose last input image was a URL: an
// opaque w×h gradient, red across and green down, with a blue level that
// depends on i.
func gradient(w, h, i int) *image.NRGBA {
	w, h = max(w, 0), max(h, 0)
	dst := image.NewNRGBA(image.Rect(0, 0, w, h))
	blue := uint8(64 + (i*48)%192)
	for y := range h {
		g := uint8(y * 255 / max(h-1, 1))
		row := dst.Pix[y*dst.Stride : y*dst.Stride+4*w]
		for x := range w {
			row[4*x], row[4*x+1], row[4*x+2], row[4*x+3] = uint8(x*255/max(w-1, 1)), g, blue, 255
		}
	}
	return dst
}
