package qwenedittest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/seed-b62e15c8/qwenedit/internal/datauri"
	"github.com/seed-b62e15c8/qwenedit/internal/imageinfo"
	"github.com/seed-b62e15c8/qwenedit/internal/limits"
)

// defaultResultMaxSide is the longer side of a result without "size".
const defaultResultMaxSide = 1024

// submission is a validated submit body plus what the server needs from
// the images.
type submission struct {
	req       SubmitRequest
	n         int
	outW      int
	outH      int
	source    []byte // last image, if inline
	srcFormat imageinfo.Format
	warnings  []string
}

// validation is one submit body being checked: each field's check reads
// fields and fills sub or adds to problems.
type validation struct {
	fields   map[string]json.RawMessage
	sub      submission
	lastInfo *imageinfo.Info // the last image's header, if it was inline
	problems []string
}

func (v *validation) add(field, format string, args ...any) {
	v.problems = append(v.problems, field+": "+fmt.Sprintf(format, args...))
}

// passes reports whether msg, the result of a check of package limits,
// is "" (the value is within the limit); else it adds msg.
func (v *validation) passes(field, msg string) bool {
	if msg != "" {
		v.add(field, "%s", msg)
	}
	return msg == ""
}

// validate decodes and checks a submit body. On failure it returns a
// message for the "detail" field that names every offending field, in a
// fixed order, so that one round trip shows all problems.
func validate(body []byte) (submission, string) {
	v := validation{sub: submission{n: 1}}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&v.fields); err != nil || v.fields == nil {
		var typeErr *json.UnmarshalTypeError
		if err != nil && !errors.As(err, &typeErr) {
			return submission{}, fmt.Sprintf("body: is not valid JSON: %v", err)
		}
		return submission{}, "body: must be a JSON object"
	}
	if len(bytes.TrimSpace(body[dec.InputOffset():])) > 0 {
		return submission{}, "body: unexpected data after the JSON object"
	}
	v.unknownFields()
	v.images()
	v.prompt()
	v.negativePrompt()
	v.n()
	v.seed()
	v.size()
	v.flag("prompt_extend", false, &v.sub.req.PromptExtend)
	v.flag("safety_filter", true, &v.sub.req.SafetyFilter)
	if len(v.problems) > 0 {
		return submission{}, strings.Join(v.problems, "; ")
	}
	sub := v.sub
	if sub.outW == 0 {
		sub.outW, sub.outH = defaultResultMaxSide, defaultResultMaxSide
		if v.lastInfo != nil {
			sub.outW, sub.outH = fitWithin(v.lastInfo.Width, v.lastInfo.Height, defaultResultMaxSide)
		}
	}
	return sub, ""
}

func (v *validation) unknownFields() {
	var unknown []string
	for k := range v.fields {
		switch k {
		case "images", "prompt", "negative_prompt", "n", "seed", "size", "prompt_extend", "safety_filter":
		default:
			unknown = append(unknown, strconv.Quote(k))
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		v.add(k, "unknown field")
	}
}

func (v *validation) images() {
	raw, ok := v.fields["images"]
	var items []json.RawMessage
	switch {
	case !ok || isNull(raw):
		v.add("images", "is required")
		return
	case kind(raw) != '[' || json.Unmarshal(raw, &items) != nil:
		v.add("images", "must be an array of strings")
		return
	}
	v.passes("images", limits.ImageCount(len(items)))
	for i, item := range items {
		name := fmt.Sprintf("images[%d]", i)
		s, ok := decodeString(item)
		if !ok {
			v.add(name, "must be a string")
			continue
		}
		v.sub.req.Images = append(v.sub.req.Images, s)
		uri, info, msg, warning := checkImage(s)
		if msg != "" {
			v.add(name, "%s", msg)
			continue
		}
		if warning != "" {
			v.sub.warnings = append(v.sub.warnings, name+": "+warning)
		}
		if i == len(items)-1 && uri != nil {
			v.sub.source, v.sub.srcFormat = uri.Data, info.Format
			v.lastInfo = &info
		}
	}
}

func (v *validation) prompt() {
	raw, ok := v.fields["prompt"]
	if !ok || isNull(raw) {
		v.add("prompt", "is required")
		return
	}
	s, ok := decodeString(raw)
	if !ok {
		v.add("prompt", "must be a string")
	} else if v.passes("prompt", limits.Prompt(s)) {
		v.sub.req.Prompt = s
	}
}

// negativePrompt: a string or null.
func (v *validation) negativePrompt() {
	raw, ok := v.fields["negative_prompt"]
	if !ok || isNull(raw) {
		return
	}
	s, ok := decodeString(raw)
	if !ok {
		v.add("negative_prompt", "must be a string or null")
	} else if v.passes("negative_prompt", limits.NegativePrompt(s)) {
		v.sub.req.NegativePrompt = &s
	}
}

func (v *validation) n() {
	raw, ok := v.fields["n"]
	if !ok {
		return
	}
	n, ok := decodeInt(raw)
	if !ok {
		v.add("n", "must be an integer")
	} else if v.passes("n", limits.N(n)) {
		n := int(n)
		v.sub.n, v.sub.req.N = n, &n
	}
}

func (v *validation) seed() {
	raw, ok := v.fields["seed"]
	if !ok {
		return
	}
	seed, ok := decodeInt(raw)
	if !ok {
		v.add("seed", "must be an integer")
	} else if v.passes("seed", limits.Seed(seed)) {
		s := int(seed)
		v.sub.req.Seed = &s
	}
}

// size: "W*H"; "" means the default, as in the documentation's full example.
func (v *validation) size() {
	raw, ok := v.fields["size"]
	if !ok {
		return
	}
	s, ok := decodeString(raw)
	if !ok {
		v.add("size", "must be a string \"width*height\"")
		return
	}
	if s == "" {
		return
	}
	w, h, msg := parseSize(s)
	if msg != "" {
		v.add("size", "%s", msg)
		return
	}
	v.sub.req.Size = &s
	v.sub.outW, v.sub.outH = roundTo16(w), roundTo16(h)
}

// flag checks a boolean field; nullable ones may also be null.
func (v *validation) flag(name string, nullable bool, dst **bool) {
	raw, ok := v.fields[name]
	if !ok || (nullable && isNull(raw)) {
		return
	}
	var b bool
	if kind(raw) != 't' && kind(raw) != 'f' || json.Unmarshal(raw, &b) != nil {
		if nullable {
			v.add(name, "must be a boolean or null")
		} else {
			v.add(name, "must be a boolean")
		}
		return
	}
	*dst = &b
}

// checkImage checks one images item. For an inline image it returns the
// parsed data URI and the header information; for a URL both are zero. It
// never fetches URLs: the fake must work offline and must not become a
// request forwarder. warning notes what was accepted although a strict
// server might not: a data URI whose declared type is a supported image
// type other than the one its bytes are (the official clients label a
// local file by its extension, and a PNG saved as .jpg is common).
func checkImage(s string) (uri *datauri.URI, info imageinfo.Info, msg, warning string) {
	// Only the scheme matters here; lowering a whole 13 MB data URI would
	// copy it for nothing.
	lower := strings.ToLower(s[:min(len(s), len("https://"))])
	switch {
	case strings.HasPrefix(lower, "http://"), strings.HasPrefix(lower, "https://"):
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return nil, imageinfo.Info{}, "is not a valid http(s) URL", ""
		}
		return nil, imageinfo.Info{}, "", ""
	case strings.HasPrefix(lower, datauri.Prefix):
		// Refuse an oversized image before decoding megabytes of base64.
		if _, payload, ok := strings.Cut(s, ","); ok && len(payload)%4 == 0 {
			size := len(payload)/4*3 - (len(payload) - len(strings.TrimRight(payload, "=")))
			if msg := limits.ImageBytes(int64(size)); msg != "" {
				return nil, imageinfo.Info{}, msg, ""
			}
		}
		parsed, err := datauri.Parse(s)
		if err != nil {
			return nil, imageinfo.Info{}, fmt.Sprintf("is not a valid data URI: %v", err), ""
		}
		if msg := limits.ImageBytes(int64(len(parsed.Data))); msg != "" {
			return nil, imageinfo.Info{}, msg, ""
		}
		if parsed.MediaType == "" {
			return nil, imageinfo.Info{}, "data URI names no media type (want data:image/<type>;base64,...)", ""
		}
		declared, ok := imageinfo.FormatFromMIME(parsed.MediaType)
		if !ok {
			return nil, imageinfo.Info{}, fmt.Sprintf("media type %q is not a supported image type (JPEG, PNG, GIF, BMP, TIFF, WEBP)", parsed.MediaType), ""
		}
		info, err := imageinfo.Inspect(bytes.NewReader(parsed.Data), int64(len(parsed.Data)))
		if err != nil {
			return nil, imageinfo.Info{}, fmt.Sprintf("unsupported or unreadable image: %v", err), ""
		}
		if info.Format != declared {
			warning = fmt.Sprintf("declared as %s but the data is %s; accepted as %s", parsed.MediaType, info.Format.MIME(), info.Format.MIME())
		}
		if msg := limits.ImageSides(info.Width, info.Height); msg != "" {
			return nil, imageinfo.Info{}, msg, ""
		}
		return &parsed, info, "", warning
	default:
		return nil, imageinfo.Info{}, "must be an http(s) URL or a data:<mime>;base64,<data> URI", ""
	}
}

// parseSize parses "W*H" with each side within the limits.
func parseSize(s string) (w, h int, msg string) {
	ws, hs, ok := strings.Cut(s, "*")
	w, werr := strconv.Atoi(ws)
	h, herr := strconv.Atoi(hs)
	if !ok || werr != nil || herr != nil || !allDigits(ws) || !allDigits(hs) {
		return 0, 0, fmt.Sprintf("%q is not of the form \"width*height\"", s)
	}
	for _, msg := range []string{limits.SizeSide("width", w), limits.SizeSide("height", h)} {
		if msg != "" {
			return 0, 0, fmt.Sprintf("%q: %s", s, msg)
		}
	}
	return w, h, ""
}

func allDigits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// roundTo16 is the side the service renders for a requested one: the
// nearest multiple of 16 (the model works in 16-pixel blocks), kept within
// the documented 512–2048.
func roundTo16(side int) int {
	return min(max((side+8)/16*16, limits.MinSizeSide), limits.MaxSizeSide)
}

// fitWithin scales w×h down, keeping the aspect ratio, so that the longer
// side is at most limit; smaller images keep their size.
func fitWithin(w, h, limit int) (int, int) {
	if w <= limit && h <= limit {
		return w, h
	}
	if w >= h {
		return limit, max(1, (h*limit+w/2)/w)
	}
	return max(1, (w*limit+h/2)/h), limit
}

// kind is the first byte of a JSON value: '"', '[', '{', 't', 'f', 'n' or
// the start of a number.
func kind(raw json.RawMessage) byte {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return 0
	}
	return raw[0]
}

func isNull(raw json.RawMessage) bool { return kind(raw) == 'n' }

func decodeString(raw json.RawMessage) (string, bool) {
	var s string
	if kind(raw) != '"' || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// decodeInt accepts a JSON integer literal only: 1.0, 1e3 and strings are
// wrong types, as for a strictly typed server. Out-of-range literals come
// back clamped, so the range message can still report them.
func decodeInt(raw json.RawMessage) (int64, bool) {
	s := string(bytes.TrimSpace(raw))
	if s == "" || strings.ContainsAny(s, ".eE") || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, false
	}
	return v, true
}
