package limits

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestChecks(t *testing.T) {
	for _, tc := range []struct {
		name, got, want string
	}{
		{"prompt ok", Prompt(strings.Repeat("猫", MaxPromptRunes)), ""},
		{"prompt long", Prompt(strings.Repeat("猫", MaxPromptRunes+1)), "has 801 characters, at most 800 are allowed"},
		{"prompt blank", Prompt(" \t"), "is required"},
		{"prompt not UTF-8", Prompt("\xff"), "is not valid UTF-8"},
		{"negative empty", NegativePrompt(""), ""},
		{"negative long", NegativePrompt(strings.Repeat("é", 501)), "has 501 characters, at most 500 are allowed"},
		{"images 0", ImageCount(0), "has 0 images, must have 1 to 3"},
		{"images 3", ImageCount(3), ""},
		{"n 6", N(6), ""},
		{"n 7", N(7), "is 7, must be 1 to 6"},
		{"seed max", Seed(MaxSeed), ""},
		{"seed -1", Seed(-1), "is -1, must be 0 to 2147483647"},
		{"size 511", SizeSide("width", 511), "width is 511, must be 512 to 2048"},
		{"size 2048", SizeSide("height", 2048), ""},
		{"pixels", ImageSides(383, 400), "is 383×400 pixels, width and height must be 384 to 3072"},
		{"pixels ok", ImageSides(384, 3072), ""},
		{"bytes ok", ImageBytes(MaxImageBytes), ""},
		{"bytes", ImageBytes(MaxImageBytes + 1), "is 10,000,001 bytes, at most 10 MB (10,000,000 bytes) is allowed"},
	} {
		assert.Equal(t, tc.want, tc.got, tc.name)
	}
	assert.Equal(t, "999", GroupDigits(999))
	assert.Equal(t, "-5", GroupDigits(-5))
}
