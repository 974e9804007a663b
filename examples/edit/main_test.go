package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-b62e15c8/qwenedit"
	"github.com/seed-b62e15c8/qwenedit/examples/internal/demotest"
	"github.com/seed-b62e15c8/qwenedit/qwenedittest"
)

// sample is the repository's 640×480 sample image.
var sample = filepath.Join("..", "..", "testdata", "sample.png")

// runEdit runs the program with a fast poll and returns what it printed.
func runEdit(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	var out, errb demotest.SyncBuffer
	err = run(ctx, append([]string{"-poll", "10ms"}, args...), &out, &errb)
	return out.String(), errb.String(), err
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

// dataURIBytes decodes an inline image as the server received it.
func dataURIBytes(t *testing.T, s string) []byte {
	t.Helper()
	meta, payload, ok := strings.Cut(s, ",")
	require.True(t, ok, "a data URI")
	require.Equal(t, "data:image/png;base64", meta)
	b, err := base64.StdEncoding.DecodeString(payload)
	require.NoError(t, err)
	return b
}

func readPNG(t *testing.T, path string) image.Image {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	img, err := png.Decode(bytes.NewReader(b))
	require.NoError(t, err, "%s is a PNG", path)
	return img
}

// assertEditOf checks that the saved file is the fake's edit of the input:
// its pixels are qwenedittest.Transform of in at the saved size.
func assertEditOf(t *testing.T, in, saved string, index int) {
	t.Helper()
	src := readPNG(t, in)
	got := readPNG(t, saved)
	want := qwenedittest.Transform(src, got.Bounds().Dx(), got.Bounds().Dy(), index)
	require.Equal(t, want.Bounds(), got.Bounds())
	for y := range want.Bounds().Dy() {
		for x := range want.Bounds().Dx() {
			wr, wg, wb, wa := want.At(x, y).RGBA()
			gr, gg, gb, ga := got.At(x, y).RGBA()
			if wr != gr || wg != gg || wb != gb || wa != ga {
				t.Fatalf("%s is not the edit of %s: pixel (%d,%d) differs", saved, in, x, y)
			}
		}
	}
}

func TestEveryRequestFlagReachesTheWire(t *testing.T) {
	srv := demotest.FakeAPI(t, qwenedittest.WithTaskDuration(0))
	dir := t.TempDir()
	first := writePicture(t, dir, "first.png", 400, 500, 10)
	const url = "https://example.com/images/style.png"
	out := filepath.Join(t.TempDir(), "results")

	stdout, stderr, err := runEdit(context.Background(),
		"-image", first, "-image", sample, "-image", url,
		"-prompt", "Put the person of Image 1 into Image 2 in the style of Image 3",
		"-negative", "blurry, text",
		"-n", "2",
		"-seed", "0",
		"-size", "1024*768",
		"-prompt-extend=false",
		"-safety-filter",
		"-out", out,
	)
	require.NoError(t, err, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	assert.NotContains(t, stderr, "fake server", "the environment's key and base URL are used")

	tasks := srv.Tasks()
	require.Len(t, tasks, 1)
	task := tasks[0]
	assert.Equal(t, qwenedit.DefaultModel, task.Model)
	req := task.Request
	require.Len(t, req.Images, 3, "the images in the order given")
	for i, p := range []string{first, sample} {
		want, err := os.ReadFile(p)
		require.NoError(t, err)
		assert.Equal(t, want, dataURIBytes(t, req.Images[i]), "images[%d] is %s, byte for byte", i, p)
	}
	assert.Equal(t, url, req.Images[2], "an http(s) URL is sent as a URL, not fetched")
	assert.Equal(t, "Put the person of Image 1 into Image 2 in the style of Image 3", req.Prompt)
	require.NotNil(t, req.NegativePrompt)
	assert.Equal(t, "blurry, text", *req.NegativePrompt)
	require.NotNil(t, req.N)
	assert.Equal(t, 2, *req.N)
	require.NotNil(t, req.Seed, "-seed 0 is a seed, not the absence of one")
	assert.Equal(t, 0, *req.Seed)
	require.NotNil(t, req.Size)
	assert.Equal(t, "1024*768", *req.Size)
	require.NotNil(t, req.PromptExtend, "-prompt-extend=false is sent")
	assert.False(t, *req.PromptExtend)
	require.NotNil(t, req.SafetyFilter)
	assert.True(t, *req.SafetyFilter, "a bare -safety-filter means true")

	// Both results are saved as PNGs of the requested size; the last image
	// is a URL, which the fake never fetches, so they are its gradients.
	assert.Contains(t, stdout, "task "+task.ID+" submitted")
	saved := demotest.SavedPaths(stdout)
	require.Len(t, saved, 2)
	for i, p := range saved {
		assert.Equal(t, filepath.Join(out, task.ID+"_"+string(rune('0'+i))+".png"), p)
		got := readPNG(t, p)
		assert.Equal(t, image.Rect(0, 0, 1024, 768), got.Bounds())
		want := qwenedittest.Gradient(1024, 768, i)
		assert.Equal(t, want.At(100, 200), color.NRGBAModel.Convert(got.At(100, 200)), "result %d is the fake's image %d", i, i)
	}
}

func TestUnsetFlagsAreLeftToTheServer(t *testing.T) {
	srv := demotest.FakeAPI(t, qwenedittest.WithTaskDuration(0))
	out := t.TempDir()

	stdout, stderr, err := runEdit(context.Background(), "-image", sample, "-prompt", "Turn the sky purple", "-out", out)
	require.NoError(t, err, "stdout:\n%s\nstderr:\n%s", stdout, stderr)

	tasks := srv.Tasks()
	require.Len(t, tasks, 1)
	req := tasks[0].Request
	assert.Nil(t, req.NegativePrompt, "no -negative")
	assert.Nil(t, req.N, "no -n")
	assert.Nil(t, req.Seed, "no -seed")
	assert.Nil(t, req.Size, "no -size")
	assert.Nil(t, req.PromptExtend, "no -prompt-extend")
	assert.Nil(t, req.SafetyFilter, "no -safety-filter")

	// The body itself has none of those keys (not even as null or zero).
	var posts []qwenedittest.RecordedRequest
	for _, r := range srv.Requests() {
		if r.Method == "POST" {
			posts = append(posts, r)
		}
	}
	require.Len(t, posts, 1)
	for _, key := range []string{"negative_prompt", `"n"`, "seed", "size", "prompt_extend", "safety_filter"} {
		assert.NotContains(t, string(posts[0].Body), key)
	}
	assert.True(t, strings.HasSuffix(posts[0].Header.Get("User-Agent"), " examples-edit"), posts[0].Header.Get("User-Agent"))

	// One result, the fake's edit of the sample at its own size.
	saved := demotest.SavedPaths(stdout)
	require.Len(t, saved, 1)
	assert.Equal(t, filepath.Join(out, tasks[0].ID+"_0.png"), saved[0])
	assertEditOf(t, sample, saved[0], 0)
	assert.Equal(t, image.Rect(0, 0, 640, 480), readPNG(t, saved[0]).Bounds())
}

func TestFlagSpellings(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		check func(t *testing.T, rec qwenedittest.TaskRecord)
	}{
		{"bare -prompt-extend is true", []string{"-prompt-extend"}, func(t *testing.T, rec qwenedittest.TaskRecord) {
			require.NotNil(t, rec.Request.PromptExtend)
			assert.True(t, *rec.Request.PromptExtend)
			assert.Nil(t, rec.Request.SafetyFilter)
		}},
		{"-safety-filter=false is sent", []string{"-safety-filter=false"}, func(t *testing.T, rec qwenedittest.TaskRecord) {
			require.NotNil(t, rec.Request.SafetyFilter)
			assert.False(t, *rec.Request.SafetyFilter)
			assert.Nil(t, rec.Request.PromptExtend)
		}},
		{"an upper-case URL scheme is a URL, not a path", []string{"-image", "HTTPS://images.example/cat.png"}, func(t *testing.T, rec qwenedittest.TaskRecord) {
			assert.Equal(t, "HTTPS://images.example/cat.png", rec.Request.Images[len(rec.Request.Images)-1])
		}},
		{"the largest seed", []string{"-seed", "2147483647"}, func(t *testing.T, rec qwenedittest.TaskRecord) {
			require.NotNil(t, rec.Request.Seed)
			assert.Equal(t, qwenedit.MaxSeed, *rec.Request.Seed)
		}},
		{"-size WxH is sent as W*H", []string{"-size", "512x2048"}, func(t *testing.T, rec qwenedittest.TaskRecord) {
			require.NotNil(t, rec.Request.Size)
			assert.Equal(t, "512*2048", *rec.Request.Size)
		}},
		{"-n 6", []string{"-n", "6"}, func(t *testing.T, rec qwenedittest.TaskRecord) {
			require.NotNil(t, rec.Request.N)
			assert.Equal(t, 6, *rec.Request.N)
		}},
		{"-model picks the path", []string{"-model", "qwen-image-edit-plus"}, func(t *testing.T, rec qwenedittest.TaskRecord) {
			assert.Equal(t, "qwen-image-edit-plus", rec.Model)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := demotest.FakeAPI(t, qwenedittest.WithTaskDuration(time.Hour))
			// The task never finishes: only the submit matters here.
			args := append([]string{"-image", sample, "-prompt", "Make it snow", "-max-wait", "1ms", "-out", t.TempDir()}, tc.args...)
			_, _, err := runEdit(context.Background(), args...)
			require.ErrorIs(t, err, qwenedit.ErrWaitTimeout)
			tasks := srv.Tasks()
			require.Len(t, tasks, 1)
			tc.check(t, tasks[0])
		})
	}
}

func TestTaskIDIsPrintedAsSoonAsSubmitted(t *testing.T) {
	srv := demotest.FakeAPI(t, qwenedittest.WithTaskDuration(time.Hour))
	out := t.TempDir()
	var stdout, stderr demotest.SyncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(context.Background(), []string{"-poll", "10ms", "-image", sample, "-prompt", "Add a moon", "-out", out}, &stdout, &stderr)
	}()

	require.Eventually(t, func() bool { return srv.SubmitCount() == 1 }, 10*time.Second, 5*time.Millisecond)
	id := srv.Tasks()[0].ID
	require.Eventually(t, func() bool { return strings.Contains(stdout.String(), "task "+id+" submitted\n") },
		10*time.Second, 5*time.Millisecond, "the ID is printed while the task is still running")
	require.Eventually(t, func() bool { return strings.Contains(stderr.String(), "pending") },
		10*time.Second, 5*time.Millisecond, "polling has started")
	select {
	case err := <-done:
		t.Fatalf("run ended before the task finished: %v", err)
	default:
	}
	assert.NotContains(t, stdout.String(), "saved")
	assert.NotContains(t, stderr.String(), "completed")

	require.NoError(t, srv.SetTaskStatus(id, "completed"))
	select {
	case err := <-done:
		require.NoError(t, err, stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatal("run did not end once the task completed")
	}
	assert.Contains(t, stderr.String(), "completed")
	assert.Less(t, strings.Index(stdout.String(), "submitted"), strings.Index(stdout.String(), "saved"))
	saved := demotest.SavedPaths(stdout.String())
	require.Len(t, saved, 1)
	assertEditOf(t, sample, saved[0], 0)
}

func TestResumeWaitsForAnExistingTask(t *testing.T) {
	srv := demotest.FakeAPI(t, qwenedittest.WithTaskDuration(0))
	dir := t.TempDir()
	in := writePicture(t, dir, "in.png", 512, 384, 200)

	// A task created earlier, outside the program.
	client, err := qwenedit.NewClient(qwenedit.WithAPIKey(srv.APIKey()), qwenedit.WithBaseURL(srv.URL()))
	require.NoError(t, err)
	info, err := client.Submit(context.Background(), &qwenedit.EditRequest{
		Images: []qwenedit.Image{qwenedit.ImageFile(in)},
		Prompt: "Add a hat",
		N:      2,
	})
	require.NoError(t, err)
	require.Equal(t, 1, srv.SubmitCount())

	out := t.TempDir()
	stdout, stderr, err := runEdit(context.Background(), "-resume", info.ID, "-out", out)
	require.NoError(t, err, "stdout:\n%s\nstderr:\n%s", stdout, stderr)

	assert.Equal(t, 1, srv.SubmitCount(), "no new task")
	assert.Equal(t, 1, demotest.RequestsTo(srv, "POST", "/generation"), "only the test's own submit")
	assert.Equal(t, 1, demotest.RequestsTo(srv, "GET", "/generation/"+info.ID), "the first poll is immediate and finds it done")
	assert.NotContains(t, stdout, "submitted")
	assert.Contains(t, stderr, "completed")
	saved := demotest.SavedPaths(stdout)
	require.Len(t, saved, 2)
	for i, p := range saved {
		assert.Equal(t, filepath.Join(out, info.ID+"_"+string(rune('0'+i))+".png"), p)
		assertEditOf(t, in, p, i)
	}
}

func TestFailedTaskNamesCodeAndTitle(t *testing.T) {
	srv := demotest.FakeAPI(t, qwenedittest.WithTaskDuration(0))
	srv.FailNextTask(1301, "InvalidParameter", "the sky cannot be found")
	out := filepath.Join(t.TempDir(), "out")

	_, _, err := runEdit(context.Background(), "-image", sample, "-prompt", "Turn the sky purple", "-out", out)
	var failed *qwenedit.TaskFailedError
	require.ErrorAs(t, err, &failed)
	require.Len(t, srv.Tasks(), 1)
	assert.Equal(t, srv.Tasks()[0].ID, failed.TaskID)
	assert.Equal(t, 1301, failed.Code)
	assert.Equal(t, "InvalidParameter", failed.Title)
	msg := err.Error()
	assert.Contains(t, msg, "code 1301")
	assert.Contains(t, msg, "InvalidParameter")
	assert.Contains(t, msg, "the sky cannot be found")
	assert.Contains(t, msg, "(the task was processed and failed; change the prompt or images)")
	assert.NotContains(t, msg, "resume with", "a failed task cannot be resumed")
	assert.NoDirExists(t, out, "nothing saved")
}

func TestInvalidRequestsSendNothing(t *testing.T) {
	dir := t.TempDir()
	small := writePicture(t, dir, "small.png", 100, 100, 0)
	long := func(n int) string { return strings.Repeat("é", n) }
	for _, tc := range []struct {
		name  string
		args  []string
		wants []string // in the error message
	}{
		{"n above 6", []string{"-n", "7"}, []string{"n: is 7, must be 1 to 6"}},
		{"negative n", []string{"-n", "-1"}, []string{"n: is -1"}},
		{"seed above the maximum", []string{"-seed", "2147483648"}, []string{"seed: is 2147483648, must be 0 to 2147483647"}},
		{"negative seed", []string{"-seed", "-5"}, []string{"seed: is -5"}},
		{"size too small", []string{"-size", "100*100"}, []string{"size: width is 100, must be 512 to 2048", "size: height is 100"}},
		{"size too large", []string{"-size", "1024*4096"}, []string{"size: height is 4096"}},
		{"prompt too long", []string{"-prompt", long(801)}, []string{"prompt: has 801 characters, at most 800"}},
		{"blank prompt", []string{"-prompt", "   "}, []string{"prompt: is required"}},
		{"negative prompt too long", []string{"-negative", long(501)}, []string{"negative_prompt: has 501 characters, at most 500"}},
		{"image too small", []string{"-image", small}, []string{"images[1]:", "100", "384"}},
		{"missing image file", []string{"-image", filepath.Join(dir, "nope.png")}, []string{"images[1]:", "nope.png"}},
		{"four images", []string{"-image", sample, "-image", sample, "-image", sample}, []string{"images: has 4 images, must have 1 to 3"}},
		{"several problems at once", []string{"-n", "0", "-n", "9", "-size", "511*512", "-image", small},
			[]string{"n: is 9", "size: width is 511", "images[1]:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := demotest.FakeAPI(t)
			args := append([]string{"-image", sample, "-prompt", "Make it snow", "-out", t.TempDir()}, tc.args...)
			_, _, err := runEdit(context.Background(), args...)
			require.ErrorIs(t, err, qwenedit.ErrInvalidRequest)
			var verr *qwenedit.ValidationError
			require.ErrorAs(t, err, &verr)
			for _, want := range tc.wants {
				assert.Contains(t, err.Error(), want)
			}
			assert.Zero(t, srv.RequestCount(), "nothing reaches the server")
		})
	}
}

func TestUsageErrorsSendNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no image", []string{"-prompt", "Make it snow"}, "need -image and -prompt (or -resume TASK_ID)"},
		{"no prompt", []string{"-image", sample}, "need -image and -prompt (or -resume TASK_ID)"},
		{"a positional argument", []string{"-image", sample, "-prompt", "x", sample}, "unexpected arguments"},
		{"unparsable size", []string{"-image", sample, "-prompt", "x", "-size", "big"}, `size "big": want WIDTH*HEIGHT`},
		{"negative size", []string{"-image", sample, "-prompt", "x", "-size", "-512*512"}, "want two positive whole numbers"},
		{"not a boolean", []string{"-image", sample, "-prompt", "x", "-prompt-extend=maybe"}, "invalid boolean value"},
		{"zero poll", []string{"-image", sample, "-prompt", "x", "-poll", "0s"}, "-poll must be positive"},
		{"unknown flag", []string{"-image", sample, "-prompt", "x", "-steps", "4"}, "flag provided but not defined: -steps"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := demotest.FakeAPI(t)
			var stdout, stderr demotest.SyncBuffer
			err := run(context.Background(), append([]string{"-out", t.TempDir()}, tc.args...), &stdout, &stderr)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Empty(t, stdout.String())
			assert.Zero(t, srv.RequestCount(), "nothing reaches the server")
		})
	}
}

func TestWithoutKeyUsesTheBuiltInFake(t *testing.T) {
	env := demotest.FakeAPI(t)
	t.Setenv("MULEROUTER_API_KEY", "")
	out := t.TempDir()

	stdout, stderr, err := runEdit(context.Background(), "-fake-duration", "20ms", "-image", sample, "-prompt", "Turn the sky purple", "-out", out)
	require.NoError(t, err, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	assert.Contains(t, stderr, "No MULEROUTER_API_KEY set (or -fake given): using the built-in fake server at http://127.0.0.1:")
	assert.Contains(t, stderr, "Nothing is sent to MuleRouter and nothing is charged")
	assert.Contains(t, stderr, "completed")
	assert.Zero(t, env.RequestCount(), "MULEROUTER_BASE_URL is not used without a key")
	saved := demotest.SavedPaths(stdout)
	require.Len(t, saved, 1)
	assert.Equal(t, out, filepath.Dir(saved[0]))
	assertEditOf(t, sample, saved[0], 0)
}

func TestFakeFlagWinsOverTheKey(t *testing.T) {
	env := demotest.FakeAPI(t)
	stdout, stderr, err := runEdit(context.Background(), "-fake", "-fake-duration", "0s", "-image", sample, "-prompt", "Turn the sky purple", "-out", t.TempDir())
	require.NoError(t, err, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	assert.Contains(t, stderr, "using the built-in fake server")
	assert.Zero(t, env.RequestCount(), "the key's server is not called")
	require.Len(t, demotest.SavedPaths(stdout), 1)
}

func TestTimeoutTellsHowToResume(t *testing.T) {
	srv := demotest.FakeAPI(t, qwenedittest.WithTaskDuration(time.Hour))
	out := t.TempDir()

	stdout, _, err := runEdit(context.Background(), "-max-wait", "50ms", "-image", sample, "-prompt", "Add a moon", "-out", out)
	require.ErrorIs(t, err, qwenedit.ErrWaitTimeout)
	var timeout *qwenedit.WaitTimeoutError
	require.ErrorAs(t, err, &timeout)
	require.Len(t, srv.Tasks(), 1)
	id := srv.Tasks()[0].ID
	assert.Equal(t, id, timeout.TaskID)
	assert.Contains(t, stdout, "task "+id+" submitted")
	assert.Contains(t, err.Error(), "resume with: go run ./examples/edit -resume "+id+" -out "+strconv.Quote(out))
	assert.Empty(t, demotest.SavedPaths(stdout))

	// Following the hint once the task is done saves its results, without a new task.
	require.NoError(t, srv.SetTaskStatus(id, "completed"))
	stdout, stderr, err := runEdit(context.Background(), "-resume", id, "-out", out)
	require.NoError(t, err, stderr)
	assert.Equal(t, 1, srv.SubmitCount())
	saved := demotest.SavedPaths(stdout)
	require.Len(t, saved, 1)
	assertEditOf(t, sample, saved[0], 0)
}

func TestInterruptTellsHowToResume(t *testing.T) {
	srv := demotest.FakeAPI(t, qwenedittest.WithTaskDuration(time.Hour))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr demotest.SyncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-poll", "10ms", "-image", sample, "-prompt", "Add a moon", "-out", t.TempDir()}, &stdout, &stderr)
	}()
	require.Eventually(t, func() bool { return strings.Contains(stdout.String(), "submitted") }, 10*time.Second, 5*time.Millisecond)
	cancel()
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("run did not end on cancel")
	}
	require.ErrorIs(t, err, context.Canceled)
	require.Len(t, srv.Tasks(), 1)
	assert.Contains(t, err.Error(), "resume with: go run ./examples/edit -resume "+srv.Tasks()[0].ID)
}

func TestWrongKeyIsExplained(t *testing.T) {
	srv := demotest.FakeAPI(t)
	t.Setenv("MULEROUTER_API_KEY", "not-the-key")

	_, _, err := runEdit(context.Background(), "-image", sample, "-prompt", "Add a moon", "-out", t.TempDir())
	require.ErrorIs(t, err, qwenedit.ErrUnauthorized)
	assert.Contains(t, err.Error(), "(check MULEROUTER_API_KEY)")
	assert.Zero(t, srv.SubmitCount())
	assert.Equal(t, 1, srv.RequestCount(), "a 401 is not retried")
}

func TestLostSubmitAnswerWarnsAgainstResubmitting(t *testing.T) {
	srv := demotest.FakeAPI(t, qwenedittest.WithTaskDuration(0))
	srv.InjectFault(qwenedittest.Fault{Method: "POST", Kind: qwenedittest.FaultCloseConnection, AfterCreate: true})

	_, _, err := runEdit(context.Background(), "-image", sample, "-prompt", "Add a moon", "-out", t.TempDir())
	var amb *qwenedit.AmbiguousSubmitError
	require.ErrorAs(t, err, &amb)
	assert.Contains(t, err.Error(), "(do not resubmit blindly: a task may exist)")
	assert.Equal(t, 1, srv.SubmitCount(), "the task was created, and not created twice")
}

func TestRequestMapsOptions(t *testing.T) {
	o, err := parseFlags([]string{"-image", "a.png", "-image", "http://example.com/b.jpg", "-image", "https://example.com/c.png", "-prompt", "p"}, &bytes.Buffer{})
	require.NoError(t, err)
	req, err := o.request()
	require.NoError(t, err)
	require.Len(t, req.Images, 3)
	assert.Equal(t, qwenedit.ImageFile("a.png").String(), req.Images[0].String())
	assert.Equal(t, qwenedit.ImageURL("http://example.com/b.jpg").String(), req.Images[1].String())
	assert.Equal(t, qwenedit.ImageURL("https://example.com/c.png").String(), req.Images[2].String())
	assert.Nil(t, req.Seed, "-seed defaults to none")
	assert.True(t, req.Size.IsZero())
	assert.Zero(t, req.N)
	assert.Nil(t, req.PromptExtend)
	assert.Nil(t, req.SafetyFilter)
	assert.Equal(t, qwenedit.DefaultPollInterval, o.Poll)
	assert.Equal(t, qwenedit.DefaultMaxWait, o.MaxWait)
	assert.Equal(t, "out", o.out)
}
