// Package qwenedit is a typed client for the Qwen Image Edit Max model served
// as an asynchronous task API by MuleRouter.
//
// An edit is a paid task: Submit creates it, Get reports its status,
// WaitForResult polls until it finishes and Edit does both:
//
//	client, err := qwenedit.NewClient() // key from MULEROUTER_API_KEY
//	task, err := client.Edit(ctx, &qwenedit.EditRequest{
//		Images: []qwenedit.Image{qwenedit.ImageFile("cat.png")},
//		Prompt: "Put a red scarf on the cat",
//	})
//	paths, err := client.SaveImages(ctx, task, "out")
//
// Requests are validated against every documented limit before any network
// call, local images are checked from their headers and streamed as base64
// with constant memory, retries never create a second paid task (over
// HTTP/1.1 or HTTP/2), and every failure is a typed error: APIError,
// ValidationError, TaskFailedError, WaitTimeoutError, WaitError and
// AmbiguousSubmitError, and the sentinels (ErrUnauthorized, ErrNotFound,
// ...) that errors.Is matches through them. Package qwenedittest is a fake
// server for offline tests.
package qwenedit

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/seed-b62e15c8/qwenedit/internal/limits"
)

// Version is the SDK version, sent in the User-Agent header.
const Version = "0.3.0"

// Endpoints and the model.
const (
	// DefaultBaseURL is MuleRouter's API origin.
	DefaultBaseURL = "https://api.mulerouter.ai"
	// MuleRunBaseURL is the MuleRun site's API origin (MULEROUTER_SITE=mulerun).
	MuleRunBaseURL = "https://api.mulerun.com"
	// DefaultModel is the model path segment.
	DefaultModel = "qwen-image-edit-max"
)

// defaultMaxDownloadSize caps one downloaded result image.
const defaultMaxDownloadSize = 50 << 20

// EditRequest is one image-edit task. Unset optional fields are omitted from
// the request so the server applies its defaults; pointer fields set to a
// zero value (Ptr(0), Ptr(false)) are sent.
type EditRequest struct {
	// Images are 1 to 3 input images. Order matters: the prompt calls them
	// "Image 1", "Image 2", "Image 3", and the output's aspect ratio follows
	// the last one.
	Images []Image
	// Prompt is the edit instruction, required, at most 800 characters
	// (Chinese or English; counted as runes).
	Prompt string
	// NegativePrompt describes what to avoid, at most 500 characters; "" is omitted.
	NegativePrompt string
	// N is the number of output images, 1 to 6; 0 leaves the server default (1).
	N int
	// Seed makes results more repeatable, 0 to 2147483647; nil is omitted.
	Seed *int
	// Size is the output size, each side 512 to 2048; the zero Size is
	// omitted and the server keeps the last image's aspect ratio near 1024*1024.
	Size Size
	// PromptExtend lets a language model rewrite the prompt (server default true).
	PromptExtend *bool
	// SafetyFilter enables the content safety filter (server default true).
	SafetyFilter *bool
}

// Ptr returns a pointer to v, for the optional fields: Seed: qwenedit.Ptr(42).
func Ptr[T any](v T) *T { return &v }

// Size is an output size in pixels, sent as "W*H".
type Size struct{ Width, Height int }

// String is the wire form "W*H".
func (s Size) String() string { return strconv.Itoa(s.Width) + "*" + strconv.Itoa(s.Height) }

// MarshalText encodes s as "W*H".
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes "W*H" (or "WxH").
func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ParseSize parses "1024*768" (also "1024x768"). It checks the syntax and
// that both sides are positive; Validate checks the 512–2048 range.
func ParseSize(s string) (Size, error) {
	sep := strings.IndexAny(s, "*xX")
	if sep < 0 {
		return Size{}, fmt.Errorf("qwenedit: size %q: want WIDTH*HEIGHT, e.g. 1024*768", s)
	}
	w, errW := parsePositive(s[:sep])
	h, errH := parsePositive(s[sep+1:])
	if errW != nil || errH != nil {
		return Size{}, fmt.Errorf("qwenedit: size %q: want two positive whole numbers, e.g. 1024*768", s)
	}
	return Size{Width: w, Height: h}, nil
}

func parsePositive(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" || s[0] == '+' || s[0] == '-' {
		return 0, strconv.ErrSyntax
	}
	v, err := strconv.Atoi(s)
	if err != nil || v <= 0 {
		return 0, strconv.ErrSyntax
	}
	return v, nil
}

// Validate checks every documented constraint, local images included (their
// format, byte size and pixel dimensions, read from the header only), and
// returns a *ValidationError listing all problems at once, or nil. Submit and
// Edit run the same checks before any network call.
func (r *EditRequest) Validate() error {
	_, err := r.check(true)
	return err
}

// check validates r and prepares its images for upload.
func (r *EditRequest) check(checkPixels bool) ([]preparedImage, error) {
	if r == nil {
		return nil, &ValidationError{Problems: []FieldError{{Field: "request", Message: "is nil"}}}
	}
	problems := r.checkFields()
	images, imageProblems := r.checkImages(checkPixels)
	problems = append(problems, imageProblems...)
	if len(problems) > 0 {
		return nil, &ValidationError{Problems: problems}
	}
	return images, nil
}

// checkFields checks every field but the images, each by the one rule the
// fake server shares (internal/limits).
func (r *EditRequest) checkFields() []FieldError {
	var p []FieldError
	add := func(field, msg string) {
		if msg != "" {
			p = append(p, FieldError{Field: field, Message: msg})
		}
	}
	add("prompt", limits.Prompt(r.Prompt))
	add("negative_prompt", limits.NegativePrompt(r.NegativePrompt))
	if r.N != 0 {
		if msg := limits.N(int64(r.N)); msg != "" {
			add("n", msg+" (or 0 for the server default)")
		}
	}
	if r.Seed != nil {
		add("seed", limits.Seed(int64(*r.Seed)))
	}
	if r.Size != (Size{}) {
		add("size", limits.SizeSide("width", r.Size.Width))
		add("size", limits.SizeSide("height", r.Size.Height))
	}
	return p
}

// maxImagesChecked bounds how many images checkImages inspects when there
// are too many: enough to list every problem of a request that is one or
// two images over, without reading a whole directory someone passed by mistake.
const maxImagesChecked = 10

// checkImages checks the number of images and each image, so that all
// problems are listed at once: a wrong count does not hide a broken image
// (of too many, the first maxImagesChecked are checked).
func (r *EditRequest) checkImages(checkPixels bool) ([]preparedImage, []FieldError) {
	var problems []FieldError
	n := len(r.Images)
	if msg := limits.ImageCount(n); msg != "" {
		if n > maxImagesChecked {
			msg += fmt.Sprintf(" (only the first %d were checked)", maxImagesChecked)
		}
		problems = append(problems, FieldError{Field: "images", Message: msg})
	}
	prepared := make([]preparedImage, min(n, maxImagesChecked))
	for i, img := range r.Images[:len(prepared)] {
		p, err := img.prepare(checkPixels)
		if err != nil {
			problems = append(problems, FieldError{Field: fmt.Sprintf("images[%d]", i), Message: err.Error(), Err: err})
			continue
		}
		prepared[i] = p
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return prepared, nil
}

// wireFields is the request as JSON without "images", which the streaming
// body appends last so that the big part never sits in memory.
type wireFields struct {
	Prompt         string `json:"prompt"`
	NegativePrompt string `json:"negative_prompt,omitempty"`
	N              int    `json:"n,omitempty"`
	Seed           *int   `json:"seed,omitempty"`
	Size           Size   `json:"size,omitzero"`
	PromptExtend   *bool  `json:"prompt_extend,omitempty"`
	SafetyFilter   *bool  `json:"safety_filter,omitempty"`
}

// fieldsJSON is the JSON object of the request's fields but "images".
func (r *EditRequest) fieldsJSON() ([]byte, error) {
	return json.Marshal(wireFields{
		Prompt: r.Prompt, NegativePrompt: r.NegativePrompt, N: r.N, Seed: r.Seed,
		Size: r.Size, PromptExtend: r.PromptExtend, SafetyFilter: r.SafetyFilter,
	})
}
