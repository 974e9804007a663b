package consumer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/seed-b62e15c8/qwenedit"
	"github.com/seed-b62e15c8/qwenedit/qwenedittest"
)

// TestEditAgainstTheFake is the test a user writes first: their code edits
// an image through the public API against qwenedittest.
func TestEditAgainstTheFake(t *testing.T) {
	srv := qwenedittest.NewServer()
	defer srv.Close()
	client, err := qwenedit.NewClient(qwenedit.WithAPIKey(srv.APIKey()), qwenedit.WithBaseURL(srv.URL()))
	if err != nil {
		t.Fatal(err)
	}
	img, err := os.ReadFile(filepath.Join("..", "..", "testdata", "sample.png"))
	if err != nil {
		t.Fatal(err)
	}
	task, err := client.Edit(context.Background(), &qwenedit.EditRequest{
		Images: []qwenedit.Image{qwenedit.ImageBytes(img)},
		Prompt: "Turn the sky purple",
		N:      2,
	}, qwenedit.WithPollInterval(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if !task.Status.IsSuccess() || len(task.Images) != 2 {
		t.Fatalf("got status %q with %d images, want success with 2", task.Status, len(task.Images))
	}
	paths, err := client.SaveImages(context.Background(), task, t.TempDir())
	if err != nil || len(paths) != 2 {
		t.Fatalf("SaveImages: %v, %v", paths, err)
	}
	if got := srv.SubmitCount(); got != 1 {
		t.Fatalf("the fake saw %d submits, want 1", got)
	}
}

// TestErrorsMatchAsDocumented checks that the typed errors match their
// sentinels with errors.Is and are reachable with errors.As from outside.
func TestErrorsMatchAsDocumented(t *testing.T) {
	for _, err := range sentinels {
		if err == nil {
			t.Fatal("a sentinel is nil")
		}
	}
	var verr *qwenedit.ValidationError
	err := (&qwenedit.EditRequest{}).Validate()
	if !errors.As(err, &verr) || !errors.Is(err, qwenedit.ErrInvalidRequest) || len(verr.Problems) < 2 {
		t.Fatalf("Validate of an empty request: %v", err)
	}
	cases := map[int]error{401: qwenedit.ErrUnauthorized, 402: qwenedit.ErrPaymentRequired,
		403: qwenedit.ErrForbidden, 404: qwenedit.ErrNotFound, 429: qwenedit.ErrRateLimited}
	for status, want := range cases {
		if err := error(&qwenedit.APIError{StatusCode: status}); !errors.Is(err, want) {
			t.Errorf("APIError %d is not %v", status, want)
		}
	}
	if err := error(&qwenedit.WaitTimeoutError{TaskID: "t"}); !errors.Is(err, qwenedit.ErrWaitTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitTimeoutError: %v", err)
	}
	if err := error(&qwenedit.TaskFailedError{TaskID: "t"}); !errors.Is(err, qwenedit.ErrTaskFailed) {
		t.Errorf("TaskFailedError: %v", err)
	}
}
