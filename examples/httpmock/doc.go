// Package httpmockexample shows, in httpmock_test.go, how to test code that uses
// the SDK with github.com/jarcoal/httpmock instead of the SDK's fake server
// (package qwenedittest, see examples/testing): useful when a suite already
// mocks its HTTP calls, or to script exact answers.
//
// The mock must answer what MuleRouter answers:
//
//	POST {base}/vendors/alibaba/v1/qwen-image-edit-max/generation
//	     → 202 {"task_info":{"id":"...","status":"pending",...}}
//	GET  {base}/vendors/alibaba/v1/qwen-image-edit-max/generation/{id}
//	     → 200 {"task_info":{"id":"...","status":"completed",...},"images":["https://..."]}
//	GET  each result URL → 200, Content-Type image/png, the image's bytes
//
// Two rules: give the client the mock's transport with
// qwenedit.WithHTTPClient (the SDK uses its own transport, so
// httpmock.Activate alone intercepts nothing), and give it an https://
// base URL, such as https://api.mulerouter.ai, since the SDK refuses plain
// http to a host other than loopback (the key would travel in clear text).
// Nothing leaves the machine: the mock answers every request itself.
package httpmockexample
