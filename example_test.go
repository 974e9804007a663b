package qwenedit_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/seed-b62e15c8/qwenedit"
	"github.com/seed-b62e15c8/qwenedit/qwenedittest"
)

// In real code NewClient() alone reads MULEROUTER_API_KEY and talks to
// https://api.mulerouter.ai; here the options point it at a fake server.
func ExampleNewClient() {
	srv := qwenedittest.NewServer()
	defer srv.Close()

	client, err := qwenedit.NewClient(
		qwenedit.WithAPIKey(srv.APIKey()),
		qwenedit.WithBaseURL(srv.URL()),
		qwenedit.WithUserAgent("my-app/1.0"),
		qwenedit.WithMaxRetries(5),
	)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(client != nil)

	_, err = qwenedit.NewClient(qwenedit.WithAPIKey(""))
	fmt.Println(errors.Is(err, qwenedit.ErrNoAPIKey))
	// Output:
	// true
	// true
}

func ExampleClient_Edit() {
	srv := qwenedittest.NewServer()
	defer srv.Close()
	client, err := qwenedit.NewClient(qwenedit.WithAPIKey(srv.APIKey()), qwenedit.WithBaseURL(srv.URL()))
	if err != nil {
		log.Fatal(err)
	}

	task, err := client.Edit(context.Background(), &qwenedit.EditRequest{
		Images: []qwenedit.Image{qwenedit.ImageFile("testdata/sample.png")},
		Prompt: "Turn the sky purple",
		Size:   qwenedit.Size{Width: 1024, Height: 768},
		Seed:   qwenedit.Ptr(42),
	}, qwenedit.WithPollInterval(10*time.Millisecond))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(task.Status, len(task.Images), "result URL(s), valid for 24 hours")
	// Output: completed 1 result URL(s), valid for 24 hours
}

func ExampleClient_WaitForResult() {
	srv := qwenedittest.NewServer(qwenedittest.WithTaskDuration(50 * time.Millisecond))
	defer srv.Close()
	client, err := qwenedit.NewClient(qwenedit.WithAPIKey(srv.APIKey()), qwenedit.WithBaseURL(srv.URL()))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	info, err := client.Submit(ctx, &qwenedit.EditRequest{
		Images: []qwenedit.Image{qwenedit.ImageFile("testdata/sample.png")},
		Prompt: "Add a rainbow",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("submitted:", info.Status)

	// Store info.ID: WaitForResult resumes a wait, even from another process.
	task, err := client.WaitForResult(ctx, info.ID, qwenedit.WithPollInterval(20*time.Millisecond), qwenedit.WithMaxWait(time.Minute))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("finished:", task.Status)
	// Output:
	// submitted: pending
	// finished: completed
}

func Example_errorHandling() {
	srv := qwenedittest.NewServer()
	defer srv.Close()
	client, err := qwenedit.NewClient(qwenedit.WithAPIKey(srv.APIKey()), qwenedit.WithBaseURL(srv.URL()))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	// Caught before any network call: every problem at once.
	_, err = client.Submit(ctx, &qwenedit.EditRequest{Prompt: "", N: 9})
	var verr *qwenedit.ValidationError
	if errors.As(err, &verr) {
		for _, p := range verr.Problems {
			fmt.Printf("%s: %s\n", p.Field, p.Message)
		}
	}

	// A task the server failed.
	srv.FailNextTask(3001, "Invalid Request", "The prompt contains prohibited content")
	_, err = client.Edit(ctx, &qwenedit.EditRequest{
		Images: []qwenedit.Image{qwenedit.ImageFile("testdata/sample.png")},
		Prompt: "something not allowed",
	}, qwenedit.WithPollInterval(10*time.Millisecond))
	var failed *qwenedit.TaskFailedError
	if errors.As(err, &failed) {
		fmt.Println(failed.Code, failed.Detail)
	}

	// An HTTP error, matched by sentinel and by type.
	_, err = client.Get(ctx, "no-such-task")
	var apiErr *qwenedit.APIError
	if errors.Is(err, qwenedit.ErrNotFound) && errors.As(err, &apiErr) {
		fmt.Println(apiErr.StatusCode, apiErr.Message)
	}
	// Output:
	// prompt: is required
	// n: is 9, must be 1 to 6 (or 0 for the server default)
	// images: has 0 images, must have 1 to 3
	// 3001 The prompt contains prohibited content
	// 404 Task no-such-task does not exist
}

// Testing your own code offline: point the client at qwenedittest and
// assert on what the fake received.
func Example_testingWithQwenedittest() {
	srv := qwenedittest.NewServer(qwenedittest.WithQueuedVocabulary())
	defer srv.Close()
	client, err := qwenedit.NewClient(qwenedit.WithAPIKey(srv.APIKey()), qwenedit.WithBaseURL(srv.URL()))
	if err != nil {
		log.Fatal(err)
	}

	task, err := client.Edit(context.Background(), &qwenedit.EditRequest{
		Images: []qwenedit.Image{qwenedit.ImageURL("https://example.com/cat.png")},
		Prompt: "Give the cat a hat",
		N:      3,
	}, qwenedit.WithPollInterval(10*time.Millisecond))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(task.Status, len(task.Images))
	fmt.Println("tasks created:", srv.SubmitCount())
	// Output:
	// succeeded 3
	// tasks created: 1
}
