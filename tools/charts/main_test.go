package main

import (
	"bytes"
	"encoding/csv"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const smallScheduleCSV = `schedule,duration_s,requests,notice_delay_s
sdk-default,5,2.185,2.059
fixed-5s,5,1.500,2.500
fixed-20s,5,1.000,15.000
sdk-default,120,15.037,4.892
fixed-5s,120,24.500,2.500
fixed-20s,120,6.500,10.000
`

// TestRunDrawsBothCharts runs the command on small inputs and checks both
// SVGs are well-formed XML naming every series, and the memory CSV.
func TestRunDrawsBothCharts(t *testing.T) {
	out := t.TempDir()
	require.NoError(t, writeFile(filepath.Join(out, "data", "poll-schedule.csv"), []byte(smallScheduleCSV)))
	var log bytes.Buffer
	require.NoError(t, run([]string{"-out", out, "-sizes", "0.01,0.05", "-reps", "1"}, &log))
	assert.Contains(t, log.String(), "memory-vs-image-size.svg")

	texts := svgTexts(t, filepath.Join(out, "memory-vs-image-size.svg"))
	assert.Contains(t, texts, bodyStyles[bodyNaive].name)
	assert.Contains(t, texts, bodyStyles[bodyStreaming].name)
	assert.Contains(t, texts, "image size (MB per image, log scale)")

	texts = svgTexts(t, filepath.Join(out, "poll-requests-vs-delay.svg"))
	for _, s := range scheduleStyles {
		assert.Contains(t, texts, s.name)
	}
	assert.Contains(t, texts, "5 s")
	assert.Contains(t, texts, "2 min")

	f, err := os.Open(filepath.Join(out, "data", "memory.csv"))
	require.NoError(t, err)
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	assert.Equal(t, memHeader, recs[0])
	assert.Len(t, recs, 1+2*2, "a row per body per size")
}

// svgTexts parses the SVG at path with encoding/xml (failing the test if it
// is not well-formed) and returns the content of its <text> elements.
func svgTexts(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	dec := xml.NewDecoder(bytes.NewReader(data))
	var texts []string
	var root string
	inText := false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err, "%s is not well-formed XML", path)
		switch tok := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = tok.Name.Local
			}
			inText = tok.Name.Local == "text"
		case xml.EndElement:
			inText = false
		case xml.CharData:
			if inText {
				texts = append(texts, string(tok))
			}
		}
	}
	assert.Equal(t, "svg", root)
	return texts
}

// TestBodiesAreIdentical: the two measured encoders must produce the same
// bytes, or the memory chart compares different requests.
func TestBodiesAreIdentical(t *testing.T) {
	imgs := fakeImages(1000, 3)
	imgs[1] = imgs[1][:998] // base64 padding on one image
	var naive, streaming bytes.Buffer
	n1, err := naiveBody(imgs, &naive)
	require.NoError(t, err)
	n2, err := streamingBody(imgs, &streaming)
	require.NoError(t, err)
	assert.Equal(t, naive.String(), streaming.String())
	assert.Equal(t, n1, n2)
	assert.True(t, strings.HasPrefix(naive.String(), `{"prompt":"`+memPrompt+`","images":["data:image/png;base64,`))
}

func TestMeasureMemory(t *testing.T) {
	rows, err := measureMemory([]int{200_000}, 3, 2)
	require.NoError(t, err)
	require.Len(t, rows, 2)
	naive, streaming := rows[0], rows[1]
	assert.Equal(t, bodyNaive, naive.body)
	assert.Equal(t, bodyStreaming, streaming.body)
	assert.Equal(t, naive.bodyBytes, streaming.bodyBytes)
	assert.Greater(t, naive.allocBytes, uint64(naive.bodyBytes), "naive holds at least the whole body")
	assert.Less(t, streaming.allocBytes, uint64(naive.bodyBytes)/2, "streaming never holds the whole body")
}

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"-out", "x"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join("x", "data", "poll-schedule.csv"), cfg.schedule)
	assert.Equal(t, []int{500_000, 1_000_000, 2_000_000, 5_000_000, 10_000_000}, cfg.sizes)
	for _, bad := range [][]string{{"-sizes", "1,x"}, {"-sizes", "0"}, {"-images", "0"}, {"extra"}} {
		_, err := parseFlags(bad, io.Discard)
		assert.Error(t, err, bad)
	}
	_, err = parseFlags([]string{"-h"}, io.Discard)
	assert.ErrorIs(t, err, flag.ErrHelp)
}

func TestTicksAndLabels(t *testing.T) {
	lo, hi := niceLogBounds(1, 120.5)
	assert.Equal(t, [2]float64{0.5, 200}, [2]float64{lo, hi})
	var labels []string
	for _, tk := range logTicks(lo, hi, []float64{1, 2, 5}, plain) {
		labels = append(labels, tk.label)
	}
	assert.Equal(t, []string{"0.5", "1", "2", "5", "10", "20", "50", "100", "200"}, labels)
	assert.Equal(t, "0", linearTicks(0, 16, 2, plain)[0].label, "never -0")
	assert.Len(t, linearTicks(0, 16, 2, plain), 9)
	assert.Equal(t, "126 kB", siBytes(125584))
	assert.Equal(t, "293 MB", siBytes(293397392))
	assert.Equal(t, "1 GB", siBytes(1e9))
	assert.Equal(t, "10 min", durationLabel(600))
	assert.Equal(t, "90 s", durationLabel(90))
}

func TestRenderRefusesBadCharts(t *testing.T) {
	ok := axis{label: "x", min: 1, max: 10}
	for name, c := range map[string]chart{
		"inverted axis":   {x: axis{min: 2, max: 1}, y: ok},
		"log through 0":   {x: ok, y: axis{min: 0, max: 10, log: true}},
		"point off chart": {x: ok, y: ok, series: []series{{name: "s", points: []point{{x: 20, y: 5}}}}},
	} {
		assert.Error(t, c.render(io.Discard), name)
	}
}
