package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-b62e15c8/qwenedit"
	"github.com/seed-b62e15c8/qwenedit/internal/limits"
	"github.com/seed-b62e15c8/qwenedit/qwenedittest"
)

const prompt = "Make it look like a watercolour"

// batchRun runs "qwenedit batch" with a fast poll.
func batchRun(ctx context.Context, e env, args ...string) ran {
	return runCLI(ctx, e, append([]string{"batch", "-poll", "10ms"}, args...)...)
}

// errMsg is the error the run ended with, without "qwenedit batch: ".
func (o ran) errMsg() string {
	msg, _ := strings.CutPrefix(o.lastLine(), "qwenedit batch: ")
	return msg
}

// picture is a distinct 384×384 test image: a gradient in a colour of its own.
func picture(i int) *image.NRGBA {
	const side = limits.MinImageSide
	img := image.NewNRGBA(image.Rect(0, 0, side, side))
	for y := range side {
		for x := range side {
			img.SetNRGBA(x, y, color.NRGBA{uint8(x * 255 / side), uint8(40 * i), uint8(y * 255 / side), 255})
		}
	}
	return img
}

// writeImages writes picture(i) for each name, as JPEG or PNG by extension.
func writeImages(t testing.TB, dir string, names ...string) {
	t.Helper()
	for i, name := range names {
		var buf bytes.Buffer
		if ext := filepath.Ext(name); ext == ".jpg" || ext == ".jpeg" {
			require.NoError(t, jpeg.Encode(&buf, picture(i), &jpeg.Options{Quality: 95}))
		} else {
			require.NoError(t, png.Encode(&buf, picture(i)))
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644))
	}
}

// sentFiles maps each submit the server received to the input file whose
// bytes it carried, in order.
func sentFiles(t *testing.T, srv *qwenedittest.Server, in string) []string {
	t.Helper()
	var files []string
	for _, task := range srv.Tasks() {
		require.Len(t, task.Request.Images, 1)
		_, payload, ok := strings.Cut(task.Request.Images[0], ";base64,")
		require.True(t, ok)
		data, err := base64.StdEncoding.DecodeString(payload)
		require.NoError(t, err)
		files = append(files, fileWithBytes(t, in, data))
	}
	return files
}

func fileWithBytes(t *testing.T, dir string, data []byte) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		if b, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil && bytes.Equal(b, data) {
			return e.Name()
		}
	}
	t.Fatalf("no file in %s has the bytes the server received", dir)
	return ""
}

// journalRecords reads batch.jsonl, failing on any line that is not JSON.
func journalRecords(t *testing.T, out string) []record {
	t.Helper()
	f, err := os.Open(filepath.Join(out, journalName))
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	defer f.Close()
	var recs []record
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r record
		require.NoError(t, json.Unmarshal(sc.Bytes(), &r), "journal line %q", sc.Text())
		recs = append(recs, r)
	}
	require.NoError(t, sc.Err())
	return recs
}

// assertFileHolds checks that the file at path holds want.
func assertFileHolds(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, want, got, path)
}

// writeJournal replaces the journal in out with recs.
func writeJournal(t *testing.T, out string, recs []record) {
	t.Helper()
	var buf bytes.Buffer
	for _, r := range recs {
		line, err := json.Marshal(r)
		require.NoError(t, err)
		buf.Write(append(line, '\n'))
	}
	require.NoError(t, os.WriteFile(filepath.Join(out, journalName), buf.Bytes(), 0o644))
}

// absIn is the input folder as the journal records it.
func absIn(t *testing.T, in string) string {
	t.Helper()
	abs, err := absDir(in)
	require.NoError(t, err)
	return abs
}

func withStatus(recs []record, status string) []record {
	var out []record
	for _, r := range recs {
		if r.Status == status {
			out = append(out, r)
		}
	}
	return out
}

// steppedClock is a server clock that stands still until step is set, then
// jumps step forward at every reading, so that any task is finished by the
// time it is polled.
type steppedClock struct {
	base time.Time
	step atomic.Int64
	now  atomic.Int64
}

func (c *steppedClock) Now() time.Time {
	return c.base.Add(time.Duration(c.now.Add(c.step.Load())))
}

// minuteTasks is a fake whose tasks take a minute on a stepped clock: none
// finishes until the test sets clock.step.
func minuteTasks(t *testing.T) (*steppedClock, *qwenedittest.Server, env) {
	t.Helper()
	clock := &steppedClock{base: time.Now()}
	srv, e := fakeAPI(t, qwenedittest.WithTaskDuration(time.Minute), qwenedittest.WithClock(clock.Now))
	return clock, srv, e
}

func TestBatchEditsEveryImageInTheFolder(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t)
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "edited")
	images := []string{"a.png", "b.jpg", "c.PNG", "d.png", "e.jpeg"}
	writeImages(t, in, append(images, ".hidden.png")...) // all different
	require.NoError(t, os.WriteFile(filepath.Join(in, "notes.txt"), []byte("not an image"), 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(in, "sub"), 0o755))
	writeImages(t, filepath.Join(in, "sub"), "nested.png")

	o := batchRun(context.Background(), e, "-in", in, "-prompt", prompt, "-out", out, "-concurrency", "3")
	require.Equal(t, exitOK, o.code, o.stderr)

	// One task per image, each with the prompt and that image's bytes.
	assert.Equal(t, len(images), srv.SubmitCount())
	for _, task := range srv.Tasks() {
		assert.Equal(t, prompt, task.Request.Prompt)
	}
	sent := sentFiles(t, srv, in)
	slices.Sort(sent)
	assert.Equal(t, []string{"a.png", "b.jpg", "c.PNG", "d.png", "e.jpeg"}, sent, "text files, folders and hidden files are left alone")

	// Each result is the edit of its own input, named after it.
	for _, name := range images {
		assertInverted(t, filepath.Join(in, name), filepath.Join(out, strings.TrimSuffix(name, filepath.Ext(name))+".png"))
	}
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.Equal(t, []string{"a.png", "b.png", "batch.jsonl", "c.png", "d.png", "e.png"}, names, "no staging folder or part files left")

	// The journal has, for every file, its submit starting (journaled
	// ahead), its task submitted, and then saved.
	recs := journalRecords(t, out)
	require.Len(t, recs, 3*len(images))
	for _, name := range images {
		var mine []record
		for _, r := range recs {
			if r.File == name {
				mine = append(mine, r)
			}
		}
		require.Len(t, mine, 3, name)
		assert.Equal(t, statusSubmitting, mine[0].Status)
		assert.Empty(t, mine[0].TaskID)
		assert.Equal(t, mine[1].SHA256, mine[0].SHA256)
		assert.Equal(t, statusSubmitted, mine[1].Status)
		assert.Equal(t, statusSaved, mine[2].Status)
		assert.NotEmpty(t, mine[1].TaskID)
		assert.Equal(t, mine[1].TaskID, mine[2].TaskID)
		assert.Equal(t, []string{strings.TrimSuffix(name, filepath.Ext(name)) + ".png"}, mine[2].Outputs)
		for _, r := range mine {
			assert.Equal(t, srv.URL(), r.Server)
			assert.Equal(t, prompt, r.Prompt)
		}
	}

	assert.Contains(t, o.stdout, "5 images: 5 edited, 0 already saved, 0 failed, 0 to resume")
	assert.Contains(t, o.stderr, "submitting to "+srv.URL()+" (qwen-image-edit-max): a local server, charged only if it forwards the calls to MuleRouter")
	assert.NotContains(t, o.stderr, "\r", "not a terminal: plain lines, no bar")
	assert.Contains(t, o.stderr, "a.png: submitted as task ")
	assert.Contains(t, o.stderr, "] b.jpg: saved as b.png")
	assert.Contains(t, o.stderr, "[5/5] ")
}

func TestBatchJSON(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t)
	srv.FailNextTask(1301, "InvalidParameter", "the watercolour filter broke")
	in, out := t.TempDir(), t.TempDir()
	writeImages(t, in, "a.png", "b.png")

	o := batchRun(context.Background(), e, "-json", "-concurrency", "1", "-in", in, "-prompt", prompt, "-out", out)
	assert.Equal(t, exitFailure, o.code)
	lines := strings.Split(strings.TrimSuffix(o.stdout, "\n"), "\n")
	require.Len(t, lines, 2, "one object per file, and nothing else on stdout: %q", o.stdout)
	var a, b result
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &a))
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &b))
	failedID, savedID := srv.Tasks()[0].ID, srv.Tasks()[1].ID
	assert.Equal(t, result{File: "a.png", TaskID: failedID, Outcome: "failed", Next: "the next run submits it again",
		Error: &jsonError{Kind: "task_failed", TaskID: failedID,
			Message: "task " + failedID + " failed (code 1301): InvalidParameter: the watercolour filter broke"}}, a)
	assert.Equal(t, result{File: "b.png", TaskID: savedID, Outcome: "edited", Saved: []string{filepath.Join(out, "b.png")}}, b)
	assert.Contains(t, o.stderr, "2 images: 1 edited, 0 already saved, 1 failed, 0 to resume", "the summary goes to stderr")
}

func TestBatchInterruptedResumesWithoutPayingTwice(t *testing.T) {
	t.Parallel()
	clock, srv, e := minuteTasks(t)
	in, out := t.TempDir(), t.TempDir()
	images := []string{"a.png", "b.png", "c.png", "d.png", "e.png"}
	writeImages(t, in, images...)
	args := []string{"-in", in, "-prompt", prompt, "-out", out, "-concurrency", "2"}

	// Run 1: the tasks never finish; interrupt it once two are submitted.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan ran, 1)
	go func() { done <- batchRun(ctx, e, args...) }()
	require.Eventually(t, func() bool { return len(withStatus(journalRecords(t, out), statusSubmitted)) == 2 }, 10*time.Second, 5*time.Millisecond,
		"each task ID is journaled while its wait is still going on")
	// Both workers now wait on tasks that never finish: let them poll.
	require.Eventually(t, func() bool { return requestsTo(srv, "GET", "") >= 4 }, 10*time.Second, 5*time.Millisecond)
	assert.Equal(t, 2, srv.SubmitCount(), "-concurrency 2: no third submit while two tasks run")
	cancel()
	r1 := <-done
	assert.Equal(t, exitFailure, r1.code)
	assert.Equal(t, "interrupted with 5 of 5 images not done: run the same command again (or qwenedit batch -out "+out+" -resume) to resume", r1.errMsg())
	assert.Contains(t, r1.stdout, "5 images: 0 edited, 0 already saved, 0 failed, 5 to resume")
	assert.Contains(t, r1.stdout, "still running on the server: the next run waits for it, without a new task")
	first := withStatus(journalRecords(t, out), statusSubmitted)
	require.Len(t, first, 2)
	assert.ElementsMatch(t, sentFiles(t, srv, in), []string{first[0].File, first[1].File}, "the journal names the files that were sent")

	// Run 2, with -resume and neither -in nor -prompt: the server's tasks
	// can now finish. The two journaled tasks are waited for, not submitted
	// again; the other three are submitted.
	clock.step.Store(int64(time.Minute))
	getsBefore := map[string]int{}
	for _, r := range first {
		getsBefore[r.TaskID] = requestsTo(srv, "GET", "/generation/"+r.TaskID)
	}
	o := batchRun(context.Background(), e, "-out", out, "-resume")
	require.Equal(t, exitOK, o.code, o.stderr)
	assert.Equal(t, 5, srv.SubmitCount(), "three new tasks, none for the journaled files")
	assert.Equal(t, 5, requestsTo(srv, "POST", "/generation"))
	assert.ElementsMatch(t, images, sentFiles(t, srv, in), "each file was submitted exactly once over both runs")
	for _, r := range first {
		assert.Contains(t, o.stderr, r.File+": resuming task "+r.TaskID+" from an earlier run (not submitted again)")
		assert.Greater(t, requestsTo(srv, "GET", "/generation/"+r.TaskID), getsBefore[r.TaskID], "WaitForResult polled %s", r.TaskID)
	}
	assert.Contains(t, o.stdout, "5 images: 5 edited, 0 already saved, 0 failed, 0 to resume")
	for _, img := range images {
		assertInverted(t, filepath.Join(in, img), filepath.Join(out, img))
	}
	saved := withStatus(journalRecords(t, out), statusSaved)
	require.Len(t, saved, 5)
	for _, f := range first {
		i := slices.IndexFunc(saved, func(r record) bool { return r.File == f.File })
		require.GreaterOrEqual(t, i, 0)
		assert.Equal(t, f.TaskID, saved[i].TaskID, "saved from the task of the first run")
	}

	// Run 3: everything is saved, but one result was deleted: it is
	// downloaded again from its task, the others are skipped, and nothing
	// is submitted.
	require.NoError(t, os.Remove(filepath.Join(out, "c.png")))
	o = batchRun(context.Background(), e, args...)
	require.Equal(t, exitOK, o.code, o.stderr)
	assert.Equal(t, 5, srv.SubmitCount())
	assert.Contains(t, o.stdout, "5 images: 1 edited, 4 already saved, 0 failed, 0 to resume")
	assert.Contains(t, o.stderr, "a.png: already saved as a.png")
	assert.Contains(t, o.stderr, "c.png: resuming task ")
	assertInverted(t, filepath.Join(in, "c.png"), filepath.Join(out, "c.png"))

	// Run 4: nothing to do, nothing sent.
	before := len(srv.Requests())
	o = batchRun(context.Background(), e, args...)
	require.Equal(t, exitOK, o.code, o.stderr)
	assert.Contains(t, o.stdout, "5 images: 0 edited, 5 already saved, 0 failed, 0 to resume")
	assert.Equal(t, before, len(srv.Requests()), "no request at all")
}

func TestBatchResumeNeedsAJournal(t *testing.T) {
	t.Parallel()
	o := batchRun(context.Background(), env{}, "-resume", "-out", filepath.Join(t.TempDir(), "none"))
	assert.Equal(t, exitUsage, o.code)
	assert.Contains(t, o.errMsg(), "-resume: no batch to resume in ")

	out := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(out, journalName), nil, 0o644))
	o = batchRun(context.Background(), env{}, "-resume", "-out", out)
	assert.Equal(t, exitUsage, o.code)
	assert.Contains(t, o.errMsg(), "records no batch to resume")
}

func TestBatchResumesATaskFromAJournalWrittenBeforehand(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t)
	in, out := t.TempDir(), t.TempDir()
	writeImages(t, in, "a.png", "b.png")

	// A task for a.png created outside the program, and journaled as the
	// program does; then a line cut short by a crash.
	id := submit(t, srv, 0, filepath.Join(in, "a.png"))
	inAbs := absIn(t, in)
	sum, err := fileSum(filepath.Join(in, "a.png"))
	require.NoError(t, err)
	journal := fmt.Sprintf(`{"file":"a.png","in":%q,"sha256":%q,"task_id":%q,"status":"submitted","prompt":%q,"server":%q}`+"\n"+`{"file":"b.png","task_`,
		inAbs, sum, id, prompt, srv.URL())
	require.NoError(t, os.WriteFile(filepath.Join(out, journalName), []byte(journal), 0o644))

	o := batchRun(context.Background(), e, "-in", in, "-prompt", prompt, "-out", out)
	require.Equal(t, exitOK, o.code, o.stderr)

	assert.Equal(t, 2, srv.SubmitCount(), "one task from the test, one for b.png")
	assert.Equal(t, []string{"a.png", "b.png"}, sentFiles(t, srv, in), "a.png was not sent again")
	assert.Equal(t, 1, requestsTo(srv, "GET", "/generation/"+id), "WaitForResult polled the journaled task")
	assert.Contains(t, o.stderr, "a.png: resuming task "+id)
	assert.Contains(t, o.stderr, "ignored 1 line(s)", "the cut line")
	assertInverted(t, filepath.Join(in, "a.png"), filepath.Join(out, "a.png"))
	assertInverted(t, filepath.Join(in, "b.png"), filepath.Join(out, "b.png"))

	// The cut line was ended, so every record written after it is whole.
	data, err := os.ReadFile(filepath.Join(out, journalName))
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	require.Len(t, lines, 2+4, "2 old lines, then a saved, b submitting, b submitted, b saved")
	for _, l := range lines[2:] {
		var r record
		assert.NoError(t, json.Unmarshal([]byte(l), &r), l)
	}
	j, err := openJournal(filepath.Join(out, journalName))
	require.NoError(t, err)
	recs, unreadable, err := j.read()
	require.NoError(t, err)
	require.NoError(t, j.Close())
	assert.Equal(t, 1, unreadable)
	last, _ := lastRecords(recs)
	assert.Equal(t, record{File: "a.png", In: inAbs, SHA256: sum, TaskID: id, Status: statusSaved, Outputs: []string{"a.png"},
		Prompt: prompt, Server: srv.URL(), Time: last["a.png"].Time}, last["a.png"])
}

func TestBatchAFailedTaskDoesNotStopTheOthers(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t)
	srv.FailNextTask(1301, "InvalidParameter", "the watercolour filter broke")
	in, out := t.TempDir(), t.TempDir()
	images := []string{"a.png", "b.png", "c.png", "d.png"}
	writeImages(t, in, images...)
	args := []string{"-in", in, "-prompt", prompt, "-out", out, "-concurrency", "2"}

	o := batchRun(context.Background(), e, args...)
	assert.Equal(t, exitFailure, o.code)
	assert.Equal(t, "1 of 4 images not done", o.errMsg())
	require.Equal(t, 4, srv.SubmitCount(), "the others went on")
	bad := sentFiles(t, srv, in)[0] // the first task created is the one that fails
	for _, img := range images {
		if img == bad {
			assert.NoFileExists(t, filepath.Join(out, img))
		} else {
			assertInverted(t, filepath.Join(in, img), filepath.Join(out, img))
		}
	}
	id := srv.Tasks()[0].ID
	assert.Contains(t, o.stdout, "4 images: 3 edited, 0 already saved, 1 failed, 0 to resume")
	assert.Contains(t, o.stdout, "  "+bad+": task "+id+" failed (code 1301): InvalidParameter: the watercolour filter broke\n      the next run submits it again\n")
	assert.Contains(t, o.stderr, "] "+bad+": task "+id+" failed")
	assert.NotContains(t, o.stdout+o.stderr, "qwenedit: ", "no SDK prefixes")
	failedRecs := withStatus(journalRecords(t, out), statusFailed)
	require.Len(t, failedRecs, 1)
	assert.Equal(t, bad, failedRecs[0].File)
	assert.Contains(t, failedRecs[0].Error, "the watercolour filter broke")

	// The next run submits the failed image again, and only that one.
	o = batchRun(context.Background(), e, args...)
	require.Equal(t, exitOK, o.code, o.stderr)
	assert.Equal(t, 5, srv.SubmitCount())
	assert.Equal(t, bad, sentFiles(t, srv, in)[4])
	assert.Contains(t, o.stdout, "4 images: 1 edited, 3 already saved, 0 failed, 0 to resume")
	assertInverted(t, filepath.Join(in, bad), filepath.Join(out, bad))
}

func TestBatchAnInvalidImageIsReportedWithoutASubmit(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t)
	in, out := t.TempDir(), t.TempDir()
	writeImages(t, in, "good.png")
	var small bytes.Buffer
	require.NoError(t, png.Encode(&small, image.NewNRGBA(image.Rect(0, 0, 100, 100))))
	require.NoError(t, os.WriteFile(filepath.Join(in, "small.png"), small.Bytes(), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(in, "fake.jpg"), []byte("this is text"), 0o644))

	o := batchRun(context.Background(), e, "-in", in, "-prompt", prompt, "-out", out)
	assert.Equal(t, exitFailure, o.code, "a file's failure is not a usage error")
	assert.Equal(t, "2 of 3 images not done", o.errMsg())
	assert.Equal(t, 1, srv.SubmitCount())
	assert.Equal(t, 1, requestsTo(srv, "POST", "/generation"), "nothing sent for the bad files")
	assertInverted(t, filepath.Join(in, "good.png"), filepath.Join(out, "good.png"))
	assert.Contains(t, o.stdout, "3 images: 1 edited, 0 already saved, 2 failed, 0 to resume")
	assert.Contains(t, o.stdout, "  small.png: submit: image: ")
	assert.Contains(t, o.stdout, "384")
	assert.Contains(t, o.stdout, "  fake.jpg: submit: image: ")
	assert.Contains(t, o.stdout, "fix or remove the file")
	assert.NotContains(t, o.stdout, "images[")
	for _, r := range journalRecords(t, out) {
		assert.Equal(t, "good.png", r.File, "no task, no journal line")
	}
}

func TestBatchAnUnknownSubmitOutcomeIsNotSubmittedAgain(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t)
	// The task is created, but the answer is lost.
	srv.InjectFault(qwenedittest.Fault{Method: "POST", Kind: qwenedittest.FaultStatus, Status: 502, AfterCreate: true})
	in, out := t.TempDir(), t.TempDir()
	writeImages(t, in, "a.png")
	args := []string{"-in", in, "-prompt", prompt, "-out", out}

	o := batchRun(context.Background(), e, args...)
	assert.Equal(t, exitFailure, o.code)
	assert.Equal(t, 1, srv.SubmitCount())
	assert.Contains(t, o.stdout, "a task may have been created and charged")
	recs := journalRecords(t, out)
	require.Len(t, recs, 2)
	assert.Equal(t, statusSubmitting, recs[0].Status)
	assert.Equal(t, statusUnknown, recs[1].Status)

	// Run again: not submitted blindly.
	o = batchRun(context.Background(), e, args...)
	assert.Equal(t, exitFailure, o.code)
	assert.Equal(t, 1, requestsTo(srv, "POST", "/generation"), "no new POST")
	assert.Contains(t, o.stdout, "rerun with -resubmit-unknown")

	// The user checked and asks for it.
	o = batchRun(context.Background(), e, append(args, "-resubmit-unknown")...)
	require.Equal(t, exitOK, o.code, o.stdout)
	assert.Equal(t, 2, srv.SubmitCount())
	assertInverted(t, filepath.Join(in, "a.png"), filepath.Join(out, "a.png"))
}

func TestBatchABadKeyStopsTheBatch(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t)
	e["MULEROUTER_API_KEY"] = "not-the-key"
	in, out := t.TempDir(), t.TempDir()
	writeImages(t, in, "a.png", "b.png", "c.png", "d.png")

	o := batchRun(context.Background(), e, "-in", in, "-prompt", prompt, "-out", out, "-concurrency", "1")
	assert.Equal(t, exitFailure, o.code)
	assert.True(t, strings.HasPrefix(o.errMsg(), "stopped: "+srv.URL()+" refused the API key (HTTP 401"), o.errMsg())
	assert.True(t, strings.HasSuffix(o.errMsg(), "check MULEROUTER_API_KEY"), o.errMsg())
	assert.Zero(t, requestsTo(srv, "POST", "/generation"), "the key is checked with a free GET before any paid submit")
	assert.Equal(t, 1, requestsTo(srv, "GET", "/generation/"+unknownTaskID))
	assert.Zero(t, srv.SubmitCount())
	assert.Contains(t, o.stdout, "4 images: 0 edited, 0 already saved, 1 failed, 3 to resume")
	journal, err := os.ReadFile(filepath.Join(out, journalName))
	require.NoError(t, err)
	assert.NotContains(t, string(journal), statusUnknown, "no image is marked maybe charged")
}

func TestBatchMaxWaitLeavesTheTaskToTheNextRun(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t, qwenedittest.WithTaskDuration(time.Hour))
	in, out := t.TempDir(), t.TempDir()
	writeImages(t, in, "a.png")

	o := batchRun(context.Background(), e, "-in", in, "-prompt", prompt, "-out", out, "-max-wait", "50ms")
	assert.Equal(t, exitFailure, o.code)
	assert.Equal(t, "1 of 1 images not done", o.errMsg())
	assert.Contains(t, o.stdout, "1 images: 0 edited, 0 already saved, 0 failed, 1 to resume")
	assert.Contains(t, o.stdout, "a.png: task "+srv.Tasks()[0].ID)
	assert.Contains(t, o.stdout, "the next run waits for it, without a new task")
	recs := journalRecords(t, out)
	require.Len(t, recs, 2)
	assert.Equal(t, statusSubmitted, recs[1].Status)
}

func TestBatchAnotherPromptInTheSameOutputIsRefused(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t)
	in, out := t.TempDir(), t.TempDir()
	writeImages(t, in, "a.png")
	require.Equal(t, exitOK, batchRun(context.Background(), e, "-in", in, "-prompt", prompt, "-out", out).code)

	o := batchRun(context.Background(), e, "-in", in, "-prompt", "Make it a pencil drawing", "-out", out)
	assert.Equal(t, exitUsage, o.code, "found before anything is sent")
	assert.Contains(t, o.errMsg(), "another prompt")
	assert.Equal(t, 1, srv.SubmitCount())
}

func TestBatchWithoutKeyUsesTheBuiltInFake(t *testing.T) {
	t.Parallel()
	in, out := t.TempDir(), t.TempDir()
	writeImages(t, in, "a.png", "b.jpg")
	args := []string{"-in", in, "-prompt", prompt, "-out", out, "-fake-duration", "20ms"}

	o := batchRun(context.Background(), env{}, args...)
	require.Equal(t, exitOK, o.code, o.stderr)
	assert.True(t, strings.HasPrefix(o.stderr, "MULEROUTER_API_KEY is not set: using the built-in fake server at http://127.0.0.1:"), o.stderr)
	assert.NotContains(t, o.stderr, "charged;")
	assert.Contains(t, o.stdout, "2 images: 2 edited")
	assertInverted(t, filepath.Join(in, "a.png"), filepath.Join(out, "a.png"))
	assertInverted(t, filepath.Join(in, "b.jpg"), filepath.Join(out, "b.png"))

	// The fake died with the first run (the next one is on another port),
	// but the results it saved are there: they are skipped.
	o = batchRun(context.Background(), env{}, args...)
	require.Equal(t, exitOK, o.code, o.stderr)
	assert.Contains(t, o.stdout, "2 images: 0 edited, 2 already saved")
	assert.NotContains(t, o.stdout, "built-in fake", "this run is on the fake too")

	// A run with a key skips them too, but says who made them.
	srv, e := fakeAPI(t)
	o = batchRun(context.Background(), e, args...)
	require.Equal(t, exitOK, o.code, o.stderr)
	assert.Contains(t, o.stdout, "2 images: 0 edited, 2 already saved")
	assert.Contains(t, o.stdout, "2 of the results already saved were made by the built-in fake server, not by MuleRouter: delete them to have them edited for real")
	assert.Contains(t, o.stderr, "a.png: already saved as a.png by the built-in fake server (delete it to have it edited for real)")
	assert.Zero(t, srv.SubmitCount())
}

func TestBatchTheBuiltInFakesUnfinishedTasksAreSubmittedAgain(t *testing.T) {
	t.Parallel()
	in, out := t.TempDir(), t.TempDir()
	writeImages(t, in, "a.png", "b.png")
	args := []string{"-in", in, "-prompt", prompt, "-out", out}

	// The fake's tasks do not finish before the run ends, and with it the fake.
	o := batchRun(context.Background(), env{}, append(args, "-fake-duration", "1h", "-max-wait", "50ms")...)
	assert.Equal(t, exitFailure, o.code)
	assert.Contains(t, o.stdout, "2 images: 0 edited, 0 already saved, 0 failed, 2 to resume")

	// Nothing to follow on the next fake: submitted again, without -resubmit-unknown.
	o = batchRun(context.Background(), env{}, append(args, "-fake-duration", "10ms")...)
	require.Equal(t, exitOK, o.code, o.stderr)
	assert.Contains(t, o.stderr, "ignored the last task of 2 file(s): it was on the built-in fake server, and ended with its run")
	assert.Contains(t, o.stdout, "2 images: 2 edited")
	assertInverted(t, filepath.Join(in, "a.png"), filepath.Join(out, "a.png"))
}

func TestBatchSavedResultsAreKeptWhateverTheServer(t *testing.T) {
	t.Parallel()
	first, e := fakeAPI(t)
	in, out := t.TempDir(), t.TempDir()
	writeImages(t, in, "a.png", "b.png")
	args := []string{"-in", in, "-prompt", prompt, "-out", out}
	o := batchRun(context.Background(), e, args...)
	require.Equal(t, exitOK, o.code, o.stderr)
	require.Equal(t, 2, first.SubmitCount())
	paid := []byte("stands for a result paid for, unlike anything the fake would make")
	require.NoError(t, os.WriteFile(filepath.Join(out, "a.png"), paid, 0o644))

	// With -fake: the built-in fake, on a new port.
	o = batchRun(context.Background(), e, append(args, "-fake")...)
	require.Equal(t, exitOK, o.code, o.stderr)
	assert.Contains(t, o.stdout, "2 images: 0 edited, 2 already saved")
	assertFileHolds(t, filepath.Join(out, "a.png"), paid)

	// Another base URL.
	second, e2 := fakeAPI(t)
	o = batchRun(context.Background(), e2, args...)
	require.Equal(t, exitOK, o.code, o.stderr)
	assert.Contains(t, o.stdout, "2 images: 0 edited, 2 already saved")
	assert.Zero(t, second.SubmitCount())
	assertFileHolds(t, filepath.Join(out, "a.png"), paid)
	assert.Len(t, journalRecords(t, out), 6, "nothing journaled by the runs that skipped all")
}

func TestBatchATaskOnAnotherServerIsNotSubmittedAgainSilently(t *testing.T) {
	t.Parallel()
	first, e := fakeAPI(t, qwenedittest.WithTaskDuration(time.Hour))
	in, out := t.TempDir(), t.TempDir()
	writeImages(t, in, "a.png")
	args := []string{"-in", in, "-prompt", prompt, "-out", out}
	assert.Equal(t, exitFailure, batchRun(context.Background(), e, append(args, "-max-wait", "50ms")...).code)
	taskID := first.Tasks()[0].ID

	second, e2 := fakeAPI(t)
	o := batchRun(context.Background(), e2, args...)
	assert.Equal(t, exitFailure, o.code)
	assert.Equal(t, "1 of 1 images not done", o.errMsg())
	assert.Contains(t, o.stdout, "1 images: 0 edited, 0 already saved, 1 failed, 0 to resume")
	assert.Contains(t, o.stdout, "task "+taskID+" was submitted to "+first.URL()+", not to this one ("+second.URL()+")")
	assert.Contains(t, o.stdout, "run against "+first.URL()+" to resume it, or rerun with -resubmit-unknown to submit it again here (you may pay twice)")
	assert.Zero(t, len(second.Requests()), "nothing sent")

	o = batchRun(context.Background(), e2, append(args, "-fake")...)
	assert.Equal(t, exitFailure, o.code)
	assert.Contains(t, o.stdout, "task "+taskID+" was submitted to "+first.URL()+", not to the built-in fake server")

	// The user asks for it.
	o = batchRun(context.Background(), e2, append(args, "-resubmit-unknown")...)
	require.Equal(t, exitOK, o.code, o.stderr)
	assert.Contains(t, o.stdout, "1 images: 1 edited")
	assert.Equal(t, 1, second.SubmitCount())
	assertInverted(t, filepath.Join(in, "a.png"), filepath.Join(out, "a.png"))
	assert.Equal(t, 1, first.SubmitCount())
}

func TestBatchAFileInTheOutputIsNotReplacedByANewTask(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t)
	in, out := t.TempDir(), t.TempDir()
	writeImages(t, in, "a.png", "b.png")
	mine := []byte("a picture of the user's, not made by this batch")
	require.NoError(t, os.WriteFile(filepath.Join(out, "a.png"), mine, 0o644))

	o := batchRun(context.Background(), e, "-in", in, "-prompt", prompt, "-out", out)
	assert.Equal(t, exitFailure, o.code)
	assert.Equal(t, "1 of 2 images not done", o.errMsg())
	assert.Contains(t, o.stdout, "2 images: 1 edited, 0 already saved, 1 failed, 0 to resume")
	assert.Contains(t, o.stdout, "a.png: a.png is already in "+out+", and was not made from this file as it is now")
	assert.Contains(t, o.stdout, "not submitted, so as not to replace it: move it away, or use another -out")
	assert.Equal(t, []string{"b.png"}, sentFiles(t, srv, in), "nothing paid for a.png")
	assertFileHolds(t, filepath.Join(out, "a.png"), mine)
	assertInverted(t, filepath.Join(in, "b.png"), filepath.Join(out, "b.png"))
}

func TestBatchAResultIsNotSavedOverAnotherFile(t *testing.T) {
	t.Parallel()
	clock, srv, e := minuteTasks(t)
	in, out := t.TempDir(), t.TempDir()
	writeImages(t, in, "a.png")
	args := []string{"-in", in, "-prompt", prompt, "-out", out}
	assert.Equal(t, exitFailure, batchRun(context.Background(), e, append(args, "-max-wait", "50ms")...).code)

	// The task is paid for; meanwhile a file took the result's name.
	mine := []byte("a picture of the user's, not made by this batch")
	require.NoError(t, os.WriteFile(filepath.Join(out, "a.png"), mine, 0o644))
	clock.step.Store(int64(time.Minute))
	o := batchRun(context.Background(), e, args...)
	assert.Equal(t, exitFailure, o.code)
	assert.Contains(t, o.stdout, "a.png: "+filepath.Join(out, "a.png")+" already exists with other content: not replaced")
	staged := filepath.Join(out, stagingDir, srv.Tasks()[0].ID+"_0.png")
	assert.Contains(t, o.stdout, "the result is in "+staged+": move "+filepath.Join(out, "a.png")+" away, then run again to save it, without a new task")
	assertFileHolds(t, filepath.Join(out, "a.png"), mine)
	assertInverted(t, filepath.Join(in, "a.png"), staged)

	// Moved away: saved from the same task.
	require.NoError(t, os.Remove(filepath.Join(out, "a.png")))
	o = batchRun(context.Background(), e, args...)
	require.Equal(t, exitOK, o.code, o.stderr)
	assert.Contains(t, o.stdout, "1 images: 1 edited")
	assert.Equal(t, 1, srv.SubmitCount())
	assertInverted(t, filepath.Join(in, "a.png"), filepath.Join(out, "a.png"))
	assert.NoDirExists(t, filepath.Join(out, stagingDir))
}

func TestBatchAResultSavedButNotJournaledIsTakenAsIs(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t)
	in, out := t.TempDir(), t.TempDir()
	writeImages(t, in, "a.png")
	args := []string{"-in", in, "-prompt", prompt, "-out", out}
	require.Equal(t, exitOK, batchRun(context.Background(), e, args...).code)

	// The saved line was lost (say, the disk was full): the result is
	// downloaded again, and the same bytes may take the place of the old.
	writeJournal(t, out, withStatus(journalRecords(t, out), statusSubmitted))
	o := batchRun(context.Background(), e, args...)
	require.Equal(t, exitOK, o.code, o.stderr)
	assert.Contains(t, o.stdout, "1 images: 1 edited")
	assert.Equal(t, 1, srv.SubmitCount())
}

func TestBatchAJournalOfAnotherInputFolderIsRefused(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t)
	day1, day2, out := t.TempDir(), t.TempDir(), t.TempDir()
	writeImages(t, day1, "IMG_0001.png")
	writeImages(t, day2, "x.png", "IMG_0001.png") // another picture under the same name
	require.Equal(t, exitOK, batchRun(context.Background(), e, "-in", day1, "-prompt", prompt, "-out", out).code)

	o := batchRun(context.Background(), e, "-in", day2, "-prompt", prompt, "-out", out)
	assert.Equal(t, exitUsage, o.code, "found before anything is sent")
	assert.Equal(t, filepath.Join(out, journalName)+" records a batch of the folder "+absIn(t, day1)+", not of the folder "+absIn(t, day2)+
		"; use another -out, or -in "+absIn(t, day1)+" to resume it", o.errMsg())
	assert.Empty(t, o.stdout)
	assert.Equal(t, 1, srv.SubmitCount())
	assertInverted(t, filepath.Join(day1, "IMG_0001.png"), filepath.Join(out, "IMG_0001.png"))
}

func TestBatchAChangedFileIsANewFile(t *testing.T) {
	t.Parallel()
	srv, e := fakeAPI(t)
	in, out := t.TempDir(), t.TempDir()
	writeImages(t, in, "a.png", "b.png")
	args := []string{"-in", in, "-prompt", prompt, "-out", out}
	require.Equal(t, exitOK, batchRun(context.Background(), e, args...).code)
	oldResult, err := os.ReadFile(filepath.Join(out, "a.png"))
	require.NoError(t, err)

	// a.png changes: its result is not skipped, nor replaced.
	writePicture(t, in, "a.png", limits.MinImageSide, limits.MinImageSide, 40*5)
	o := batchRun(context.Background(), e, args...)
	assert.Equal(t, exitFailure, o.code)
	assert.Equal(t, "1 of 2 images not done", o.errMsg())
	assert.Contains(t, o.stdout, "2 images: 0 edited, 1 already saved, 1 failed, 0 to resume")
	saved := withStatus(journalRecords(t, out), statusSaved)
	i := slices.IndexFunc(saved, func(r record) bool { return r.File == "a.png" })
	require.GreaterOrEqual(t, i, 0)
	assert.Contains(t, o.stdout, "a.png: changed since its result a.png was saved (task "+saved[i].TaskID+")")
	assert.Contains(t, o.stdout, "not submitted, so as not to replace that result: move it out of "+out+" to edit the new content, or use another -out")
	assert.Equal(t, 2, srv.SubmitCount())
	assertFileHolds(t, filepath.Join(out, "a.png"), oldResult)

	// Moved away: the new content is edited.
	require.NoError(t, os.Rename(filepath.Join(out, "a.png"), filepath.Join(t.TempDir(), "old.png")))
	o = batchRun(context.Background(), e, args...)
	require.Equal(t, exitOK, o.code, o.stderr)
	assert.Contains(t, o.stdout, "2 images: 1 edited, 1 already saved")
	assert.Equal(t, 3, srv.SubmitCount())
	assertInverted(t, filepath.Join(in, "a.png"), filepath.Join(out, "a.png"))
}

func TestBatchAChangedFileIsNotResumedFromItsOldTask(t *testing.T) {
	t.Parallel()
	clock, srv, e := minuteTasks(t)
	in, out := t.TempDir(), t.TempDir()
	writeImages(t, in, "a.png")
	args := []string{"-in", in, "-prompt", prompt, "-out", out}
	assert.Equal(t, exitFailure, batchRun(context.Background(), e, append(args, "-max-wait", "50ms")...).code)
	oldTask := srv.Tasks()[0].ID

	writePicture(t, in, "a.png", limits.MinImageSide, limits.MinImageSide, 40*5)
	clock.step.Store(int64(time.Minute))
	o := batchRun(context.Background(), e, args...)
	require.Equal(t, exitOK, o.code, o.stderr)
	assert.Contains(t, o.stdout, "1 images: 1 edited")
	assert.Contains(t, o.stderr, "a.png: changed since its earlier task "+oldTask+": it is a new file")
	assert.Equal(t, 2, srv.SubmitCount())
	assertInverted(t, filepath.Join(in, "a.png"), filepath.Join(out, "a.png"))
}

func TestBatchASecondRunOnTheSameOutputIsRefused(t *testing.T) {
	t.Parallel()
	clock, srv, e := minuteTasks(t)
	in, out := t.TempDir(), t.TempDir()
	writeImages(t, in, "a.png", "b.png", "c.png")
	args := []string{"-in", in, "-prompt", prompt, "-out", out}

	// Run 1 waits for its three tasks.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan ran, 1)
	go func() { done <- batchRun(ctx, e, args...) }()
	require.Eventually(t, func() bool { return len(withStatus(journalRecords(t, out), statusSubmitted)) == 3 }, 10*time.Second, 5*time.Millisecond)

	// Run 2 on the same -out does nothing at all.
	o := batchRun(context.Background(), e, append(args, "-max-wait", "50ms")...)
	assert.Equal(t, exitFailure, o.code)
	assert.Contains(t, o.errMsg(), filepath.Join(out, journalName))
	assert.Contains(t, o.errMsg(), "another run on the same -out")
	assert.Empty(t, o.stdout)
	assert.Equal(t, 3, requestsTo(srv, "POST", "/generation"))
	cancel()
	assert.Equal(t, exitFailure, (<-done).code)

	// Two runs started at once on a new -out: three tasks, not six.
	clock.step.Store(int64(time.Minute))
	out2 := t.TempDir()
	results := make(chan ran, 2)
	for range 2 {
		go func() { results <- batchRun(context.Background(), e, "-in", in, "-prompt", prompt, "-out", out2) }()
	}
	for range 2 {
		if o := <-results; o.code != exitOK {
			assert.Contains(t, o.errMsg(), "another run on the same -out")
		}
	}
	assert.Equal(t, 6, srv.SubmitCount(), "3 tasks in the first part, 3 in the second")
}

func TestBatchFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-prompt", "p"}, "need -in and -prompt, or -manifest (or -resume)"},
		{[]string{"-in", dir}, "need -in and -prompt, or -manifest (or -resume)"},
		{[]string{"-in", dir, "-prompt", "p", "-out", dir}, "-out must differ from -in"},
		{[]string{"-in", dir, "-prompt", "p", "-concurrency", "0"}, "-concurrency must be at least 1"},
		{[]string{"-in", dir, "-prompt", "p", "-poll", "-1s"}, "-poll must not be negative"},
		{[]string{"-in", dir, "-prompt", "p", "extra"}, `unexpected argument "extra"`},
	} {
		o := runCLI(context.Background(), env{}, append([]string{"batch"}, tc.args...)...)
		assert.Equal(t, exitUsage, o.code, tc.args)
		assert.Contains(t, o.errMsg(), tc.want, tc.args)
	}
	o := batchRun(context.Background(), env{}, "-in", dir, "-prompt", "p", "-out", filepath.Join(dir, "out"))
	assert.Equal(t, exitUsage, o.code, "found before anything is sent")
	assert.Contains(t, o.errMsg(), "no images")
	assert.NoDirExists(t, filepath.Join(dir, "out"), "nothing created for a folder without images")
}

func TestOutputStems(t *testing.T) {
	t.Parallel()
	assert.Equal(t, map[string]string{
		"a.jpg": "a_jpg", "A.png": "A_png", "b.png": "b", "c.d.tif": "c.d",
	}, outputStems([]string{"a.jpg", "A.png", "b.png", "c.d.tif"}))
}

func TestBatchProgressOnATerminal(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	p := newBatchProgress(&buf, true, 4)
	p.started()
	p.logf("a.png: submitted as task 1") // not shown on a terminal
	p.ended(edited, "a.png: saved as a.png")
	p.skipped("b.png: already saved")
	p.started()
	p.ended(failed, "c.png: FAILED")
	p.close()

	out := buf.String()
	assert.NotContains(t, out, "submitted", "routine events stay off the terminal")
	assert.NotContains(t, out, "saved as", "routine events stay off the terminal")
	assert.Contains(t, out, "\r\033[Kc.png: FAILED\n", "a failure is printed above the bar")
	assert.True(t, strings.HasSuffix(out, "\r[######################........] 3/4  1 failed  0 running  0s\033[K\n"), "%q", out)
}

func TestBatchProgressInALog(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	p := newBatchProgress(&buf, false, 12)
	p.started()
	p.logf("a.png: submitted")
	p.ended(edited, "a.png: saved")
	p.close()
	assert.Equal(t, "[ 0/12] a.png: submitted\n[ 1/12] a.png: saved\n", buf.String())
}

func TestBar(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "[..............................] 0/3  0 failed  2 running  1m5s", bar(0, 0, 2, 3, 65*time.Second+400*time.Millisecond))
	assert.Equal(t, "[##############################] 3/3  1 failed  0 running  0s", bar(3, 1, 0, 3, 0))
	assert.Equal(t, "[###############...............]  5/10  0 failed  0 running  0s", bar(5, 0, 0, 10, 0))
}

// TestBatchAKeyCheckThatTimesOutStopsTheBatch: a key check whose attempt
// timed out (its error wraps context.DeadlineExceeded) while the batch
// was not stopped is no Ctrl-C: it stops the batch, instead of letting
// every job fail on its own with the same cached error.
func TestBatchAKeyCheckThatTimesOutStopsTheBatch(t *testing.T) {
	t.Parallel()
	hang := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(hang.Close)
	client, err := qwenedit.NewClient(qwenedit.WithAPIKey("test-key"), qwenedit.WithBaseURL(hang.URL),
		qwenedit.WithAttemptTimeout(20*time.Millisecond), qwenedit.WithMaxRetries(0))
	require.NoError(t, err)
	b := &batch{client: client, server: hang.URL, src: &source{},
		x: &explainer{base: hang.URL, model: qwenedit.DefaultModel}, prog: newBatchProgress(io.Discard, false, 1)}
	defer b.prog.close()

	out, err := b.checkKeyBefore(context.Background(), job{file: "a.png"})
	require.ErrorIs(t, err, qwenedit.ErrAttemptTimeout, "the batch stops")
	assert.Equal(t, resumable, out.state, "nothing was submitted: the next run does it")
}
