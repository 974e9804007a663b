package main

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "image/jpeg" // decodes the JPEG inputs the tests compare results with

	"github.com/seed-b62e15c8/qwenedit"
	"github.com/seed-b62e15c8/qwenedit/internal/lockedbuf"
	"github.com/seed-b62e15c8/qwenedit/qwenedittest"
)

// sample is the repository's 640×480 sample image.
var sample = filepath.Join("..", "..", "testdata", "sample.png")

// env is the environment a test gives the program.
type env map[string]string

func (e env) get(key string) string { return e[key] }

// syncBuffer is a buffer that the program and the test may use at once.
type syncBuffer = lockedbuf.Buffer

// ran is what one run of the program did.
type ran struct {
	code           int
	stdout, stderr string
}

// lastLine is the last line of stderr: the error, when code is not 0.
func (o ran) lastLine() string {
	lines := strings.Split(strings.TrimRight(o.stderr, "\n"), "\n")
	return lines[len(lines)-1]
}

// runCLI runs the program in-process with e as its environment.
func runCLI(ctx context.Context, e env, args ...string) ran {
	var stdout, stderr syncBuffer
	code := run(ctx, args, e.get, &stdout, &stderr)
	return ran{code, stdout.String(), stderr.String()}
}

// fakeAPI starts a qwenedittest server and returns the environment of a
// user whose key and base URL point at it: the program takes the same path
// as with MuleRouter.
func fakeAPI(t testing.TB, opts ...qwenedittest.Option) (*qwenedittest.Server, env) {
	t.Helper()
	srv := qwenedittest.NewServer(opts...)
	t.Cleanup(srv.Close)
	return srv, env{"MULEROUTER_API_KEY": srv.APIKey(), "MULEROUTER_BASE_URL": srv.URL()}
}

// requestsTo counts the API requests with this method whose path ends in suffix.
func requestsTo(srv *qwenedittest.Server, method, suffix string) int {
	n := 0
	for _, r := range srv.Requests() {
		if r.Origin == qwenedittest.OriginAPI && r.Method == method && strings.HasSuffix(r.Path, suffix) {
			n++
		}
	}
	return n
}

// savedPaths returns the paths printed as "saved <path>" lines.
func savedPaths(stdout string) []string {
	var paths []string
	for line := range strings.Lines(stdout) {
		if p, ok := strings.CutPrefix(strings.TrimSpace(line), "saved "); ok {
			paths = append(paths, p)
		}
	}
	return paths
}

// writePicture writes a w×h PNG gradient in a colour of its own to dir/name.
func writePicture(t *testing.T, dir, name string, w, h int, shade uint8) string {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, color.NRGBA{uint8(x * 255 / w), shade, uint8(y * 255 / h), 255})
		}
	}
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, img))
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, buf.Bytes(), 0o644))
	return p
}

func decodeFile(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	img, _, err := image.Decode(f)
	require.NoError(t, err, path)
	return img
}

// assertInverted checks that the PNG at out is the fake's "edit" of the
// image at in, as the banner describes it: the same picture with its
// colours inverted (within rounding: JPEG decoders may differ by one),
// checked on a grid of pixels, which is quick under the race detector.
func assertInverted(t *testing.T, in, out string) {
	t.Helper()
	data, err := os.ReadFile(out)
	require.NoError(t, err)
	got, err := png.Decode(bytes.NewReader(data))
	require.NoError(t, err, "%s is a PNG", out)
	src := decodeFile(t, in)
	require.Equal(t, src.Bounds().Size(), got.Bounds().Size(), "%s keeps the size of %s", out, in)
	near := func(a, b uint8) bool { return a-b <= 2 || b-a <= 2 }
	for y := 0; y < src.Bounds().Dy(); y += 5 {
		for x := 0; x < src.Bounds().Dx(); x += 5 {
			s := color.NRGBAModel.Convert(src.At(src.Bounds().Min.X+x, src.Bounds().Min.Y+y)).(color.NRGBA)
			g := color.NRGBAModel.Convert(got.At(got.Bounds().Min.X+x, got.Bounds().Min.Y+y)).(color.NRGBA)
			if !near(255-s.R, g.R) || !near(255-s.G, g.G) || !near(255-s.B, g.B) {
				t.Fatalf("%s is not %s inverted: pixel (%d,%d) is %v, the input %v", out, in, x, y, g, s)
			}
		}
	}
}

func TestHelpListsEveryCommandTheEnvironmentAndTheExitStatuses(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}} {
		o := runCLI(context.Background(), env{}, args...)
		assert.Equal(t, exitOK, o.code, args)
		assert.Empty(t, o.stderr)
		for _, want := range []string{
			"qwenedit edit -image FILE|URL", "qwenedit status TASK_ID", "qwenedit wait TASK_ID",
			"qwenedit download URL [URL ...] | TASK_ID", "qwenedit batch -in DIR -prompt TEXT",
			"MULEROUTER_API_KEY", "MULEROUTER_BASE_URL", "MULEROUTER_SITE", "Exit status:", "2  usage error",
		} {
			assert.Contains(t, o.stdout, want, args)
		}
	}

	o := runCLI(context.Background(), env{})
	assert.Equal(t, exitUsage, o.code, "no command")
	assert.Contains(t, o.stderr, "Usage:")
	assert.Empty(t, o.stdout)
}

func TestEveryCommandsHelpHasAUsageLineFlagsAndTheEnvironment(t *testing.T) {
	t.Parallel()
	for _, cmd := range commands {
		for _, args := range [][]string{{cmd.name, "-h"}, {cmd.name, "--help"}, {"help", cmd.name}} {
			o := runCLI(context.Background(), env{}, args...)
			assert.Equal(t, exitOK, o.code, args)
			assert.True(t, strings.HasPrefix(o.stdout, "Usage: qwenedit "+cmd.name+" "), "%v: %q", args, o.stdout)
			for _, want := range []string{"Flags (-flag or --flag):", "-json", "MULEROUTER_API_KEY", "MULEROUTER_BASE_URL",
				"MULEROUTER_SITE", "Exit status:", "0  done", "1  failed", "2  usage error"} {
				assert.Contains(t, o.stdout, want, args)
			}
			assert.Empty(t, o.stderr, args)
		}
	}
}

func TestUsageErrorsExitWith2AndSendNothing(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t)
	dir := t.TempDir()
	for _, args := range [][]string{
		{"edit", "-prompt", "x"},
		{"edit", "-image", sample, "-prompt", "x", "-steps", "4"},
		{"status"},
		{"status", "a", "b"},
		{"wait"},
		{"wait", "id", "-poll", "-1s"},
		{"download"},
		{"download", "ftp://example.com/a.png"},
		{"batch", "-in", dir},
		{"batch", "-in", dir, "-prompt", "p", "-concurrency", "0"},
		{"frobnicate"},
	} {
		o := runCLI(context.Background(), e, args...)
		assert.Equal(t, exitUsage, o.code, args)
		assert.Empty(t, o.stdout, args)
		assert.Equal(t, 1, strings.Count(o.stderr, "\n"), "one line: %q", o.stderr)
		if args[0] != "frobnicate" {
			assert.True(t, strings.HasPrefix(o.stderr, "qwenedit "+args[0]+": "), o.stderr)
			assert.Contains(t, o.stderr, "(run 'qwenedit "+args[0]+" -h' for help)")
		}
	}
	assert.Zero(t, len(srv.Requests()), "nothing reaches the server")
}

func TestVersion(t *testing.T) {
	t.Parallel()
	o := runCLI(context.Background(), env{}, "version")
	assert.Equal(t, exitOK, o.code)
	assert.Equal(t, "qwenedit "+qwenedit.Version+"\n", o.stdout)
}

func TestFlagsMayFollowArguments(t *testing.T) {
	t.Parallel()
	fs := newFlagSet("x")
	out := fs.String("out", "", "")
	c := &cli{stdout: &bytes.Buffer{}}
	positional, err := c.parse(fs, []string{"id1", "-out", "dir", "id2", "--", "-not-a-flag"})
	require.NoError(t, err)
	assert.Equal(t, "dir", *out)
	assert.Equal(t, []string{"id1", "id2", "-not-a-flag"}, positional)
}

func TestShellQuote(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "out/dir_1", shellQuote("out/dir_1"))
	assert.Equal(t, "'my results'", shellQuote("my results"))
	assert.Equal(t, `'it'\''s'`, shellQuote("it's"))
	assert.Equal(t, "''", shellQuote(""))
}
