// Package qwenedittest is a fake MuleRouter server for the qwen-image-edit-max
// async task API, for testing code that talks to that API without a network,
// an account or any cost.
//
// A [Server] listens on two loopback ports. The API port speaks the wire
// protocol of https://api.mulerouter.ai:
//
//	POST /vendors/alibaba/v1/<model>/generation            submit → 202 {"task_info":{...}}
//	GET  /vendors/alibaba/v1/<model>/generation/<task_id>  poll   → 200 {"task_info":{...},"images":[...]}
//
// It checks the bearer key (401, answered before the request body is read,
// as gateways do, so that a client that sends "Expect: 100-continue" never
// uploads a refused body), validates request bodies with the limits of
// the vendor documentation (400 with a "detail" naming the field), moves
// tasks through "pending" → "processing" → "completed" (or "queued" →
// "running" → "succeeded") as time passes on an injectable clock, and answers
// unknown task ids with 404 and error_code 2005.
//
// Result images have the requested size rounded to multiples of 16, like
// the service's. Without a size, the fake keeps the last input's size when
// it fits in 1024×1024 and scales it down to fit otherwise; the real
// service aims at about 1024×1024 pixels with the last input's aspect
// ratio, so do not test for an exact default output size.
//
// Memory: Tasks keeps every submitted image and Requests every request body
// (for assertions) for the life of the Server; a suite that uploads many
// large images should use a Server per test.
//
// The second port plays the CDN that real result URLs point to: it serves
// real PNG images, derived from the last input image when that was sent
// inline, without authentication. Because it is a different origin, tests can
// check that a client never sends its API key there ([Server.Requests]
// records every request to both ports, headers included).
//
// Tests steer the fake with [Server.FailNextTask], [Server.SetTaskStatus],
// [Server.DeleteTask], [Server.ExpireResults] and [Server.InjectFault], which
// simulates rate limits, server errors, dropped connections, stream resets,
// hangs, truncated or malformed bodies and huge answers, before or after
// the request body is read ([Fault].BeforeBody) or after the task was
// created ([Fault].AfterCreate).
//
// By default both ports speak plain HTTP/1.1. With [WithTLS] they serve
// HTTPS with a self-signed certificate and negotiate HTTP/2 or HTTP/1.1 by
// ALPN, as the real API does; [Server.Client] then trusts the certificate
// and speaks HTTP/2, and [Server.Certificate] gives the certificate to
// other clients. Both protocols are served by net/http, as most Go
// services are, so faults do what a handler can do: a stream reset is
// INTERNAL_ERROR, and GOAWAY comes when the Server closes.
// [RecordedRequest].Proto tells which protocol each request used.
//
// The package does not import the SDK, so the SDK's own tests can use it.
// The program examples/fakeserver runs the same server as a process.
package qwenedittest
