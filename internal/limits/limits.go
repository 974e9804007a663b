// Package limits holds the limits of a qwen-image-edit request, as the
// vendor documentation gives them, in one place for the SDK, which checks
// a request before paying for it, and for its fake server, which must
// refuse what the real API refuses: two copies would drift apart.
//
// Each check returns "" for an acceptable value, else what is wrong with
// it, worded to follow the field's name ("prompt: has 801 characters, at
// most 800 are allowed").
package limits

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The limits.
const (
	MinImages              = 1
	MaxImages              = 3
	MaxPromptRunes         = 800 // characters (runes), not bytes
	MaxNegativePromptRunes = 500 // characters (runes)
	MinN                   = 1
	MaxN                   = 6
	MaxSeed                = 2147483647
	MinSizeSide            = 512 // output width and height, pixels
	MaxSizeSide            = 2048
	// MaxImageBytes is the largest input image, in raw bytes before base64:
	// the vendor says "no larger than 10 MB", read conservatively as
	// 10,000,000 bytes rather than 10 MiB (10,485,760), so that an image
	// the server might refuse is refused before a paid call.
	MaxImageBytes = 10_000_000
	MinImageSide  = 384 // input width and height, pixels
	MaxImageSide  = 3072
)

// Prompt checks the prompt: required, at most MaxPromptRunes characters.
func Prompt(s string) string {
	switch {
	case !utf8.ValidString(s):
		return "is not valid UTF-8"
	case strings.TrimSpace(s) == "":
		return "is required"
	}
	return runes(s, MaxPromptRunes)
}

// NegativePrompt checks the negative prompt: at most
// MaxNegativePromptRunes characters, empty allowed.
func NegativePrompt(s string) string {
	if !utf8.ValidString(s) {
		return "is not valid UTF-8"
	}
	return runes(s, MaxNegativePromptRunes)
}

func runes(s string, limit int) string {
	if n := utf8.RuneCountInString(s); n > limit {
		return fmt.Sprintf("has %d characters, at most %d are allowed", n, limit)
	}
	return ""
}

// ImageCount checks the number of input images.
func ImageCount(n int) string {
	if n < MinImages || n > MaxImages {
		return fmt.Sprintf("has %d images, must have %d to %d", n, MinImages, MaxImages)
	}
	return ""
}

// N checks the number of results asked for.
func N(n int64) string { return inRange(n, MinN, MaxN) }

// Seed checks the seed.
func Seed(seed int64) string { return inRange(seed, 0, MaxSeed) }

func inRange(v, lo, hi int64) string {
	if v < lo || v > hi {
		return fmt.Sprintf("is %d, must be %d to %d", v, lo, hi)
	}
	return ""
}

// SizeSide checks one side of the output size; name is "width" or
// "height".
func SizeSide(name string, v int) string {
	if msg := inRange(int64(v), MinSizeSide, MaxSizeSide); msg != "" {
		return name + " " + msg
	}
	return ""
}

// ImageSides checks the pixel size of an input image.
func ImageSides(w, h int) string {
	if bad := func(v int) bool { return v < MinImageSide || v > MaxImageSide }; bad(w) || bad(h) {
		return fmt.Sprintf("is %d×%d pixels, width and height must be %d to %d", w, h, MinImageSide, MaxImageSide)
	}
	return ""
}

// ImageBytes checks the size of an input image in raw bytes.
func ImageBytes(n int64) string {
	if n > MaxImageBytes {
		return "is " + GroupDigits(n) + " bytes, " + imageBytesAllowed()
	}
	return ""
}

// ImageBytesOver is ImageBytes's message for an image known only to have
// more bytes than allowed (a reader read no further than the limit).
func ImageBytesOver() string {
	return "has more than " + GroupDigits(MaxImageBytes) + " bytes, " + imageBytesAllowed()
}

func imageBytesAllowed() string {
	return "at most 10 MB (" + GroupDigits(MaxImageBytes) + " bytes) is allowed"
}

// GroupDigits writes n with thousands separators, "10,000,000", so that
// a limit and a size near it can be told apart at a glance.
func GroupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	if n < 0 {
		return s // sizes are never negative
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
