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
	"github.com/seed-b62e15c8/qwenedit/examples/internal/demo"
	"github.com/seed-b62e15c8/qwenedit/examples/internal/demotest"
	"github.com/seed-b62e15c8/qwenedit/qwenedittest"
)

const prompt = "Make it look like a watercolour"

func runBatch(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	var out, errb demotest.SyncBuffer
	err = run(ctx, append([]string{"-poll", "10ms"}, args...), &out, &errb)
	return out.String(), errb.String(), err
}

// picture is a distinct 384×384 test image: a gradient in a colour of its own.
func picture(i int) *image.NRGBA {
	const side = qwenedit.MinImageSide
	img := image.NewNRGBA(image.Rect(0, 0, side, side))
	for y := range side {
		for x := range side {
			img.SetNRGBA(x, y, color.NRGBA{uint8(x * 255 / side), uint8(40 * i), uint8(y * 255 / side), 255})
		}
	}
	return img
}

// writeImages writes picture(i) for each name, as JPEG or PNG by extension.
func writeImages(t *testing.T, dir string, names ...string) {
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

// decodeFile decodes an image file.
func decodeFile(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	img, _, err := image.Decode(f)
	require.NoError(t, err, path)
	return img
}

// assertEditOf checks that out is the fake's edit of in: a PNG whose
// pixels are qwenedittest.Transform of the input. It proves both that the
// result is a valid image and that it was saved under the right name.
func assertEditOf(t *testing.T, in, out string) {
	t.Helper()
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	got, err := png.Decode(bytes.NewReader(b))
	require.NoError(t, err, "%s is a PNG", out)
	src := decodeFile(t, in)
	want := qwenedittest.Transform(src, src.Bounds().Dx(), src.Bounds().Dy(), 0)
	require.Equal(t, want.Bounds(), got.Bounds(), out)
	if rgba, ok := got.(*image.RGBA); ok && bytes.Equal(rgba.Pix, want.Pix) {
		return // opaque: the same bytes in both layouts
	}
	for y := range want.Bounds().Dy() {
		for x := range want.Bounds().Dx() {
			wr, wg, wb, wa := want.At(x, y).RGBA()
			gr, gg, gb, ga := got.At(x, y).RGBA()
			if wr != gr || wg != gg || wb != gb || wa != ga {
				t.Fatalf("%s is not the edit of %s: pixel (%d,%d) differs", out, in, x, y)
			}
		}
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

func withStatus(recs []record, status string) []record {
	var out []record
	for _, r := range recs {
		if r.Status == status {
			out = append(out, r)
		}
	}
	return out
}

func TestEditsEveryImageInTheFolder(t *testing.T) {
	srv := demotest.FakeAPI(t, qwenedittest.WithTaskDuration(0))
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "edited")
	images := []string{"a.png", "b.jpg", "c.PNG", "d.png", "e.jpeg"}
	writeImages(t, in, append(images, ".hidden.png")...) // all different
	require.NoError(t, os.WriteFile(filepath.Join(in, "notes.txt"), []byte("not an image"), 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(in, "sub"), 0o755))
	writeImages(t, filepath.Join(in, "sub"), "nested.png")

	stdout, stderr, err := runBatch(context.Background(), "-in", in, "-prompt", prompt, "-out", out, "-concurrency", "3")
	require.NoError(t, err, "stdout:\n%s\nstderr:\n%s", stdout, stderr)

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
		assertEditOf(t, filepath.Join(in, name), filepath.Join(out, strings.TrimSuffix(name, filepath.Ext(name))+".png"))
	}
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.Equal(t, []string{"a.png", "b.png", "batch.jsonl", "c.png", "d.png", "e.png"}, names, "no staging folder or part files left")

	// The journal has, for every file, its task submitted and then saved.
	recs := journalRecords(t, out)
	require.Len(t, recs, 2*len(images))
	for _, name := range images {
		var mine []record
		for _, r := range recs {
			if r.File == name {
				mine = append(mine, r)
			}
		}
		require.Len(t, mine, 2, name)
		assert.Equal(t, statusSubmitted, mine[0].Status)
		assert.Equal(t, statusSaved, mine[1].Status)
		assert.NotEmpty(t, mine[0].TaskID)
		assert.Equal(t, mine[0].TaskID, mine[1].TaskID)
		assert.Equal(t, []string{strings.TrimSuffix(name, filepath.Ext(name)) + ".png"}, mine[1].Outputs)
		assert.Equal(t, srv.URL(), mine[0].Server)
		assert.Equal(t, prompt, mine[0].Prompt)
	}

	assert.Contains(t, stdout, "5 images: 5 edited, 0 already saved, 0 failed, 0 to resume")
	assert.NotContains(t, stderr, "\r", "not a terminal: plain lines, no bar")
	assert.Contains(t, stderr, "a.png: submitted as task ")
	assert.Contains(t, stderr, "] b.jpg: saved as b.png")
	assert.Contains(t, stderr, "[5/5] ")
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

func TestInterruptedBatchResumesWithoutPayingTwice(t *testing.T) {
	clock := &steppedClock{base: time.Now()}
	srv := demotest.FakeAPI(t, qwenedittest.WithTaskDuration(time.Minute), qwenedittest.WithClock(clock.Now))
	in, out := t.TempDir(), t.TempDir()
	images := []string{"a.png", "b.png", "c.png", "d.png", "e.png"}
	writeImages(t, in, images...)
	args := []string{"-in", in, "-prompt", prompt, "-out", out, "-concurrency", "2"}

	// Run 1: the tasks never finish; interrupt it once two are submitted.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		stdout, stderr string
		err            error
	}
	done := make(chan result, 1)
	go func() {
		o, e, err := runBatch(ctx, args...)
		done <- result{o, e, err}
	}()
	require.Eventually(t, func() bool { return len(journalRecords(t, out)) == 2 }, 10*time.Second, 5*time.Millisecond,
		"each task ID is journaled while its wait is still going on")
	time.Sleep(150 * time.Millisecond)
	select {
	case r := <-done:
		t.Fatalf("run ended before the interrupt: %v\n%s", r.err, r.stderr)
	default:
	}
	assert.Equal(t, 2, srv.SubmitCount(), "-concurrency 2: no third submit while two tasks run")
	cancel()
	r1 := <-done
	require.Error(t, r1.err)
	assert.Contains(t, r1.err.Error(), "interrupted with 5 of 5 images not done: run the same command again to resume")
	assert.Contains(t, r1.stdout, "5 images: 0 edited, 0 already saved, 0 failed, 5 to resume")
	assert.Contains(t, r1.stdout, "still running on the server: the next run waits for it, without a new task")
	first := withStatus(journalRecords(t, out), statusSubmitted)
	require.Len(t, first, 2)
	assert.ElementsMatch(t, sentFiles(t, srv, in), []string{first[0].File, first[1].File}, "the journal names the files that were sent")
	for _, img := range images {
		assert.NoFileExists(t, filepath.Join(out, img))
	}

	// Run 2: the server's tasks can now finish. The two journaled tasks are
	// waited for, not submitted again; the other three are submitted.
	clock.step.Store(int64(time.Minute))
	getsBefore := map[string]int{}
	for _, r := range first {
		getsBefore[r.TaskID] = demotest.RequestsTo(srv, "GET", "/generation/"+r.TaskID)
	}
	stdout, stderr, err := runBatch(context.Background(), args...)
	require.NoError(t, err, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	assert.Equal(t, 5, srv.SubmitCount(), "three new tasks, none for the journaled files")
	assert.Equal(t, 5, demotest.RequestsTo(srv, "POST", "/generation"))
	sent := sentFiles(t, srv, in)
	assert.ElementsMatch(t, images, sent, "each file was submitted exactly once over both runs")
	for _, r := range first {
		assert.Contains(t, stderr, r.File+": resuming task "+r.TaskID+" from an earlier run (not submitted again)")
		assert.Greater(t, demotest.RequestsTo(srv, "GET", "/generation/"+r.TaskID), getsBefore[r.TaskID], "WaitForResult polled %s", r.TaskID)
	}
	assert.Contains(t, stdout, "5 images: 5 edited, 0 already saved, 0 failed, 0 to resume")
	for _, img := range images {
		assertEditOf(t, filepath.Join(in, img), filepath.Join(out, img))
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
	stdout, stderr, err = runBatch(context.Background(), args...)
	require.NoError(t, err, stderr)
	assert.Equal(t, 5, srv.SubmitCount())
	assert.Contains(t, stdout, "5 images: 1 edited, 4 already saved, 0 failed, 0 to resume")
	assert.Contains(t, stderr, "a.png: already saved as a.png")
	assert.Contains(t, stderr, "c.png: resuming task ")
	assertEditOf(t, filepath.Join(in, "c.png"), filepath.Join(out, "c.png"))

	// Run 4: nothing to do, nothing sent.
	before := srv.RequestCount()
	stdout, _, err = runBatch(context.Background(), args...)
	require.NoError(t, err)
	assert.Contains(t, stdout, "5 images: 0 edited, 5 already saved, 0 failed, 0 to resume")
	assert.Equal(t, before, srv.RequestCount(), "no request at all")
}

func TestResumesATaskFromAJournalWrittenBeforehand(t *testing.T) {
	srv := demotest.FakeAPI(t, qwenedittest.WithTaskDuration(0))
	in, out := t.TempDir(), t.TempDir()
	writeImages(t, in, "a.png", "b.png")

	// A task for a.png created outside the program, and journaled as the
	// program does; then a line cut short by a crash.
	client, err := qwenedit.NewClient(qwenedit.WithAPIKey(srv.APIKey()), qwenedit.WithBaseURL(srv.URL()))
	require.NoError(t, err)
	info, err := client.Submit(context.Background(), &qwenedit.EditRequest{
		Images: []qwenedit.Image{qwenedit.ImageFile(filepath.Join(in, "a.png"))},
		Prompt: prompt,
	})
	require.NoError(t, err)
	journal := fmt.Sprintf(`{"file":"a.png","task_id":%q,"status":"submitted","prompt":%q,"server":%q}`+"\n"+`{"file":"b.png","task_`,
		info.ID, prompt, srv.URL())
	require.NoError(t, os.WriteFile(filepath.Join(out, journalName), []byte(journal), 0o644))

	stdout, stderr, err := runBatch(context.Background(), "-in", in, "-prompt", prompt, "-out", out)
	require.NoError(t, err, "stdout:\n%s\nstderr:\n%s", stdout, stderr)

	assert.Equal(t, 2, srv.SubmitCount(), "one task from the test, one for b.png")
	assert.Equal(t, []string{"a.png", "b.png"}, sentFiles(t, srv, in), "a.png was not sent again")
	assert.Equal(t, 1, demotest.RequestsTo(srv, "GET", "/generation/"+info.ID), "WaitForResult polled the journaled task")
	assert.Contains(t, stderr, "a.png: resuming task "+info.ID)
	assert.Contains(t, stderr, "ignored 1 line(s)", "the cut line")
	assertEditOf(t, filepath.Join(in, "a.png"), filepath.Join(out, "a.png"))
	assertEditOf(t, filepath.Join(in, "b.png"), filepath.Join(out, "b.png"))

	// The cut line was ended, so every record written after it is whole.
	data, err := os.ReadFile(filepath.Join(out, journalName))
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	require.Len(t, lines, 2+3, "2 old lines, then a saved, b submitted, b saved")
	for _, l := range lines[2:] {
		var r record
		assert.NoError(t, json.Unmarshal([]byte(l), &r), l)
	}
	last, _, err := readJournal(filepath.Join(out, journalName), srv.URL())
	require.NoError(t, err)
	assert.Equal(t, record{File: "a.png", TaskID: info.ID, Status: statusSaved, Outputs: []string{"a.png"}, Prompt: prompt, Server: srv.URL(), Time: last["a.png"].Time}, last["a.png"])
}

func TestAFailedTaskDoesNotStopTheOthers(t *testing.T) {
	srv := demotest.FakeAPI(t, qwenedittest.WithTaskDuration(0))
	srv.FailNextTask(1301, "InvalidParameter", "the watercolour filter broke")
	in, out := t.TempDir(), t.TempDir()
	images := []string{"a.png", "b.png", "c.png", "d.png"}
	writeImages(t, in, images...)
	args := []string{"-in", in, "-prompt", prompt, "-out", out, "-concurrency", "2"}

	stdout, stderr, err := runBatch(context.Background(), args...)
	require.Error(t, err)
	assert.Equal(t, "1 of 4 images not done", err.Error())
	require.Equal(t, 4, srv.SubmitCount(), "the others went on")
	bad := sentFiles(t, srv, in)[0] // the first task created is the one that fails
	for _, img := range images {
		if img == bad {
			assert.NoFileExists(t, filepath.Join(out, img))
		} else {
			assertEditOf(t, filepath.Join(in, img), filepath.Join(out, img))
		}
	}
	assert.Contains(t, stdout, "4 images: 3 edited, 0 already saved, 1 failed, 0 to resume")
	assert.Contains(t, stdout, "  "+bad+": qwenedit: task "+srv.Tasks()[0].ID+" failed (code 1301)")
	assert.Contains(t, stdout, "InvalidParameter")
	assert.Contains(t, stdout, "the watercolour filter broke")
	assert.Contains(t, stdout, "the next run submits it again")
	assert.Contains(t, stderr, "] "+bad+": qwenedit: task "+srv.Tasks()[0].ID+" failed")
	failedRecs := withStatus(journalRecords(t, out), statusFailed)
	require.Len(t, failedRecs, 1)
	assert.Equal(t, bad, failedRecs[0].File)
	assert.Contains(t, failedRecs[0].Error, "the watercolour filter broke")

	// The next run submits the failed image again, and only that one.
	stdout, _, err = runBatch(context.Background(), args...)
	require.NoError(t, err)
	assert.Equal(t, 5, srv.SubmitCount())
	assert.Equal(t, bad, sentFiles(t, srv, in)[4])
	assert.Contains(t, stdout, "4 images: 1 edited, 3 already saved, 0 failed, 0 to resume")
	assertEditOf(t, filepath.Join(in, bad), filepath.Join(out, bad))
}

func TestAnInvalidImageIsReportedWithoutASubmit(t *testing.T) {
	srv := demotest.FakeAPI(t, qwenedittest.WithTaskDuration(0))
	in, out := t.TempDir(), t.TempDir()
	writeImages(t, in, "good.png")
	var small bytes.Buffer
	require.NoError(t, png.Encode(&small, image.NewNRGBA(image.Rect(0, 0, 100, 100))))
	require.NoError(t, os.WriteFile(filepath.Join(in, "small.png"), small.Bytes(), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(in, "fake.jpg"), []byte("this is text"), 0o644))

	stdout, _, err := runBatch(context.Background(), "-in", in, "-prompt", prompt, "-out", out)
	require.Error(t, err)
	assert.Equal(t, "2 of 3 images not done", err.Error())
	assert.Equal(t, 1, srv.SubmitCount())
	assert.Equal(t, 1, demotest.RequestsTo(srv, "POST", "/generation"), "nothing sent for the bad files")
	assertEditOf(t, filepath.Join(in, "good.png"), filepath.Join(out, "good.png"))
	assert.Contains(t, stdout, "3 images: 1 edited, 0 already saved, 2 failed, 0 to resume")
	assert.Contains(t, stdout, "  small.png: submit: ")
	assert.Contains(t, stdout, "384")
	assert.Contains(t, stdout, "  fake.jpg: submit: ")
	assert.Contains(t, stdout, "fix or remove the file")
	for _, r := range journalRecords(t, out) {
		assert.Equal(t, "good.png", r.File, "no task, no journal line")
	}
}

func TestAnUnknownSubmitOutcomeIsNotSubmittedAgain(t *testing.T) {
	srv := demotest.FakeAPI(t, qwenedittest.WithTaskDuration(0))
	// The task is created, but the answer is lost.
	srv.InjectFault(qwenedittest.Fault{Method: "POST", Kind: qwenedittest.FaultStatus, Status: 502, AfterCreate: true})
	in, out := t.TempDir(), t.TempDir()
	writeImages(t, in, "a.png")
	args := []string{"-in", in, "-prompt", prompt, "-out", out}

	stdout, _, err := runBatch(context.Background(), args...)
	require.Error(t, err)
	assert.Equal(t, 1, srv.SubmitCount())
	assert.Contains(t, stdout, "a task may exist and be charged")
	recs := journalRecords(t, out)
	require.Len(t, recs, 1)
	assert.Equal(t, statusUnknown, recs[0].Status)

	// Run again: not submitted blindly.
	stdout, _, err = runBatch(context.Background(), args...)
	require.Error(t, err)
	assert.Equal(t, 1, demotest.RequestsTo(srv, "POST", "/generation"), "no new POST")
	assert.Contains(t, stdout, "rerun with -resubmit-unknown")

	// The user checked and asks for it.
	stdout, _, err = runBatch(context.Background(), append(args, "-resubmit-unknown")...)
	require.NoError(t, err, stdout)
	assert.Equal(t, 2, srv.SubmitCount())
	assertEditOf(t, filepath.Join(in, "a.png"), filepath.Join(out, "a.png"))
}

func TestABadKeyStopsTheBatch(t *testing.T) {
	srv := demotest.FakeAPI(t, qwenedittest.WithTaskDuration(0))
	t.Setenv("MULEROUTER_API_KEY", "not-the-key")
	in, out := t.TempDir(), t.TempDir()
	writeImages(t, in, "a.png", "b.png", "c.png", "d.png")

	stdout, _, err := runBatch(context.Background(), "-in", in, "-prompt", prompt, "-out", out, "-concurrency", "1")
	require.ErrorIs(t, err, qwenedit.ErrUnauthorized)
	assert.Contains(t, err.Error(), "stopped: ")
	assert.Equal(t, 1, demotest.RequestsTo(srv, "POST", "/generation"), "the first 401 stops the rest")
	assert.Zero(t, srv.SubmitCount())
	assert.Contains(t, stdout, "4 images: 0 edited, 0 already saved, 1 failed, 3 to resume")
}

func TestMaxWaitLeavesTheTaskToTheNextRun(t *testing.T) {
	srv := demotest.FakeAPI(t, qwenedittest.WithTaskDuration(time.Hour))
	in, out := t.TempDir(), t.TempDir()
	writeImages(t, in, "a.png")

	stdout, _, err := runBatch(context.Background(), "-in", in, "-prompt", prompt, "-out", out, "-max-wait", "50ms")
	require.Error(t, err)
	assert.Equal(t, "1 of 1 images not done", err.Error())
	assert.Contains(t, stdout, "1 images: 0 edited, 0 already saved, 0 failed, 1 to resume")
	assert.Contains(t, stdout, "a.png: task "+srv.Tasks()[0].ID)
	assert.Contains(t, stdout, "the next run waits for it, without a new task")
	recs := journalRecords(t, out)
	require.Len(t, recs, 1)
	assert.Equal(t, statusSubmitted, recs[0].Status)
}

func TestAnotherPromptInTheSameOutputIsRefused(t *testing.T) {
	srv := demotest.FakeAPI(t, qwenedittest.WithTaskDuration(0))
	in, out := t.TempDir(), t.TempDir()
	writeImages(t, in, "a.png")
	_, _, err := runBatch(context.Background(), "-in", in, "-prompt", prompt, "-out", out)
	require.NoError(t, err)

	_, _, err = runBatch(context.Background(), "-in", in, "-prompt", "Make it a pencil drawing", "-out", out)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "another prompt")
	assert.Equal(t, 1, srv.SubmitCount())
}

func TestWithoutKeyUsesTheBuiltInFake(t *testing.T) {
	t.Setenv("MULEROUTER_API_KEY", "")
	in, out := t.TempDir(), t.TempDir()
	writeImages(t, in, "a.png", "b.jpg")
	args := []string{"-in", in, "-prompt", prompt, "-out", out, "-fake-duration", "20ms"}

	stdout, stderr, err := runBatch(context.Background(), args...)
	require.NoError(t, err, stderr)
	assert.Contains(t, stderr, "No MULEROUTER_API_KEY set (or -fake given): using the built-in fake server at http://127.0.0.1:")
	assert.Contains(t, stdout, "2 images: 2 edited")
	assertEditOf(t, filepath.Join(in, "a.png"), filepath.Join(out, "a.png"))
	assertEditOf(t, filepath.Join(in, "b.jpg"), filepath.Join(out, "b.png"))

	// The fake died with the first run, so its journal lines mean nothing to
	// the next one (another port): the images are edited again.
	stdout, stderr, err = runBatch(context.Background(), args...)
	require.NoError(t, err, stderr)
	assert.Contains(t, stderr, "ignored 4 line(s) from another server")
	assert.Contains(t, stdout, "2 images: 2 edited")
}

func TestFlags(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-prompt", "p"}, "need -in and -prompt"},
		{[]string{"-in", dir}, "need -in and -prompt"},
		{[]string{"-in", dir, "-prompt", "p", "-out", dir}, "-out must differ from -in"},
		{[]string{"-in", dir, "-prompt", "p", "-concurrency", "0"}, "-concurrency must be at least 1"},
		{[]string{"-in", dir, "-prompt", "p", "-poll", "0s"}, "-poll must be positive"},
		{[]string{"-in", dir, "-prompt", "p", "extra"}, "unexpected arguments"},
	} {
		var stderr bytes.Buffer
		_, err := parseFlags(tc.args, &stderr)
		require.ErrorAs(t, err, new(demo.UsageError), tc.args)
		assert.Contains(t, err.Error(), tc.want)
		assert.Contains(t, stderr.String(), "Usage: batch")
	}
	o, err := parseFlags([]string{"-in", dir, "-prompt", "p"}, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, 4, o.concurrency)
	assert.Equal(t, "edited", o.out)

	_, _, err = runBatch(context.Background(), "-in", dir, "-prompt", "p", "-out", filepath.Join(dir, "out"))
	assert.ErrorContains(t, err, "no images")
}

func TestOutputStems(t *testing.T) {
	assert.Equal(t, map[string]string{
		"a.jpg": "a_jpg", "A.png": "A_png", "b.png": "b", "c.d.tif": "c.d",
	}, outputStems([]string{"a.jpg", "A.png", "b.png", "c.d.tif"}))
}

func TestProgressOnATerminal(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, true, 4)
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

func TestProgressInALog(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, false, 12)
	p.started()
	p.logf("a.png: submitted")
	p.ended(edited, "a.png: saved")
	p.close()
	assert.Equal(t, "[ 0/12] a.png: submitted\n[ 1/12] a.png: saved\n", buf.String())
}

func TestBar(t *testing.T) {
	assert.Equal(t, "[..............................] 0/3  0 failed  2 running  1m5s", bar(0, 0, 2, 3, 65*time.Second+400*time.Millisecond))
	assert.Equal(t, "[##############################] 3/3  1 failed  0 running  0s", bar(3, 1, 0, 3, 0))
	assert.Equal(t, "[###############...............]  5/10  0 failed  0 running  0s", bar(5, 0, 0, 10, 0))
}
