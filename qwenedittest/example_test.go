package qwenedittest_test

import (
	"encoding/json"
	"fmt"
	"image/png"
	"log"
	"net/http"
	"strings"

	"github.com/seed-b62e15c8/qwenedit/qwenedittest"
)

// The fake speaks the MuleRouter wire protocol, so any HTTP client can use
// it; in Go tests you would normally point the qwenedit SDK at srv.URL().
func Example() {
	srv := qwenedittest.NewServer() // tasks are done when created
	defer srv.Close()
	endpoint := srv.URL() + "/vendors/alibaba/v1/qwen-image-edit-max/generation"

	// Submit.
	req, err := http.NewRequest(http.MethodPost, endpoint,
		strings.NewReader(`{"images":["https://example.com/cat.png"],"prompt":"Give the cat a hat","n":2}`))
	if err != nil {
		log.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+srv.APIKey())
	req.Header.Set("Content-Type", "application/json")
	var task struct {
		TaskInfo struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"task_info"`
		Images []string `json:"images"`
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&task)
	resp.Body.Close()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.StatusCode, task.TaskInfo.Status)

	// Poll.
	req, err = http.NewRequest(http.MethodGet, endpoint+"/"+task.TaskInfo.ID, nil)
	if err != nil {
		log.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+srv.APIKey())
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&task)
	resp.Body.Close()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.StatusCode, task.TaskInfo.Status, len(task.Images), "images")

	// Download a result: another origin, no key.
	resp, err = http.Get(task.Images[0])
	if err != nil {
		log.Fatal(err)
	}
	cfg, err := png.DecodeConfig(resp.Body)
	resp.Body.Close()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s %d×%d\n", resp.Header.Get("Content-Type"), cfg.Width, cfg.Height)
	fmt.Println("tasks created:", srv.SubmitCount())
	// Output:
	// 202 completed
	// 200 completed 2 images
	// image/png 1024×1024
	// tasks created: 1
}

// A rate limit on the next two submits: the answers a retrying client must
// cope with, and proof that no task was created meanwhile.
func ExampleServer_InjectFault() {
	srv := qwenedittest.NewServer()
	defer srv.Close()
	srv.InjectFault(qwenedittest.Fault{
		Method:     http.MethodPost,
		Kind:       qwenedittest.FaultStatus,
		Status:     http.StatusTooManyRequests,
		RetryAfter: "2",
		Times:      2,
	})

	for range 3 {
		req, err := http.NewRequest(http.MethodPost, srv.URL()+"/vendors/alibaba/v1/qwen-image-edit-max/generation",
			strings.NewReader(`{"images":["https://example.com/cat.png"],"prompt":"Give the cat a hat"}`))
		if err != nil {
			log.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+srv.APIKey())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Printf("%d Retry-After=%q tasks=%d\n", resp.StatusCode, resp.Header.Get("Retry-After"), srv.SubmitCount())
	}
	// Output:
	// 429 Retry-After="2" tasks=0
	// 429 Retry-After="2" tasks=0
	// 202 Retry-After="" tasks=1
}
