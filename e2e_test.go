package qwenedit_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
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
	"github.com/seed-b62e15c8/qwenedit/internal/imagetest"
	"github.com/seed-b62e15c8/qwenedit/qwenedittest"
)

// fakeClient starts a fake server and a client for it that never sleeps for real.
func fakeClient(t *testing.T, srvOpts ...qwenedittest.Option) (*qwenedit.Client, *qwenedittest.Server, *qwenedit.FakeClock) {
	t.Helper()
	clk := qwenedit.NewFakeClock()
	srv := qwenedittest.NewServer(append([]qwenedittest.Option{qwenedittest.WithClock(clk.Now)}, srvOpts...)...)
	t.Cleanup(srv.Close)
	c, err := qwenedit.NewClient(
		qwenedit.WithAPIKey(srv.APIKey()),
		qwenedit.WithBaseURL(srv.URL()),
		qwenedit.WithClock(clk),
	)
	require.NoError(t, err)
	return c, srv, clk
}

func samplePNG(t *testing.T) []byte {
	data, err := os.ReadFile(filepath.Join("testdata", "sample.png"))
	require.NoError(t, err)
	return data
}

func TestEndToEndEditBothVocabularies(t *testing.T) {
	for vocab, opts := range map[string][]qwenedittest.Option{"pending": nil, "queued": {qwenedittest.WithQueuedVocabulary()}} {
		t.Run(vocab, func(t *testing.T) {
			c, srv, _ := fakeClient(t, append(opts, qwenedittest.WithTaskDuration(20*time.Second))...)
			var statuses []qwenedit.TaskStatus
			var submitted string
			task, err := c.Edit(context.Background(), &qwenedit.EditRequest{
				Images: []qwenedit.Image{qwenedit.ImageFile(filepath.Join("testdata", "sample.png"))},
				Prompt: "Turn the sky purple",
				Size:   qwenedit.Size{Width: 768, Height: 512},
				N:      2,
			},
				qwenedit.WithOnSubmitted(func(ti *qwenedit.TaskInfo) { submitted = ti.ID }),
				qwenedit.WithOnPoll(func(t *qwenedit.Task) { statuses = append(statuses, t.Status) }),
			)
			require.NoError(t, err)
			assert.Equal(t, submitted, task.ID)
			assert.True(t, task.Status.IsSuccess())
			require.Len(t, task.Images, 2)
			require.NotEmpty(t, statuses)
			assert.Equal(t, task.Status, statuses[len(statuses)-1])
			assert.Equal(t, 1, srv.SubmitCount())

			paths, err := c.SaveImages(context.Background(), task, t.TempDir())
			require.NoError(t, err)
			require.Len(t, paths, 2)
			f, err := os.Open(paths[0])
			require.NoError(t, err)
			defer f.Close()
			cfg, err := png.DecodeConfig(f)
			require.NoError(t, err)
			assert.Equal(t, image.Config{Width: 768, Height: 512, ColorModel: cfg.ColorModel}, cfg)

			for _, r := range srv.Requests() {
				if r.Origin == "results" {
					assert.Empty(t, r.Header.Get("Authorization"), "no key on the results origin")
				}
			}
		})
	}
}

func TestEndToEndWireFormat(t *testing.T) {
	c, srv, _ := fakeClient(t)
	img := samplePNG(t)
	_, err := c.Submit(context.Background(), &qwenedit.EditRequest{
		Images:       []qwenedit.Image{qwenedit.ImageBytes(img), qwenedit.ImageURL("https://example.com/b.png")},
		Prompt:       "Put Image 1 into Image 2",
		Seed:         qwenedit.Ptr(0),
		PromptExtend: qwenedit.Ptr(false),
	})
	require.NoError(t, err)
	reqs := srv.Requests()
	require.Len(t, reqs, 1)
	r := reqs[0]
	assert.Equal(t, "POST", r.Method)
	assert.Equal(t, "/vendors/alibaba/v1/qwen-image-edit-max/generation", r.Path)
	assert.Equal(t, "Bearer "+srv.APIKey(), r.Header.Get("Authorization"))
	assert.True(t, strings.HasPrefix(r.Header.Get("User-Agent"), "qwenedit-go/"))
	var body map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &body))
	images := body["images"].([]any)
	assert.True(t, strings.HasPrefix(images[0].(string), "data:image/png;base64,"))
	assert.Equal(t, "https://example.com/b.png", images[1])
	assert.Equal(t, float64(0), body["seed"])
	assert.Equal(t, false, body["prompt_extend"])
	assert.NotContains(t, body, "n")
	assert.NotContains(t, body, "size")
}

func TestEndToEndFailedTask(t *testing.T) {
	for _, field := range []string{"code", "error_code"} {
		c, srv, _ := fakeClient(t, qwenedittest.WithErrorCodeField(field))
		srv.FailNextTask(3001, "Invalid Request", "The prompt contains prohibited content")
		_, err := c.Edit(context.Background(), &qwenedit.EditRequest{
			Images: []qwenedit.Image{qwenedit.ImageBytes(samplePNG(t))},
			Prompt: "something forbidden",
		})
		var failed *qwenedit.TaskFailedError
		require.ErrorAs(t, err, &failed, field)
		assert.Equal(t, 3001, failed.Code)
		assert.Equal(t, "Invalid Request", failed.Title)
		assert.Equal(t, "The prompt contains prohibited content", failed.Detail)
	}
}

func TestEndToEndErrors(t *testing.T) {
	c, srv, _ := fakeClient(t)
	bad, err := qwenedit.NewClient(qwenedit.WithAPIKey("wrong"), qwenedit.WithBaseURL(srv.URL()))
	require.NoError(t, err)
	_, err = bad.Get(context.Background(), "whatever")
	assert.ErrorIs(t, err, qwenedit.ErrUnauthorized)

	_, err = c.Get(context.Background(), "no-such-task")
	assert.ErrorIs(t, err, qwenedit.ErrNotFound)
	var apiErr *qwenedit.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 2005, apiErr.Code)
	assert.NotEmpty(t, apiErr.TraceParent)

	srv.InjectFault(qwenedittest.Fault{Method: "POST", Kind: qwenedittest.FaultStatus, Status: 429, RetryAfter: "1", Times: 2})
	info, err := c.Submit(context.Background(), &qwenedit.EditRequest{Images: []qwenedit.Image{qwenedit.ImageBytes(samplePNG(t))}, Prompt: "p"})
	require.NoError(t, err)
	assert.NotEmpty(t, info.ID)
	assert.Equal(t, 1, srv.SubmitCount(), "429s are retried and create no task")

	srv.InjectFault(qwenedittest.Fault{Method: "POST", Kind: qwenedittest.FaultStatus, Status: 500})
	_, err = c.Submit(context.Background(), &qwenedit.EditRequest{Images: []qwenedit.Image{qwenedit.ImageBytes(samplePNG(t))}, Prompt: "p"})
	var amb *qwenedit.AmbiguousSubmitError
	assert.True(t, errors.As(err, &amb))
}

func TestEndToEndResume(t *testing.T) {
	c, srv, _ := fakeClient(t, qwenedittest.WithTaskDuration(time.Hour))
	info, err := c.Submit(context.Background(), &qwenedit.EditRequest{Images: []qwenedit.Image{qwenedit.ImageBytes(samplePNG(t))}, Prompt: "p"})
	require.NoError(t, err)
	_, err = c.WaitForResult(context.Background(), info.ID, qwenedit.WithMaxWait(time.Minute))
	var timeout *qwenedit.WaitTimeoutError
	require.ErrorAs(t, err, &timeout)
	assert.Equal(t, info.ID, timeout.TaskID)

	require.NoError(t, srv.SetTaskStatus(info.ID, "completed"))
	task, err := c.WaitForResult(context.Background(), timeout.TaskID)
	require.NoError(t, err)
	assert.NotEmpty(t, task.Images)

	srv.ExpireResults()
	_, err = c.Download(context.Background(), task.Images[0], &bytes.Buffer{})
	assert.ErrorIs(t, err, qwenedit.ErrResultExpired)
}

// TestUsersTestsAreFast: a user's test of code that calls Edit with no
// poll options, against qwenedittest.NewServer() and a client made with
// only WithBaseURL and WithAPIKey, waits for nothing: the fake's tasks are
// done when created and Edit polls at once. The deadline is a guard far
// below the 3 s the first poll would otherwise wait, not a measurement
// (BenchmarkUserEditAgainstTheFake measures).
func TestUsersTestsAreFast(t *testing.T) {
	srv := qwenedittest.NewServer()
	defer srv.Close()
	client, err := qwenedit.NewClient(qwenedit.WithBaseURL(srv.URL()), qwenedit.WithAPIKey(srv.APIKey()))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for range 5 {
		task, err := client.Edit(ctx, &qwenedit.EditRequest{Images: []qwenedit.Image{qwenedit.ImageBytes(samplePNG(t))}, Prompt: "Turn the sky purple"})
		require.NoError(t, err)
		assert.Len(t, task.Images, 1)
	}
	posts, gets := apiRequestCounts(srv)
	assert.Equal(t, 5, posts)
	assert.Equal(t, 5, gets, "one GET per Edit: no poll was wasted")

	srv.FailNextTask(3001, "Invalid Request", "")
	_, err = client.Edit(ctx, &qwenedit.EditRequest{Images: []qwenedit.Image{qwenedit.ImageBytes(samplePNG(t))}, Prompt: "Turn the sky purple"})
	var failed *qwenedit.TaskFailedError
	require.ErrorAs(t, err, &failed, "a failed task is reported by the submit answer itself")
	assert.NotEmpty(t, failed.Detail, "the fake's failures always have a detail, as the official CLI prints detail")
}

// BenchmarkUserEditAgainstTheFake is one Edit of a user's test: the
// default fake, a client with only WithBaseURL and WithAPIKey, no poll
// options, over HTTP/1.1 and HTTPS + HTTP/2.
func BenchmarkUserEditAgainstTheFake(b *testing.B) {
	img, err := os.ReadFile(filepath.Join("testdata", "sample.png"))
	require.NoError(b, err)
	for _, tls := range []bool{false, true} {
		name := "proto=http1"
		var opts []qwenedittest.Option
		if tls {
			name, opts = "proto=h2", []qwenedittest.Option{qwenedittest.WithTLS()}
		}
		b.Run(name, func(b *testing.B) {
			srv := qwenedittest.NewServer(opts...)
			defer srv.Close()
			client, err := qwenedit.NewClient(qwenedit.WithBaseURL(srv.URL()), qwenedit.WithAPIKey(srv.APIKey()), qwenedit.WithHTTPClient(srv.Client()))
			require.NoError(b, err)
			req := &qwenedit.EditRequest{Images: []qwenedit.Image{qwenedit.ImageBytes(img)}, Prompt: "Turn the sky purple"}
			for b.Loop() {
				if _, err := client.Edit(context.Background(), req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestEndToEndUppercaseIDs: the real API's examples show uppercase task
// IDs. IDs are opaque: the SDK sends them back exactly as it got them.
func TestEndToEndUppercaseIDs(t *testing.T) {
	c, srv, _ := fakeClient(t, qwenedittest.WithUppercaseIDs())
	task, err := c.Edit(context.Background(), &qwenedit.EditRequest{Images: []qwenedit.Image{qwenedit.ImageBytes(samplePNG(t))}, Prompt: "p"})
	require.NoError(t, err)
	assert.Equal(t, strings.ToUpper(task.ID), task.ID)
	assert.Equal(t, srv.Tasks()[0].ID, task.ID)
	got, err := c.Get(context.Background(), task.ID)
	require.NoError(t, err)
	assert.Equal(t, task.ID, got.ID)
	_, err = c.Get(context.Background(), strings.ToLower(task.ID))
	assert.ErrorIs(t, err, qwenedit.ErrNotFound, "another case is another task")
}

// TestEndToEndLargeBodyArrivesIntact: a body of several MiB, streamed,
// reaches the server byte for byte, over HTTP/1.1 and over HTTPS with
// HTTP/2, from memory and from files.
func TestEndToEndLargeBodyArrivesIntact(t *testing.T) {
	var imgs [][]byte
	dir := t.TempDir()
	var files []qwenedit.Image
	for i := range 3 {
		img, err := imagetest.NoisePNG(400+i, 400, uint64(i+1)) // about 480 KB each, distinct: a 1.9 MiB body
		require.NoError(t, err)
		imgs = append(imgs, img)
		path := filepath.Join(dir, fmt.Sprintf("%d.png", i))
		require.NoError(t, os.WriteFile(path, img, 0o600))
		files = append(files, qwenedit.ImageFile(path))
	}
	inMemory := []qwenedit.Image{qwenedit.ImageBytes(imgs[0]), qwenedit.ImageBytes(imgs[1]), qwenedit.ImageBytes(imgs[2])}
	for _, tr := range faultTransports {
		for name, images := range map[string][]qwenedit.Image{"bytes": inMemory, "files": files} {
			t.Run(tr.name+"/"+name, func(t *testing.T) {
				srv := qwenedittest.NewServer(tr.opts...)
				t.Cleanup(srv.Close)
				opts := append([]qwenedit.Option{qwenedit.WithAPIKey(srv.APIKey()), qwenedit.WithBaseURL(srv.URL())}, faultHTTPClient(srv)...)
				c, err := qwenedit.NewClient(opts...)
				require.NoError(t, err)
				_, err = c.Submit(context.Background(), &qwenedit.EditRequest{Images: images, Prompt: "p"})
				require.NoError(t, err)
				reqs := srv.Requests()
				require.Len(t, reqs, 1)
				require.False(t, reqs[0].Truncated)
				var body struct{ Images []string }
				require.NoError(t, json.Unmarshal(reqs[0].Body, &body))
				require.Len(t, body.Images, 3)
				for i, img := range imgs {
					assert.True(t, body.Images[i] == "data:image/png;base64,"+base64.StdEncoding.EncodeToString(img), "image %d differs", i)
				}
			})
		}
	}
}
