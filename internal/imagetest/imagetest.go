// Package imagetest makes image fixtures of any format and size for tests
// and benchmarks, so the repository need not carry binary files.
package imagetest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"testing"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"

	"github.com/seed-b62e15c8/qwenedit/internal/imageinfo"
)

// Encode returns a valid w×h image in format f with a deterministic gradient
// (WEBP: one solid colour, see solidWebP).
func Encode(f imageinfo.Format, w, h int) ([]byte, error) {
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("imagetest: bad size %d×%d", w, h)
	}
	if f == imageinfo.WEBP {
		return solidWebP(w, h, color.NRGBA{R: 40, G: 120, B: 200, A: 255})
	}
	img := gradient(w, h)
	var buf bytes.Buffer
	var err error
	switch f {
	case imageinfo.JPEG:
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 75})
	case imageinfo.PNG:
		err = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, img)
	case imageinfo.GIF:
		err = gif.Encode(&buf, img, &gif.Options{NumColors: 16})
	case imageinfo.BMP:
		err = bmp.Encode(&buf, img)
	case imageinfo.TIFF:
		err = tiff.Encode(&buf, img, &tiff.Options{Compression: tiff.Deflate})
	default:
		return nil, fmt.Errorf("imagetest: unknown format %q", f)
	}
	if err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// MustEncode is Encode that fails the test on error.
func MustEncode(tb testing.TB, f imageinfo.Format, w, h int) []byte {
	tb.Helper()
	data, err := Encode(f, w, h)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

func gradient(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Pix[y*img.Stride+x*4+0] = uint8(x * 255 / w)
			img.Pix[y*img.Stride+x*4+1] = uint8(y * 255 / h)
			img.Pix[y*img.Stride+x*4+2] = 128
			img.Pix[y*img.Stride+x*4+3] = 255
		}
	}
	return img
}

// NoisePNG is a w×h PNG of pseudo-random RGB noise: incompressible, so about
// 3·w·h bytes (1800×1800 ≈ 9.7 MB), for benchmarks of large uploads.
func NoisePNG(w, h int, seed uint64) ([]byte, error) {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := 0; i < len(img.Pix); i += 4 {
		v := rng.Uint32()
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = uint8(v), uint8(v>>8), uint8(v>>16), 255
	}
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// solidWebP hand-builds a lossless (VP8L) WEBP of one colour: no transforms,
// no colour cache, and five "simple" prefix codes of one symbol each, so
// every pixel takes zero bits. x/image has no WEBP encoder.
func solidWebP(w, h int, c color.NRGBA) ([]byte, error) {
	if w > 1<<14 || h > 1<<14 {
		return nil, fmt.Errorf("imagetest: WEBP side over 16384")
	}
	var bw bitWriter
	bw.write(0x2f, 8) // VP8L signature
	bw.write(uint32(w-1), 14)
	bw.write(uint32(h-1), 14)
	bw.write(0, 1) // alpha hint
	bw.write(0, 3) // version
	bw.write(0, 1) // no transform
	bw.write(0, 1) // no colour cache
	bw.write(0, 1) // no meta prefix codes
	for _, sym := range []uint8{c.G, c.R, c.B, c.A, 0} {
		bw.write(1, 1) // simple code
		bw.write(0, 1) // one symbol
		bw.write(1, 1) // 8-bit symbol
		bw.write(uint32(sym), 8)
	}
	data := bw.bytes()
	if len(data)%2 == 1 {
		data = append(data, 0)
	}
	var out bytes.Buffer
	out.WriteString("RIFF")
	_ = binary.Write(&out, binary.LittleEndian, uint32(4+8+len(data)))
	out.WriteString("WEBPVP8L")
	_ = binary.Write(&out, binary.LittleEndian, uint32(len(bw.bytes())))
	out.Write(data)
	return out.Bytes(), nil
}

// bitWriter packs bits least-significant first, as VP8L reads them.
type bitWriter struct {
	buf   []byte
	acc   uint64
	nbits uint
}

func (b *bitWriter) write(v uint32, n uint) {
	b.acc |= uint64(v) << b.nbits
	b.nbits += n
	for b.nbits >= 8 {
		b.buf = append(b.buf, byte(b.acc))
		b.acc >>= 8
		b.nbits -= 8
	}
}

func (b *bitWriter) bytes() []byte {
	out := append([]byte(nil), b.buf...)
	if b.nbits > 0 {
		out = append(out, byte(b.acc))
	}
	return out
}
