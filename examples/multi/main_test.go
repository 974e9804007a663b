package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-b62e15c8/qwenedit"
	"github.com/seed-b62e15c8/qwenedit/examples/internal/demo"
	"github.com/seed-b62e15c8/qwenedit/examples/internal/demotest"
	"github.com/seed-b62e15c8/qwenedit/qwenedittest"
)

func runMulti(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	err = run(context.Background(), append([]string{"-poll", "10ms"}, args...), &out, &errb)
	return out.String(), errb.String(), err
}

// dataURIBytes decodes an inline image as the server received it.
func dataURIBytes(t *testing.T, s string) []byte {
	t.Helper()
	meta, payload, ok := strings.Cut(s, ",")
	require.True(t, ok, "a data URI")
	require.True(t, strings.HasPrefix(meta, "data:image/") && strings.HasSuffix(meta, ";base64"), meta)
	b, err := base64.StdEncoding.DecodeString(payload)
	require.NoError(t, err)
	return b
}

func decodePNG(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	require.NoError(t, err)
	return img
}

func readPNG(t *testing.T, path string) image.Image {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return decodePNG(t, b)
}

// samePixels compares two images pixel by pixel as NRGBA.
func samePixels(t *testing.T, want, got image.Image, msg string) {
	t.Helper()
	require.Equal(t, want.Bounds(), got.Bounds(), msg)
	for y := want.Bounds().Min.Y; y < want.Bounds().Max.Y; y++ {
		for x := want.Bounds().Min.X; x < want.Bounds().Max.X; x++ {
			w, g := want.At(x, y), got.At(x, y)
			wr, wg, wb, wa := w.RGBA()
			gr, gg, gb, ga := g.RGBA()
			if wr != gr || wg != gg || wb != gb || wa != ga {
				t.Fatalf("%s: pixel (%d,%d) differs: want %v, got %v", msg, x, y, w, g)
			}
		}
	}
}

func TestDemoImagesAreSentInPromptOrder(t *testing.T) {
	srv := demotest.FakeAPI(t, qwenedittest.WithTaskDuration(0))
	out := t.TempDir()

	stdout, stderr, err := runMulti(t, "-out", out)
	require.NoError(t, err, stderr)

	// The listing comes before the submit, one line per image, in order.
	i1 := strings.Index(stdout, "Image 1: ")
	i2 := strings.Index(stdout, "Image 2: ")
	i3 := strings.Index(stdout, "Image 3: ")
	sub := strings.Index(stdout, "submitted")
	assert.True(t, 0 <= i1 && i1 < i2 && i2 < i3 && i3 < sub, stdout)
	assert.Contains(t, stdout, "image1-person.png  (demo: a person, 512×512 png)")
	assert.Contains(t, stdout, "image2-scene.png  (demo: a scene, 512×512 png)")
	assert.Contains(t, stdout, "image3-style.png  (demo: a style, 640×480 png, the output's aspect ratio follows this last image)")
	assert.Contains(t, stdout, "Prompt:  "+defaultPrompt)
	assert.NotContains(t, stderr, "fake server", "the environment's key and base URL are used")

	// The server saw the default prompt and the three demo images, in order.
	tasks := srv.Tasks()
	require.Len(t, tasks, 1)
	assert.Equal(t, defaultPrompt, tasks[0].Request.Prompt)
	require.Len(t, tasks[0].Request.Images, 3)
	for i, d := range demoImages {
		samePixels(t, d.draw(), decodePNG(t, dataURIBytes(t, tasks[0].Request.Images[i])), "Image "+string(rune('1'+i)))
	}
	assert.Contains(t, stdout, "task "+tasks[0].ID+" submitted")

	// The result was saved: the fake derives it from the last image, so its
	// size and pixels prove which image came last.
	saved := demotest.SavedPaths(stdout)
	require.Len(t, saved, 1)
	assert.Equal(t, filepath.Join(out, tasks[0].ID+"_0.png"), saved[0])
	samePixels(t, qwenedittest.Transform(drawStyle(), 640, 480, 0), readPNG(t, saved[0]), "result")

	// The temporary demo images are gone.
	line := stdout[i1 : strings.Index(stdout[i1:], "\n")+i1]
	demoPath := strings.TrimSpace(strings.Split(strings.TrimPrefix(line, "Image 1: "), "  (")[0])
	assert.NoFileExists(t, demoPath)
}

func TestGivenImagesKeepTheirOrder(t *testing.T) {
	srv := demotest.FakeAPI(t, qwenedittest.WithTaskDuration(0))
	dir := t.TempDir()
	person := filepath.Join(dir, "person.png")
	style := filepath.Join(dir, "style.png")
	require.NoError(t, writePNG(person, drawPerson()))
	require.NoError(t, writePNG(style, drawStyle()))
	scene := filepath.Join("..", "..", "testdata", "sample.png")
	// The landscape sample is the last image this time.
	order := []string{style, person, scene}
	prompt := "Paint the figure of Image 2 with the colours of Image 1 into Image 3"

	stdout, stderr, err := runMulti(t, "-image", order[0], "-image", order[1], "-image", order[2], "-prompt", prompt, "-out", t.TempDir())
	require.NoError(t, err, stderr)

	for i, p := range order {
		assert.Contains(t, stdout, "Image "+string(rune('1'+i))+": "+p+"  (")
	}
	assert.Contains(t, stdout, "Image 3: "+scene+"  (640×480 png, the output's aspect ratio follows this last image)")

	tasks := srv.Tasks()
	require.Len(t, tasks, 1)
	assert.Equal(t, prompt, tasks[0].Request.Prompt)
	require.Len(t, tasks[0].Request.Images, 3)
	for i, p := range order {
		want, err := os.ReadFile(p)
		require.NoError(t, err)
		assert.Equal(t, want, dataURIBytes(t, tasks[0].Request.Images[i]), "images[%d] is %s, byte for byte", i, p)
	}
	saved := demotest.SavedPaths(stdout)
	require.Len(t, saved, 1)
	assert.Equal(t, image.Rect(0, 0, 640, 480), readPNG(t, saved[0]).Bounds())
}

func TestPromptNamingAMissingImageIsRefused(t *testing.T) {
	srv := demotest.FakeAPI(t)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.png"), filepath.Join(dir, "b.png")
	require.NoError(t, writePNG(a, drawPerson()))
	require.NoError(t, writePNG(b, drawScene()))

	_, _, err := runMulti(t, "-image", a, "-image", b, "-out", t.TempDir()) // default prompt names Image 3
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"Image 3" but 2 image(s) were given`)
	assert.Zero(t, srv.RequestCount(), "nothing is sent")
}

func TestTooManyImagesIsAUsageError(t *testing.T) {
	srv := demotest.FakeAPI(t)
	args := []string{}
	for range 4 {
		args = append(args, "-image", "x.png")
	}
	_, stderr, err := runMulti(t, args...)
	require.Error(t, err)
	assert.ErrorAs(t, err, new(demo.UsageError))
	assert.Contains(t, stderr, "4 images given; the API takes at most 3")
	assert.Contains(t, stderr, "Usage: multi")
	assert.Zero(t, srv.RequestCount())
}

func TestFailedTaskIsReported(t *testing.T) {
	srv := demotest.FakeAPI(t, qwenedittest.WithTaskDuration(0))
	srv.FailNextTask(1301, "InvalidParameter", "Image 3 is not a style")
	out := filepath.Join(t.TempDir(), "out")

	_, _, err := runMulti(t, "-out", out)
	var failed *qwenedit.TaskFailedError
	require.ErrorAs(t, err, &failed)
	assert.Equal(t, 1301, failed.Code)
	assert.Contains(t, err.Error(), "Image 3 is not a style")
	assert.NoDirExists(t, out, "nothing saved")
}

func TestTimeoutTellsHowToResume(t *testing.T) {
	srv := demotest.FakeAPI(t, qwenedittest.WithTaskDuration(time.Hour))
	_, _, err := runMulti(t, "-max-wait", "50ms", "-out", t.TempDir())
	require.ErrorIs(t, err, qwenedit.ErrWaitTimeout)
	require.Len(t, srv.Tasks(), 1)
	assert.Contains(t, err.Error(), "resume with: go run ./examples/edit -resume "+srv.Tasks()[0].ID)
}

func TestWithoutKeyUsesTheBuiltInFake(t *testing.T) {
	t.Setenv("MULEROUTER_API_KEY", "")
	out := t.TempDir()
	stdout, stderr, err := runMulti(t, "-fake-duration", "20ms", "-out", out)
	require.NoError(t, err, stderr)
	assert.Contains(t, stderr, "No MULEROUTER_API_KEY set (or -fake given): using the built-in fake server at http://127.0.0.1:")
	assert.Contains(t, stderr, "completed")
	saved := demotest.SavedPaths(stdout)
	require.Len(t, saved, 1)
	assert.Equal(t, image.Rect(0, 0, 640, 480), readPNG(t, saved[0]).Bounds())
}

func TestCheckReferences(t *testing.T) {
	for _, tc := range []struct {
		prompt string
		n      int
		ok     bool
	}{
		{defaultPrompt, 3, true},
		{defaultPrompt, 2, false},
		{"Put Image 1 on image2", 2, true},
		{"Put Image 1 on IMAGE 2", 1, false},
		{"Image 0 is wrong", 3, false},
		{"Make it blue", 3, true},
		{"An imagery of 3 cats", 1, true},
	} {
		err := checkReferences(tc.prompt, tc.n)
		assert.Equal(t, tc.ok, err == nil, "%q with %d: %v", tc.prompt, tc.n, err)
	}
}
