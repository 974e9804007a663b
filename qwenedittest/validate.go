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
	"unicode/utf8"

	"github.com/seed-b62e15c8/qwenedit/internal/datauri"
	"github.com/seed-b62e15c8/qwenedit/internal/imageinfo"
)

// Limits of the qwen-image-edit-max request, from the vendor documentation.
const (
	maxImages            = 3
	maxPromptRunes       = 800
	maxNegativeRunes     = 500
	minN, maxN           = 1, 6
	maxSeed              = 2147483647
	minSizeSide          = 512
	maxSizeSide          = 2048
	minImageSide         = 384
	maxImageSide         = 3072
	maxImageBytes        = 10_000_000 // decoded size of one inline image: "10 MB", read as the SDK does
	defaultResultMaxSide = 1024       // longer side of a result without "size"
)

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

// knownField reports whether name is a field of the submit body.
func knownField(name string) bool {
	switch name {
	case "images", "prompt", "negative_prompt", "n", "seed", "size", "prompt_extend", "safety_filter":
		return true
	}
	return false
}

// validate decodes and checks a submit body. On failure it returns a
// message for the "detail" field that names every offending field, in a
// fixed order, so that one round trip shows all problems.
func validate(body []byte) (submission, string) {
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&fields); err != nil || fields == nil {
		var typeErr *json.UnmarshalTypeError
		if err != nil && !errors.As(err, &typeErr) {
			return submission{}, fmt.Sprintf("body: is not valid JSON: %v", err)
		}
		return submission{}, "body: must be a JSON object"
	}
	if len(bytes.TrimSpace(body[dec.InputOffset():])) > 0 {
		return submission{}, "body: unexpected data after the JSON object"
	}

	var problems []string
	add := func(field, format string, args ...any) {
		problems = append(problems, field+": "+fmt.Sprintf(format, args...))
	}

	var unknown []string
	for k := range fields {
		if !knownField(k) {
			unknown = append(unknown, strconv.Quote(k))
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		add(k, "unknown field")
	}

	var sub submission
	sub.n = 1

	// images
	var lastInfo *imageinfo.Info
	switch raw, ok := fields["images"]; {
	case !ok || isNull(raw):
		add("images", "is required")
	case kind(raw) != '[':
		add("images", "must be an array of strings")
	default:
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			add("images", "must be an array of strings")
			break
		}
		if len(items) < 1 || len(items) > maxImages {
			add("images", "has %d items, must have 1 to %d", len(items), maxImages)
		}
		for i, item := range items {
			name := fmt.Sprintf("images[%d]", i)
			var s string
			if kind(item) != '"' || json.Unmarshal(item, &s) != nil {
				add(name, "must be a string")
				continue
			}
			sub.req.Images = append(sub.req.Images, s)
			uri, info, msg, warning := checkImage(s)
			if msg != "" {
				add(name, "%s", msg)
				continue
			}
			if warning != "" {
				sub.warnings = append(sub.warnings, name+": "+warning)
			}
			if i == len(items)-1 {
				if uri != nil {
					sub.source, sub.srcFormat = uri.Data, info.Format
					lastInfo = &info
				}
			}
		}
	}

	// prompt
	switch raw, ok := fields["prompt"]; {
	case !ok || isNull(raw):
		add("prompt", "is required")
	default:
		s, ok := decodeString(raw)
		switch {
		case !ok:
			add("prompt", "must be a string")
		case strings.TrimSpace(s) == "":
			add("prompt", "must not be blank")
		case utf8.RuneCountInString(s) > maxPromptRunes:
			add("prompt", "has %d characters, must have at most %d", utf8.RuneCountInString(s), maxPromptRunes)
		default:
			sub.req.Prompt = s
		}
	}

	// negative_prompt: string or null
	if raw, ok := fields["negative_prompt"]; ok && !isNull(raw) {
		s, ok := decodeString(raw)
		switch {
		case !ok:
			add("negative_prompt", "must be a string or null")
		case utf8.RuneCountInString(s) > maxNegativeRunes:
			add("negative_prompt", "has %d characters, must have at most %d", utf8.RuneCountInString(s), maxNegativeRunes)
		default:
			sub.req.NegativePrompt = &s
		}
	}

	// n
	if raw, ok := fields["n"]; ok {
		v, ok := decodeInt(raw)
		switch {
		case !ok:
			add("n", "must be an integer")
		case v < minN || v > maxN:
			add("n", "is %d, must be %d to %d", v, minN, maxN)
		default:
			n := int(v)
			sub.req.N, sub.n = &n, n
		}
	}

	// seed
	if raw, ok := fields["seed"]; ok {
		v, ok := decodeInt(raw)
		switch {
		case !ok:
			add("seed", "must be an integer")
		case v < 0 || v > maxSeed:
			add("seed", "is %d, must be 0 to %d", v, maxSeed)
		default:
			seed := int(v)
			sub.req.Seed = &seed
		}
	}

	// size: "W*H"; "" means the default, as in the documentation's full example.
	if raw, ok := fields["size"]; ok {
		s, ok := decodeString(raw)
		if !ok {
			add("size", "must be a string \"width*height\"")
		} else if s != "" {
			w, h, msg := parseSize(s)
			if msg != "" {
				add("size", "%s", msg)
			} else {
				sub.req.Size = &s
				sub.outW, sub.outH = roundTo16(w), roundTo16(h)
			}
		}
	}

	for _, name := range []string{"prompt_extend", "safety_filter"} {
		raw, ok := fields[name]
		if !ok || (name == "safety_filter" && isNull(raw)) {
			continue
		}
		var b bool
		if kind(raw) != 't' && kind(raw) != 'f' || json.Unmarshal(raw, &b) != nil {
			if name == "safety_filter" {
				add(name, "must be a boolean or null")
			} else {
				add(name, "must be a boolean")
			}
			continue
		}
		if name == "prompt_extend" {
			sub.req.PromptExtend = &b
		} else {
			sub.req.SafetyFilter = &b
		}
	}

	if len(problems) > 0 {
		return submission{}, strings.Join(problems, "; ")
	}
	if sub.outW == 0 {
		sub.outW, sub.outH = defaultResultMaxSide, defaultResultMaxSide
		if lastInfo != nil {
			sub.outW, sub.outH = fitWithin(lastInfo.Width, lastInfo.Height, defaultResultMaxSide)
		}
	}
	return sub, ""
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
			if size > maxImageBytes {
				return nil, imageinfo.Info{}, fmt.Sprintf("image is %d bytes, must be at most %d (10 MB)", size, maxImageBytes), ""
			}
		}
		parsed, err := datauri.Parse(s)
		if err != nil {
			return nil, imageinfo.Info{}, fmt.Sprintf("is not a valid data URI: %v", err), ""
		}
		if len(parsed.Data) > maxImageBytes {
			return nil, imageinfo.Info{}, fmt.Sprintf("image is %d bytes, must be at most %d (10 MB)", len(parsed.Data), maxImageBytes), ""
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
		if info.Width < minImageSide || info.Width > maxImageSide || info.Height < minImageSide || info.Height > maxImageSide {
			return nil, imageinfo.Info{}, fmt.Sprintf("image is %d×%d pixels, width and height must be %d to %d", info.Width, info.Height, minImageSide, maxImageSide), ""
		}
		return &parsed, info, "", warning
	default:
		return nil, imageinfo.Info{}, "must be an http(s) URL or a data:<mime>;base64,<data> URI", ""
	}
}

// parseSize parses "W*H" with each side in [minSizeSide, maxSizeSide].
func parseSize(s string) (w, h int, msg string) {
	ws, hs, ok := strings.Cut(s, "*")
	w, werr := strconv.Atoi(ws)
	h, herr := strconv.Atoi(hs)
	if !ok || werr != nil || herr != nil || !allDigits(ws) || !allDigits(hs) {
		return 0, 0, fmt.Sprintf("%q is not of the form \"width*height\"", s)
	}
	if w < minSizeSide || w > maxSizeSide || h < minSizeSide || h > maxSizeSide {
		return 0, 0, fmt.Sprintf("%q: width and height must be %d to %d", s, minSizeSide, maxSizeSide)
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
	return min(max((side+8)/16*16, minSizeSide), maxSizeSide)
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
