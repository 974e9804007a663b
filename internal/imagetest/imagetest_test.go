package imagetest

import (
	"bytes"
	"image/color"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-b62e15c8/qwenedit/internal/imageinfo"
)

func TestEncodeDecodesToTheRequestedSize(t *testing.T) {
	for _, f := range []imageinfo.Format{imageinfo.JPEG, imageinfo.PNG, imageinfo.GIF, imageinfo.BMP, imageinfo.TIFF, imageinfo.WEBP} {
		for _, sz := range [][2]int{{1, 1}, {17, 5}, {400, 300}} {
			data := MustEncode(t, f, sz[0], sz[1])
			img, err := imageinfo.Decode(bytes.NewReader(data), f)
			require.NoError(t, err, "%s %v", f, sz)
			assert.Equal(t, sz[0], img.Bounds().Dx(), "%s", f)
			assert.Equal(t, sz[1], img.Bounds().Dy(), "%s", f)
		}
	}
	_, err := Encode(imageinfo.PNG, 0, 5)
	assert.Error(t, err)
	_, err = Encode("svg", 5, 5)
	assert.Error(t, err)
}

func TestSolidWebPColour(t *testing.T) {
	want := color.NRGBA{R: 40, G: 120, B: 200, A: 255}
	img, err := imageinfo.Decode(bytes.NewReader(MustEncode(t, imageinfo.WEBP, 9, 7)), imageinfo.WEBP)
	require.NoError(t, err)
	assert.Equal(t, want, color.NRGBAModel.Convert(img.At(8, 6)))
}

func TestNoisePNGIsIncompressible(t *testing.T) {
	data, err := NoisePNG(200, 100, 1)
	require.NoError(t, err)
	assert.Greater(t, len(data), 200*100*3)
	again, err := NoisePNG(200, 100, 1)
	require.NoError(t, err)
	assert.Equal(t, data, again, "deterministic for a seed")
	info, err := imageinfo.Inspect(bytes.NewReader(data), int64(len(data)))
	require.NoError(t, err)
	assert.Equal(t, imageinfo.Info{Format: imageinfo.PNG, Width: 200, Height: 100}, info)
}
