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
	"unicode/utf8"
)

// Version is the SDK version, sent in the User-Agent header.
const Version = "0.2.0"

// Endpoints and the model.
const (
	// DefaultBaseURL is MuleRouter's API origin.
	DefaultBaseURL = "https://api.mulerouter.ai"
	// MuleRunBaseURL is the MuleRun site's API origin (MULEROUTER_SITE=mulerun).
	MuleRunBaseURL = "https://api.mulerun.com"
	// DefaultModel is the model path segment.
	DefaultModel = "qwen-image-edit-max"
)

// Limits of the API, as documented by the vendor. Validate enforces them.
const (
	MinImages               = 1
	MaxImages               = 3
	MaxPromptLength         = 800 // characters (runes), not bytes
	MaxNegativePromptLength = 500 // characters (runes)
	MinN                    = 1
	MaxN                    = 6
	MaxSeed                 = 2147483647
	MinSizeSide             = 512 // output width and height, pixels
	MaxSizeSide             = 2048
	// MaxImageBytes is the largest input image, in raw bytes before base64:
	// the vendor says "no larger than 10 MB", read conservatively as
	// 10,000,000 bytes rather than 10 MiB (10,485,760), so that an image
	// the server might refuse is refused locally, before a paid call.
	MaxImageBytes = 10_000_000
	MinImageSide  = 384 // input width and height, pixels
	MaxImageSide  = 3072
	// DefaultMaxDownloadSize caps one downloaded result image.
	DefaultMaxDownloadSize = 50 << 20
)

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

// IsZero reports whether s is unset.
func (s Size) IsZero() bool { return s.Width == 0 && s.Height == 0 }

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

func (r *EditRequest) checkFields() []FieldError {
	var p []FieldError
	add := func(field, format string, args ...any) {
		p = append(p, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	switch {
	case !utf8.ValidString(r.Prompt):
		add("prompt", "is not valid UTF-8")
	case strings.TrimSpace(r.Prompt) == "":
		add("prompt", "is required")
	case utf8.RuneCountInString(r.Prompt) > MaxPromptLength:
		add("prompt", "has %d characters, at most %d are allowed", utf8.RuneCountInString(r.Prompt), MaxPromptLength)
	}
	switch {
	case !utf8.ValidString(r.NegativePrompt):
		add("negative_prompt", "is not valid UTF-8")
	case utf8.RuneCountInString(r.NegativePrompt) > MaxNegativePromptLength:
		add("negative_prompt", "has %d characters, at most %d are allowed", utf8.RuneCountInString(r.NegativePrompt), MaxNegativePromptLength)
	}
	if r.N != 0 && (r.N < MinN || r.N > MaxN) {
		add("n", "is %d, must be %d to %d (or 0 for the server default)", r.N, MinN, MaxN)
	}
	if r.Seed != nil && (*r.Seed < 0 || *r.Seed > MaxSeed) {
		add("seed", "is %d, must be 0 to %d", *r.Seed, MaxSeed)
	}
	if !r.Size.IsZero() {
		for _, side := range []struct {
			name string
			v    int
		}{{"width", r.Size.Width}, {"height", r.Size.Height}} {
			if side.v < MinSizeSide || side.v > MaxSizeSide {
				add("size", "%s is %d, must be %d to %d", side.name, side.v, MinSizeSide, MaxSizeSide)
			}
		}
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
	if n < MinImages || n > MaxImages {
		msg := fmt.Sprintf("has %d images, must have %d to %d", n, MinImages, MaxImages)
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
