package qwenedittest

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/seed-b62e15c8/qwenedit/internal/datauri"
	"github.com/seed-b62e15c8/qwenedit/internal/imageinfo"
	"github.com/seed-b62e15c8/qwenedit/internal/imagetest"
)

// TestImageByteLimitIsTenMB: like the SDK, the fake reads the vendor's
// "no larger than 10 MB" as 10,000,000 bytes, so that a test against the
// fake cannot pass with an image the SDK (or the real API) refuses.
func TestImageByteLimitIsTenMB(t *testing.T) {
	png := imagetest.MustEncode(t, imageinfo.PNG, 400, 400)
	sized := func(n int) string {
		data := make([]byte, n)
		copy(data, png)
		return datauri.URI{MediaType: "image/png", Data: data}.String()
	}
	_, _, msg, _ := checkImage(sized(10_000_000))
	assert.Empty(t, msg)
	for _, n := range []int{10_000_001, 10 << 20} {
		_, _, msg, _ := checkImage(sized(n))
		assert.Contains(t, msg, "at most 10 MB (10,000,000 bytes) is allowed", "%d bytes", n)
	}
}
