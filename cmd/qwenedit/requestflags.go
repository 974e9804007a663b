package main

// The request's optional fields, as flags and as JSON: one definition that
// edit and batch register, the journal records and a manifest line
// carries, so that no command can lack a field another has.

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/seed-b62e15c8/qwenedit"
	"github.com/seed-b62e15c8/qwenedit/internal/limits"
)

// requestFields are the fields of a request besides its images and prompt.
// The zero value leaves every one to the server. Its JSON names are the
// API's, for the journal and the manifest.
type requestFields struct {
	NegativePrompt string `json:"negative_prompt,omitempty"`
	N              int    `json:"n,omitempty"`
	Seed           *int   `json:"seed,omitempty"`
	Size           string `json:"size,omitempty"` // "W*H"; "WxH" is read too
	PromptExtend   *bool  `json:"prompt_extend,omitempty"`
	SafetyFilter   *bool  `json:"safety_filter,omitempty"`
}

// apply sets f's fields on req. A size that does not parse is a usage
// error naming it as name gives it (a flag, or a manifest field); the SDK
// checks the other limits.
func (f requestFields) apply(req *qwenedit.EditRequest, sizeName string) error {
	req.NegativePrompt, req.N, req.Seed = f.NegativePrompt, f.N, f.Seed
	req.PromptExtend, req.SafetyFilter = f.PromptExtend, f.SafetyFilter
	if f.Size == "" {
		return nil
	}
	size, err := qwenedit.ParseSize(f.Size)
	if err != nil {
		return usagef("%s %q: want WIDTHxHEIGHT or WIDTH*HEIGHT, such as 1024x768", sizeName, f.Size)
	}
	req.Size = size
	return nil
}

// normalized is f with its size spelled as the API spells it, so that
// 1024x768 and 1024*768 are one request to the journal.
func (f requestFields) normalized() requestFields {
	if size, err := qwenedit.ParseSize(f.Size); err == nil {
		f.Size = size.String()
	}
	return f
}

// String is f as the flags that set it, "" for none: for messages, and to
// compare two sets of fields.
func (f requestFields) String() string {
	f = f.normalized()
	var parts []string
	if f.NegativePrompt != "" {
		parts = append(parts, "-negative-prompt "+strconv.Quote(f.NegativePrompt))
	}
	if f.N != 0 {
		parts = append(parts, fmt.Sprintf("-n %d", f.N))
	}
	if f.Seed != nil {
		parts = append(parts, fmt.Sprintf("-seed %d", *f.Seed))
	}
	if f.Size != "" {
		parts = append(parts, "-size "+f.Size)
	}
	if f.PromptExtend != nil {
		parts = append(parts, fmt.Sprintf("-prompt-extend=%t", *f.PromptExtend))
	}
	if f.SafetyFilter != nil {
		parts = append(parts, fmt.Sprintf("-safety-filter=%t", *f.SafetyFilter))
	}
	return strings.Join(parts, " ")
}

// results is how many results a request with f makes.
func (f requestFields) results() int {
	return max(f.N, 1)
}

// requestFlags are the flags of the request fields and the model, the
// same in every command that submits.
type requestFlags struct {
	fields requestFields
	seed   optionalInt
	extend optionalBool
	safety optionalBool
	model  string
	set    map[string]bool // the names of the fields' flags given, filled by given
}

// fieldFlagNames are the flags register adds for the fields (not -model).
var fieldFlagNames = []string{"negative-prompt", "n", "seed", "size", "prompt-extend", "safety-filter"}

// register adds -negative-prompt, -n, -seed, -size, -prompt-extend,
// -safety-filter and -model to fs.
func (r *requestFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&r.fields.NegativePrompt, "negative-prompt", "", fmt.Sprintf("what to avoid, at most %d characters", limits.MaxNegativePromptRunes))
	fs.IntVar(&r.fields.N, "n", 0, fmt.Sprintf("number of results, %d to %d (default: the server's, 1)", limits.MinN, limits.MaxN))
	fs.Var(&r.seed, "seed", fmt.Sprintf("random seed `N`, 0 to %d (default: none, the server picks one)", limits.MaxSeed))
	fs.StringVar(&r.fields.Size, "size", "", fmt.Sprintf("output size `WxH` or W*H, each side %d to %d (default: about 1024x1024, the last image's aspect ratio)",
		limits.MinSizeSide, limits.MaxSizeSide))
	fs.Var(&r.extend, "prompt-extend", "let a language model rewrite the prompt: -prompt-extend or -prompt-extend=false (default: the server's, true)")
	fs.Var(&r.safety, "safety-filter", "the content safety filter: -safety-filter or -safety-filter=false (default: the server's, true)")
	registerModel(fs, &r.model)
}

// given finishes r after fs is parsed: the optional values into the
// fields, and which flags were given.
func (r *requestFlags) given(fs *flag.FlagSet) {
	r.fields.Seed, r.fields.PromptExtend, r.fields.SafetyFilter = r.seed.v, r.extend.v, r.safety.v
	r.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { r.set[f.Name] = true })
}

// anyField returns the first field flag given, or "".
func (r *requestFlags) anyField() string {
	for _, name := range fieldFlagNames {
		if r.set[name] {
			return "-" + name
		}
	}
	return ""
}

// newRequest builds the request of images (files or http(s) URLs, as the
// user gave them) and prompt with fields. What the arguments alone show to
// be wrong is a usage error here, the image counted from 1; the SDK's
// Validate checks the rest.
func newRequest(images []string, prompt string, fields requestFields, sizeName string) (*qwenedit.EditRequest, error) {
	req := &qwenedit.EditRequest{Prompt: prompt}
	for i, arg := range images {
		img, err := imageArg(i, arg)
		if err != nil {
			return nil, err
		}
		req.Images = append(req.Images, img)
	}
	if err := fields.apply(req, sizeName); err != nil {
		return nil, err
	}
	return req, nil
}

// optionalInt is an integer flag that stays unset unless given, so that
// the server's default applies: -seed 0 is a seed too.
type optionalInt struct{ v *int }

func (o *optionalInt) String() string {
	if o == nil || o.v == nil {
		return ""
	}
	return strconv.Itoa(*o.v)
}

func (o *optionalInt) Set(s string) error {
	v, err := strconv.Atoi(s)
	if err != nil {
		return errors.New("want a whole number")
	}
	o.v = &v
	return nil
}
