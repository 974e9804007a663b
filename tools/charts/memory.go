package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"runtime"
	"strconv"

	"github.com/seed-b62e15c8/qwenedit/internal/streambody"
)

// The two ways of building the request body that the memory chart compares.
const (
	bodyNaive     = "naive"
	bodyStreaming = "streaming"
)

// memPrompt is the prompt of every measured request; its size is noise.
const memPrompt = "Put a red scarf on the cat"

// memRow is one measurement: the bytes allocated to build and send one
// request body of images images of imageBytes bytes each.
type memRow struct {
	body       string
	imageBytes int
	images     int
	bodyBytes  int64
	allocBytes uint64
}

// naiveRequest is the request as most clients build it, the vendor's example
// included: the wire fields (wireRequest in qwenedit.go; all but the prompt
// are omitted when unset) and every image as a base64 data URI string,
// images last so that its JSON is byte-for-byte the streaming body's.
type naiveRequest struct {
	Prompt string   `json:"prompt"`
	Images []string `json:"images"`
}

// naiveBody builds the body with json.Marshal and writes it out.
func naiveBody(images [][]byte, w io.Writer) (int64, error) {
	req := naiveRequest{Prompt: memPrompt}
	for _, img := range images {
		req.Images = append(req.Images, "data:image/png;base64,"+base64.StdEncoding.EncodeToString(img))
	}
	body, err := json.Marshal(req)
	if err != nil {
		return 0, err
	}
	return io.Copy(w, bytes.NewReader(body))
}

// streamingBody builds the body as the SDK does (internal/streambody) and
// writes it out.
func streamingBody(images [][]byte, w io.Writer) (int64, error) {
	fields, err := json.Marshal(struct {
		Prompt string `json:"prompt"`
	}{memPrompt})
	if err != nil {
		return 0, err
	}
	parts := make([]streambody.Part, len(images))
	for i, img := range images {
		parts[i] = streambody.Part{Inline: &streambody.Source{
			MediaType: "image/png",
			Size:      int64(len(img)),
			Open:      func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(img)), nil },
		}}
	}
	body, err := streambody.New(fields, parts)
	if err != nil {
		return 0, err
	}
	rc, err := body.Open()
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	return io.Copy(w, rc)
}

// bodyBuilders maps each compared body to its builder, in chart order.
var bodyBuilders = []struct {
	name  string
	build func([][]byte, io.Writer) (int64, error)
}{
	{bodyNaive, naiveBody},
	{bodyStreaming, streamingBody},
}

// measureMemory measures both bodies for images of each size (bytes).
func measureMemory(sizes []int, images, reps int) ([]memRow, error) {
	var rows []memRow
	for _, size := range sizes {
		imgs := fakeImages(size, images)
		for _, b := range bodyBuilders {
			n, alloc, err := allocated(reps, func() (int64, error) { return b.build(imgs, io.Discard) })
			if err != nil {
				return nil, fmt.Errorf("%s body, %d-byte images: %w", b.name, size, err)
			}
			rows = append(rows, memRow{body: b.name, imageBytes: size, images: images, bodyBytes: n, allocBytes: alloc})
		}
	}
	return rows, nil
}

// allocated runs fn reps times and returns the fewest heap bytes one run
// allocated (runtime.MemStats.TotalAlloc; the minimum drops whatever the
// runtime allocated meanwhile). Two GCs before each run empty the sync.Pools
// (encoding/json's buffers, io.Discard's), so every run starts cold, as a
// request does that follows others by more than a GC cycle.
func allocated(reps int, fn func() (int64, error)) (n int64, alloc uint64, err error) {
	alloc = math.MaxUint64
	for range max(reps, 1) {
		runtime.GC()
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		n, err = fn()
		runtime.ReadMemStats(&after)
		if err != nil {
			return 0, 0, err
		}
		alloc = min(alloc, after.TotalAlloc-before.TotalAlloc)
	}
	return n, alloc, nil
}

// fakeImages are count distinct byte slices of size bytes. Their content is
// irrelevant to either encoder (base64 costs the same on any bytes), so they
// are a cheap pattern rather than real images.
func fakeImages(size, count int) [][]byte {
	imgs := make([][]byte, count)
	for i := range imgs {
		img := make([]byte, size)
		for j := range img {
			img[j] = byte(j*31 + i*7 + j>>8)
		}
		imgs[i] = img
	}
	return imgs
}

var memHeader = []string{"body", "image_bytes", "images", "body_bytes", "alloc_bytes"}

// writeMemoryCSV writes the measurements for the docs.
func writeMemoryCSV(path string, rows []memRow) error {
	recs := [][]string{memHeader}
	for _, r := range rows {
		recs = append(recs, []string{
			r.body,
			strconv.Itoa(r.imageBytes),
			strconv.Itoa(r.images),
			strconv.FormatInt(r.bodyBytes, 10),
			strconv.FormatUint(r.allocBytes, 10),
		})
	}
	return writeCSV(path, recs)
}

// bodyStyles are the bodies' legend names, colours, dashes and label sides.
var bodyStyles = map[string]series{
	bodyNaive:     {name: "naive: json.Marshal of base64 strings", color: "#D55E00", dash: "6 4", labels: labelAbove},
	bodyStreaming: {name: "streaming: internal/streambody", color: "#0072B2", labels: labelBelow},
}

// memoryChart plots bytes allocated against image size, both on log scales:
// naive grows with the images, streaming stays flat decades lower.
func memoryChart(rows []memRow, notes ...string) chart {
	const mb = 1e6
	var ss []series
	xLo, xHi, yLo, yHi := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	images := 0
	for _, r := range rows {
		i := seriesFor(&ss, r.body, bodyStyles)
		x, y := float64(r.imageBytes)/mb, float64(r.allocBytes)
		ss[i].points = append(ss[i].points, point{x: x, y: y, label: siBytes(y)})
		xLo, xHi, yLo, yHi = min(xLo, x), max(xHi, x), min(yLo, y), max(yHi, y)
		images = r.images
	}
	xMin, xMax := xLo/1.25, xHi*1.25
	yMin, yMax := math.Pow(10, math.Floor(math.Log10(yLo/2))), math.Pow(10, math.Ceil(math.Log10(yHi*2)))
	return chart{
		title:    "Memory to build and send one request body",
		subtitle: memorySubtitle(rows, images),
		x: axis{label: "image size (MB per image, log scale)", min: xMin, max: xMax, log: true,
			ticks: logTicks(xMin, xMax, []float64{1, 2, 5}, plain)},
		y: axis{label: "bytes allocated per request (log scale)", min: yMin, max: yMax, log: true,
			ticks: logTicks(yMin, yMax, []float64{1}, siBytes)},
		series: ss,
		notes:  notes,
	}
}

// memorySubtitle states the result at the largest size measured: what each
// body allocated and the ratio.
func memorySubtitle(rows []memRow, images int) string {
	largest := map[string]memRow{}
	for _, r := range rows {
		if r.imageBytes >= largest[r.body].imageBytes {
			largest[r.body] = r
		}
	}
	n, s := largest[bodyNaive], largest[bodyStreaming]
	if n.allocBytes == 0 || s.allocBytes == 0 || n.imageBytes != s.imageBytes {
		return fmt.Sprintf("%d images per request", images)
	}
	return fmt.Sprintf("%d images of %s each: naive allocates %s, streaming %s (%.0f× less)",
		images, siBytes(float64(n.imageBytes)), siBytes(float64(n.allocBytes)), siBytes(float64(s.allocBytes)),
		float64(n.allocBytes)/float64(s.allocBytes))
}

// siBytes formats a byte count with a decimal prefix and 3 significant
// digits: 113 kB, 2.4 MB, 1 GB.
func siBytes(v float64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	i := 0
	for v >= 999.5 && i < len(units)-1 {
		v /= 1000
		i++
	}
	return strconv.FormatFloat(roundSig(v, 3), 'f', -1, 64) + " " + units[i]
}
