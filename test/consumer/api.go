// Package consumer pins the public API of qwenedit at compile time, as a
// user's program sees it: the names the design fixes (listed in the
// README's API section) and the ones added since. Every name below must
// exist with exactly this shape; a change here is a breaking change and
// goes in CHANGELOG.md.
package consumer

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/seed-b62e15c8/qwenedit"
)

// Client construction and options.
var (
	_ func(...qwenedit.Option) (*qwenedit.Client, error) = qwenedit.NewClient
	_ func(string) qwenedit.Option                       = qwenedit.WithAPIKey
	_ func(string) qwenedit.Option                       = qwenedit.WithBaseURL
	_ func(*http.Client) qwenedit.Option                 = qwenedit.WithHTTPClient
	_ func(string) qwenedit.Option                       = qwenedit.WithModel
	_ func(string) qwenedit.Option                       = qwenedit.WithUserAgent
	_ func(int) qwenedit.Option                          = qwenedit.WithMaxRetries
	_ func(*slog.Logger) qwenedit.Option                 = qwenedit.WithLogger
)

// Requests.
var (
	_ func(*qwenedit.EditRequest) error                  = (*qwenedit.EditRequest).Validate
	_ func(string) (qwenedit.Size, error)                = qwenedit.ParseSize
	_ func(qwenedit.Size) string                         = qwenedit.Size.String
	_ func(int) *int                                     = qwenedit.Ptr[int]
	_ func(bool) *bool                                   = qwenedit.Ptr[bool]
	_ func(string) qwenedit.Image                        = qwenedit.ImageURL
	_ func(string) qwenedit.Image                        = qwenedit.ImageFile
	_ func([]byte) qwenedit.Image                        = qwenedit.ImageBytes
	_ func(io.Reader) qwenedit.Image                     = qwenedit.ImageReader
	_ func(qwenedit.TaskStatus) bool                     = qwenedit.TaskStatus.IsTerminal
	_ func(qwenedit.TaskStatus) bool                     = qwenedit.TaskStatus.IsSuccess
	_ func(time.Duration) qwenedit.PollOption            = qwenedit.WithPollInterval
	_ func(time.Duration) qwenedit.PollOption            = qwenedit.WithMaxPollInterval
	_ func(time.Duration) qwenedit.PollOption            = qwenedit.WithMaxWait
	_ func(func(*qwenedit.Task)) qwenedit.PollOption     = qwenedit.WithOnPoll
	_ func(func(*qwenedit.TaskInfo)) qwenedit.PollOption = qwenedit.WithOnSubmitted
)

// Calls.
var (
	_ func(*qwenedit.Client, context.Context, *qwenedit.EditRequest) (*qwenedit.TaskInfo, error)                     = (*qwenedit.Client).Submit
	_ func(*qwenedit.Client, context.Context, string) (*qwenedit.Task, error)                                        = (*qwenedit.Client).Get
	_ func(*qwenedit.Client, context.Context, string, ...qwenedit.PollOption) (*qwenedit.Task, error)                = (*qwenedit.Client).WaitForResult
	_ func(*qwenedit.Client, context.Context, *qwenedit.EditRequest, ...qwenedit.PollOption) (*qwenedit.Task, error) = (*qwenedit.Client).Edit
	_ func(*qwenedit.Client, context.Context, string, io.Writer) (int64, error)                                      = (*qwenedit.Client).Download
	_ func(*qwenedit.Client, context.Context, *qwenedit.Task, string) ([]string, error)                              = (*qwenedit.Client).SaveImages
)

// The sentinels.
var sentinels = []error{
	qwenedit.ErrNoAPIKey, qwenedit.ErrUnauthorized, qwenedit.ErrPaymentRequired, qwenedit.ErrForbidden,
	qwenedit.ErrNotFound, qwenedit.ErrRateLimited, qwenedit.ErrInvalidRequest, qwenedit.ErrTaskFailed,
	qwenedit.ErrWaitTimeout,
}

// Shapes of the request, the task and the typed errors, field by field.
var (
	_ = qwenedit.EditRequest{
		Images: []qwenedit.Image{}, Prompt: "", NegativePrompt: "", N: 0,
		Seed: (*int)(nil), Size: qwenedit.Size{Width: 0, Height: 0},
		PromptExtend: (*bool)(nil), SafetyFilter: (*bool)(nil),
	}
	_ = qwenedit.Task{
		TaskInfo: qwenedit.TaskInfo{
			ID: "", Status: qwenedit.TaskStatus(""), CreatedAt: time.Time{}, UpdatedAt: time.Time{},
			Error: &qwenedit.TaskError{Code: 0, Title: "", Detail: ""},
		},
		Images: []string{},
	}
	_ error = &qwenedit.APIError{StatusCode: 0, Message: "", Code: 0, TraceParent: "", RetryAfter: time.Duration(0)}
	_ error = &qwenedit.ValidationError{Problems: []qwenedit.FieldError{{Field: "", Message: ""}}}
	_ error = &qwenedit.TaskFailedError{TaskID: "", Code: 0, Title: "", Detail: "", Task: (*qwenedit.Task)(nil)}
	_ error = &qwenedit.WaitTimeoutError{TaskID: "", LastStatus: qwenedit.TaskStatus("")}
	_ error = &qwenedit.AmbiguousSubmitError{}
)
