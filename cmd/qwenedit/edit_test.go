package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-b62e15c8/qwenedit"
	"github.com/seed-b62e15c8/qwenedit/internal/limits"
	"github.com/seed-b62e15c8/qwenedit/qwenedittest"
)

// edit runs "qwenedit edit" with a fast poll.
func edit(ctx context.Context, e env, args ...string) ran {
	return runCLI(ctx, e, append([]string{"edit", "-poll", "10ms"}, args...)...)
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

func TestEditSendsEveryRequestFlag(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t)
	first := writePicture(t, t.TempDir(), "first.png", 400, 500, 10)
	const url = "https://example.com/images/style.png"
	out := filepath.Join(t.TempDir(), "results")

	o := edit(context.Background(), e,
		"-image", first, "-image", sample, "-image", url,
		"-prompt", "Put the person of Image 1 into Image 2 in the style of Image 3",
		"-negative-prompt", "blurry, text",
		"-n", "2",
		"-seed", "0",
		"-size", "1024x768",
		"-prompt-extend=false",
		"-safety-filter",
		"-out", out,
	)
	require.Equal(t, exitOK, o.code, o.stderr)

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
	assert.Equal(t, url, req.Images[2], "an http(s) URL is sent as a URL")
	assert.Equal(t, "Put the person of Image 1 into Image 2 in the style of Image 3", req.Prompt)
	require.NotNil(t, req.NegativePrompt)
	assert.Equal(t, "blurry, text", *req.NegativePrompt)
	require.NotNil(t, req.N)
	assert.Equal(t, 2, *req.N)
	require.NotNil(t, req.Seed, "-seed 0 is a seed, not the absence of one")
	assert.Equal(t, 0, *req.Seed)
	require.NotNil(t, req.Size)
	assert.Equal(t, "1024*768", *req.Size, "-size WxH is sent as W*H")
	require.NotNil(t, req.PromptExtend, "-prompt-extend=false is sent")
	assert.False(t, *req.PromptExtend)
	require.NotNil(t, req.SafetyFilter)
	assert.True(t, *req.SafetyFilter, "a bare -safety-filter means true")

	// Before the paid call: where it goes and that it is charged; then the
	// task and how to resume it.
	assert.Contains(t, o.stderr, "submitting to "+srv.URL()+" (qwen-image-edit-max): a local server, charged only if it forwards the call to MuleRouter\n")
	assert.Contains(t, o.stderr, "task "+task.ID+" submitted; if this stops, resume with: qwenedit wait "+task.ID+" -out "+out+"\n")
	assert.Less(t, strings.Index(o.stderr, "a local server"), strings.Index(o.stderr, "submitted"))
	assert.NotContains(t, o.stderr, "fake")

	saved := savedPaths(o.stdout)
	require.Len(t, saved, 2)
	for i, p := range saved {
		assert.Equal(t, filepath.Join(out, task.ID+"_"+string(rune('1'+i))+".png"), p, "several results count from 1")
		assert.Equal(t, image.Rect(0, 0, 1024, 768), decodeFile(t, p).Bounds())
	}
}

func TestEditLeavesUnsetFlagsToTheServer(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t)
	out := t.TempDir()

	o := edit(context.Background(), e, "-image", sample, "-prompt", "Turn the sky purple", "-out", out)
	require.Equal(t, exitOK, o.code, o.stderr)

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
	assert.True(t, strings.HasSuffix(posts[0].Header.Get("User-Agent"), " qwenedit-cli"), posts[0].Header.Get("User-Agent"))

	saved := savedPaths(o.stdout)
	require.Len(t, saved, 1)
	assert.Equal(t, filepath.Join(out, srv.Tasks()[0].ID+".png"), saved[0], "a single result is <task id>.png")
	assertInverted(t, sample, saved[0])
	assert.Contains(t, o.stderr, "task "+srv.Tasks()[0].ID+": completed\n", "not a terminal: plain lines")
	assert.NotContains(t, o.stderr, "\r")
}

func TestEditFlagSpellings(t *testing.T) {
	t.Parallel()
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
		{"--safety-filter=false is sent", []string{"--safety-filter=false"}, func(t *testing.T, rec qwenedittest.TaskRecord) {
			require.NotNil(t, rec.Request.SafetyFilter)
			assert.False(t, *rec.Request.SafetyFilter)
		}},
		{"an upper-case URL scheme is a URL", []string{"-image", "HTTPS://images.example/cat.png"}, func(t *testing.T, rec qwenedittest.TaskRecord) {
			assert.Equal(t, "HTTPS://images.example/cat.png", rec.Request.Images[len(rec.Request.Images)-1])
		}},
		{"the largest seed", []string{"-seed", "2147483647"}, func(t *testing.T, rec qwenedittest.TaskRecord) {
			require.NotNil(t, rec.Request.Seed)
			assert.Equal(t, limits.MaxSeed, *rec.Request.Seed)
		}},
		{"-size W*H", []string{"-size", "512*2048"}, func(t *testing.T, rec qwenedittest.TaskRecord) {
			require.NotNil(t, rec.Request.Size)
			assert.Equal(t, "512*2048", *rec.Request.Size)
		}},
		{"-model picks the path", []string{"-model", "qwen-image-edit-plus"}, func(t *testing.T, rec qwenedittest.TaskRecord) {
			assert.Equal(t, "qwen-image-edit-plus", rec.Model)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, e := fakeAPI(t, qwenedittest.WithTaskDuration(time.Hour))
			// The task never finishes: only the submit matters here.
			o := edit(context.Background(), e, append([]string{"-image", sample, "-prompt", "Make it snow", "-max-wait", "1ms", "-out", t.TempDir()}, tc.args...)...)
			require.Equal(t, exitFailure, o.code, o.stderr)
			tasks := srv.Tasks()
			require.Len(t, tasks, 1)
			tc.check(t, tasks[0])
		})
	}
}

func TestEditWithoutKeyUsesTheBuiltInFakeAndSaysWhatItDoes(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	o := runCLI(context.Background(), env{}, "edit", "-image", sample, "-prompt", "Turn the sky purple", "-out", out)
	require.Equal(t, exitOK, o.code, o.stderr)

	assert.True(t, strings.HasPrefix(o.stderr, "MULEROUTER_API_KEY is not set: using the built-in fake server at http://127.0.0.1:"), o.stderr)
	for _, want := range []string{"nothing is charged", "ignores the prompt", "colours inverted", "Set MULEROUTER_API_KEY to edit for real.",
		"submitting to the built-in fake server (qwen-image-edit-max): not charged"} {
		assert.Contains(t, o.stderr, want)
	}
	assert.NotContains(t, o.stderr, "this call is charged")
	assert.NotContains(t, o.stderr, "resume with", "the fake's tasks end with the run")
	saved := savedPaths(o.stdout)
	require.Len(t, saved, 1)
	assert.Equal(t, out, filepath.Dir(saved[0]))
	assertInverted(t, sample, saved[0]) // what the banner says: colours inverted, prompt ignored
}

func TestEditFakeFlagWinsOverTheKeyAndSaysSo(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t)
	o := edit(context.Background(), e, "-fake", "-image", sample, "-prompt", "Turn the sky purple", "-out", t.TempDir())
	require.Equal(t, exitOK, o.code, o.stderr)
	assert.True(t, strings.HasPrefix(o.stderr, "-fake given: using the built-in fake server at "), o.stderr)
	assert.Contains(t, o.stderr, "Leave out -fake to edit for real.")
	assert.NotContains(t, o.stderr, "MULEROUTER_API_KEY is not set")
	assert.Zero(t, len(srv.Requests()), "the key's server is not called")
	require.Len(t, savedPaths(o.stdout), 1)
}

func TestEditPrintsTheTaskAsSoonAsItExists(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t, qwenedittest.WithTaskDuration(time.Hour))
	out := t.TempDir()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(context.Background(), []string{"edit", "-poll", "10ms", "-image", sample, "-prompt", "Add a moon", "-out", out}, e.get, &stdout, &stderr)
	}()

	require.Eventually(t, func() bool { return srv.SubmitCount() == 1 }, 10*time.Second, 5*time.Millisecond)
	id := srv.Tasks()[0].ID
	require.Eventually(t, func() bool { return strings.Contains(stderr.String(), "task "+id+": pending\n") },
		10*time.Second, 5*time.Millisecond, "polling has started")
	assert.Contains(t, stderr.String(), "task "+id+" submitted; if this stops, resume with: qwenedit wait "+id)
	assert.Empty(t, stdout.String())

	require.NoError(t, srv.SetTaskStatus(id, "completed"))
	require.Equal(t, exitOK, <-done, stderr.String())
	assert.Contains(t, stderr.String(), "task "+id+": completed\n")
	saved := savedPaths(stdout.String())
	require.Len(t, saved, 1)
	assertInverted(t, sample, saved[0])
}

func TestEditErrorsAreOneLineWithoutRepeatedPrefixes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	small := writePicture(t, dir, "small.png", 100, 100, 0)
	missing := filepath.Join(dir, "nope.png")
	long := func(n int) string { return strings.Repeat("é", n) }
	for _, tc := range []struct {
		name string
		args []string
		want string // the whole message after "qwenedit edit: "
	}{
		{"-n above 6", []string{"-n", "7"}, "-n is 7, must be 1 to 6 (or 0 for the server default)"},
		{"seed above the maximum", []string{"-seed", "2147483648"}, "-seed is 2147483648, must be 0 to 2147483647"},
		{"prompt too long", []string{"-prompt", long(801)}, "-prompt has 801 characters, at most 800 are allowed"},
		{"negative prompt too long", []string{"-negative-prompt", long(501)}, "-negative-prompt has 501 characters, at most 500 are allowed"},
		{"a missing file is named, as Image 2", []string{"-image", missing}, `image 2: no such file "` + missing + `"`},
		{"images count from 1", []string{"-image", small}, "image 2: "},
		{"ftp is not a URL the API takes", []string{"-image", "ftp://example.com/cat.png"}, "image 2: unsupported URL scheme ftp (use http, https or a local file) (run 'qwenedit edit -h' for help)"},
		{"several problems at once", []string{"-n", "9", "-size", "511*512", "-image", missing},
			`-n is 9, must be 1 to 6 (or 0 for the server default); -size width is 511, must be 512 to 2048; image 2: no such file "` + missing + `"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, e := fakeAPI(t)
			o := edit(context.Background(), e, append([]string{"-image", sample, "-prompt", "Make it snow", "-out", t.TempDir()}, tc.args...)...)
			assert.Equal(t, exitUsage, o.code, "nothing was sent")
			assert.Equal(t, 1, strings.Count(o.stderr, "\n"), "one line: %q", o.stderr)
			msg, ok := strings.CutPrefix(strings.TrimSuffix(o.stderr, "\n"), "qwenedit edit: ")
			require.True(t, ok, o.stderr)
			if strings.HasSuffix(tc.want, ": ") {
				assert.True(t, strings.HasPrefix(msg, tc.want), msg)
			} else {
				assert.Equal(t, tc.want, msg)
			}
			assert.NotContains(t, msg, "qwenedit:")
			assert.NotContains(t, msg, "images[")
			assert.Zero(t, len(srv.Requests()), "nothing reaches the server")
		})
	}
}

func TestEditUsageErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-prompt", "Make it snow"}, "need -image"},
		{[]string{"-image", sample}, "need -prompt"},
		{[]string{"-image", sample, "-prompt", "x", sample}, `unexpected argument "` + sample + `": give each image with -image`},
		{[]string{"-image", sample, "-image", sample, "-image", sample, "-image", sample, "-prompt", "x"}, "-image given 4 times: the API takes 1 to 3 images"},
		{[]string{"-image", sample, "-prompt", "x", "-size", "big"}, `-size "big": want WIDTHxHEIGHT or WIDTH*HEIGHT`},
		{[]string{"-image", sample, "-prompt", "x", "-prompt-extend=maybe"}, `invalid boolean value "maybe" for -prompt-extend`},
		{[]string{"-image", "data:image/png;base64,AAAA", "-prompt", "x"}, "image 1: data: URIs are not taken on the command line"},
	} {
		srv, e := fakeAPI(t)
		o := edit(context.Background(), e, append([]string{"-out", t.TempDir()}, tc.args...)...)
		assert.Equal(t, exitUsage, o.code, tc.args)
		assert.Contains(t, o.stderr, tc.want)
		assert.Empty(t, o.stdout)
		assert.Zero(t, len(srv.Requests()))
	}
}

func TestEditFailedTaskNamesCodeAndTitle(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t)
	srv.FailNextTask(1301, "InvalidParameter", "the sky cannot be found")
	out := filepath.Join(t.TempDir(), "out")

	o := edit(context.Background(), e, "-image", sample, "-prompt", "Turn the sky purple", "-out", out)
	assert.Equal(t, exitFailure, o.code)
	id := srv.Tasks()[0].ID
	assert.Equal(t, "qwenedit edit: task "+id+" failed (code 1301): InvalidParameter: the sky cannot be found", o.lastLine())
	assert.NoDirExists(t, out, "nothing saved")
}

func TestEditTimeoutTellsHowToResumeAndWaitResumes(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t, qwenedittest.WithTaskDuration(time.Hour))
	out := filepath.Join(t.TempDir(), "my results")

	o := edit(context.Background(), e, "-max-wait", "50ms", "-image", sample, "-prompt", "Add a moon", "-out", out)
	assert.Equal(t, exitFailure, o.code)
	id := srv.Tasks()[0].ID
	assert.True(t, strings.HasPrefix(o.lastLine(), "qwenedit edit: gave up waiting for task "+id+" after "), o.lastLine())
	assert.True(t, strings.HasSuffix(o.lastLine(), "(last status pending); the task goes on and is charged: resume with qwenedit wait "+id+" -out '"+out+"'"), o.lastLine())
	assert.Empty(t, o.stdout)

	// Following the hint once the task is done saves its results, without a new task.
	require.NoError(t, srv.SetTaskStatus(id, "completed"))
	o = runCLI(context.Background(), e, "wait", id, "-out", out)
	require.Equal(t, exitOK, o.code, o.stderr)
	assert.Equal(t, 1, srv.SubmitCount())
	saved := savedPaths(o.stdout)
	require.Len(t, saved, 1)
	assertInverted(t, sample, saved[0])
}

func TestEditInterruptTellsHowToResume(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t, qwenedittest.WithTaskDuration(time.Hour))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"edit", "-poll", "10ms", "-image", sample, "-prompt", "Add a moon", "-out", "out"}, e.get, &syncBuffer{}, &stderr)
	}()
	require.Eventually(t, func() bool { return strings.Contains(stderr.String(), "pending") }, 10*time.Second, 5*time.Millisecond)
	cancel()
	require.Equal(t, exitFailure, <-done)
	id := srv.Tasks()[0].ID
	assert.True(t, strings.HasSuffix(stderr.String(), "qwenedit edit: interrupted while waiting for task "+id+
		"; the task goes on and is charged: resume with qwenedit wait "+id+" -out out\n"), stderr.String())
}

func TestEditWrongKeyPointsAtTheVariable(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t)
	e["MULEROUTER_API_KEY"] = "not-the-key"
	o := edit(context.Background(), e, "-image", sample, "-prompt", "Add a moon", "-out", t.TempDir())
	assert.Equal(t, exitFailure, o.code)
	assert.True(t, strings.HasPrefix(o.lastLine(), "qwenedit edit: "+srv.URL()+" refused the API key (HTTP 401"), o.lastLine())
	assert.True(t, strings.HasSuffix(o.lastLine(), "): check MULEROUTER_API_KEY"), o.lastLine())
	assert.NotContains(t, o.stderr, "not-the-key", "the key is never printed")
	assert.Zero(t, srv.SubmitCount())
}

func TestEditUnknownModelIsNamed(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t)
	o := edit(context.Background(), e, "-model", "qwen-image-edit-maxx", "-image", sample, "-prompt", "Add a moon", "-out", t.TempDir())
	assert.Equal(t, exitFailure, o.code)
	assert.Equal(t, `qwenedit edit: model "qwen-image-edit-maxx" not found at `+srv.URL()+` (HTTP 404: Not Found); -model takes qwen-image-edit-max (the default) or qwen-image-edit-plus`,
		o.lastLine())

	// The built-in fake knows the same models as the API.
	o = edit(context.Background(), env{}, "-model", "qwen-image-edit-maxx", "-image", sample, "-prompt", "Add a moon", "-out", t.TempDir())
	assert.Equal(t, exitFailure, o.code)
	assert.True(t, strings.HasPrefix(o.lastLine(), `qwenedit edit: model "qwen-image-edit-maxx" not found at the built-in fake server (HTTP 404`), o.lastLine())
}

func TestEditLostSubmitAnswerWarnsAgainstResubmitting(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t)
	srv.InjectFault(qwenedittest.Fault{Method: "POST", Kind: qwenedittest.FaultStatus, Status: 502, AfterCreate: true})

	o := edit(context.Background(), e, "-image", sample, "-prompt", "Add a moon", "-out", t.TempDir())
	assert.Equal(t, exitFailure, o.code)
	// A 5xx comes with its traceparent, for a bug report.
	assert.True(t, strings.HasPrefix(o.lastLine(), "qwenedit edit: the submit's outcome is unknown ("+srv.URL()+" answered HTTP 502: Bad Gateway, traceparent "), o.lastLine())
	assert.True(t, strings.HasSuffix(o.lastLine(), "): a task may have been created and charged; check your MuleRouter dashboard before submitting again"), o.lastLine())
	assert.Equal(t, 1, srv.SubmitCount(), "the task was created, and not created twice")
}

func TestEditEnvironment(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  env
		want string
	}{
		{env{"MULEROUTER_API_KEY": "k", "MULEROUTER_BASE_URL": "http://api.example.com"},
			"qwenedit edit: MULEROUTER_BASE_URL http://api.example.com is plain http to another machine, which would send your key in clear text: use an https:// URL"},
		{env{"MULEROUTER_API_KEY": "k", "MULEROUTER_SITE": "elsewhere"}, `qwenedit edit: MULEROUTER_SITE is "elsewhere": want mulerouter or mulerun`},
		{env{"MULEROUTER_API_KEY": "k", "MULEROUTER_BASE_URL": "ftp://api.example.com"}, "qwenedit edit: base URL"},
	} {
		o := edit(context.Background(), tc.env, "-image", sample, "-prompt", "x", "-out", t.TempDir())
		assert.Equal(t, exitUsage, o.code, tc.env)
		assert.True(t, strings.HasPrefix(o.stderr, tc.want), o.stderr)
		assert.NotContains(t, o.stderr, "With", "no SDK option a command-line user cannot pass")
		assert.NotContains(t, o.stderr, "qwenedit:")
	}
}

func TestBaseURLFollowsTheOfficialVariables(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  env
		want string
	}{
		{env{}, qwenedit.DefaultBaseURL},
		{env{"MULEROUTER_SITE": "MuleRun"}, qwenedit.MuleRunBaseURL},
		{env{"MULEROUTER_SITE": "mulerouter"}, qwenedit.DefaultBaseURL},
		{env{"MULEROUTER_SITE": "mulerun", "MULEROUTER_BASE_URL": "https://proxy.example/mule"}, "https://proxy.example/mule"},
		{env{"MULEROUTER_BASE_URL": "http://127.0.0.1:8080"}, "http://127.0.0.1:8080"},
	} {
		got, err := (&cli{getenv: tc.env.get}).baseURL()
		require.NoError(t, err, tc.env)
		assert.Equal(t, tc.want, got, tc.env)
	}
}

func TestEditJSON(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t)
	out := t.TempDir()
	o := edit(context.Background(), e, "--json", "-image", sample, "-prompt", "Add a moon", "-out", out)
	require.Equal(t, exitOK, o.code, o.stderr)
	require.Equal(t, 1, strings.Count(o.stdout, "\n"), "one object: %q", o.stdout)
	var res map[string]any
	require.NoError(t, json.Unmarshal([]byte(o.stdout), &res))
	id := srv.Tasks()[0].ID
	assert.Equal(t, id, res["task_id"])
	assert.Equal(t, "completed", res["status"])
	assert.Equal(t, []any{filepath.Join(out, id+".png")}, res["saved"])
	assert.Len(t, res["images"], 1)
	assert.NotContains(t, res, "error")
	assert.NotContains(t, res, "fake")

	srv.FailNextTask(3001, "Invalid Request", "The prompt contains prohibited content")
	o = edit(context.Background(), e, "-json", "-image", sample, "-prompt", "Add a moon", "-out", out)
	assert.Equal(t, exitFailure, o.code)
	var failed result
	require.NoError(t, json.Unmarshal([]byte(o.stdout), &failed))
	id = srv.Tasks()[1].ID
	assert.Equal(t, result{TaskID: id, Status: "failed", Error: &jsonError{Kind: "task_failed", TaskID: id,
		Message: "task " + id + " failed (code 3001): Invalid Request: The prompt contains prohibited content"}}, failed)

	o = edit(context.Background(), env{}, "-json", "-image", filepath.Join(out, "nope.png"), "-prompt", "Add a moon")
	assert.Equal(t, exitUsage, o.code)
	require.NoError(t, json.Unmarshal([]byte(o.stdout), &failed))
	assert.Equal(t, "invalid_request", failed.Error.Kind)
	assert.Equal(t, `image 1: no such file "`+filepath.Join(out, "nope.png")+`"`, failed.Error.Message)
}

func TestEveryFailureIsAJSONObjectWithJSON(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"edit", "-json", "-prompt", "x"},                               // a usage error found after the flags
		{"status", "-json", "id"},                                       // no key
		{"batch", "-json", "-in", t.TempDir(), "-prompt", "x", "-fake"}, // no images
	} {
		o := runCLI(context.Background(), env{}, args...)
		assert.NotEqual(t, exitOK, o.code, args)
		var res result
		require.NoError(t, json.Unmarshal([]byte(o.stdout), &res), "%v: %q", args, o.stdout)
		require.NotNil(t, res.Error, args)
		assert.NotEmpty(t, res.Error.Kind, args)
		assert.True(t, strings.HasPrefix(o.lastLine(), "qwenedit "+args[0]+": "+res.Error.Message), "%v: the same message on stderr: %q", args, o.stderr)
	}
}

func TestTaskProgressOnATerminalRewritesOneLine(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	p := &taskProgress{w: &buf, tty: true, id: "t1", start: time.Now()}
	p.update(&qwenedit.Task{TaskInfo: qwenedit.TaskInfo{ID: "t1", Status: qwenedit.TaskStatus("pending")}})
	p.update(&qwenedit.Task{TaskInfo: qwenedit.TaskInfo{ID: "t1", Status: qwenedit.TaskStatus("processing")}})
	p.done()
	out := buf.String()
	assert.True(t, strings.HasPrefix(out, "\r\033[Ktask t1: pending  "), "%q", out)
	assert.Contains(t, out, "\r\033[Ktask t1: processing  ")
	assert.Equal(t, 1, strings.Count(out, "\n"), "one line, ended once: %q", out)

	var plain syncBuffer
	p = &taskProgress{w: &plain, id: "t1"}
	for _, s := range []qwenedit.TaskStatus{qwenedit.TaskStatus("pending"), qwenedit.TaskStatus("pending"), qwenedit.TaskStatus("completed")} {
		p.update(&qwenedit.Task{TaskInfo: qwenedit.TaskInfo{ID: "t1", Status: s}})
	}
	p.done()
	assert.Equal(t, "task t1: pending\ntask t1: completed\n", plain.String(), "a line per change of status")
}
