package main

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
)

// demoImage is one of the pictures the program draws when no -image is given.
type demoImage struct {
	name, role string
	draw       func() *image.NRGBA
}

// demoImages are a person, a scene and a style swatch, in the order the
// default prompt refers to them. The last one is landscape, so the output's
// aspect ratio (which follows the last image) shows where it came from.
var demoImages = []demoImage{
	{"image1-person.png", "a person", drawPerson},
	{"image2-scene.png", "a scene", drawScene},
	{"image3-style.png", "a style", drawStyle},
}

// writeDemoImages draws the demo images into dir and returns their paths in order.
func writeDemoImages(dir string) ([]string, error) {
	paths := make([]string, 0, len(demoImages))
	for _, d := range demoImages {
		p := filepath.Join(dir, d.name)
		if err := writePNG(p, d.draw()); err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

func writePNG(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("encode %s: %w", path, err)
	}
	return f.Close()
}

// Sizes respect the API's minimum side of 384 px.
const demoSide = 512

func drawPerson() *image.NRGBA {
	img := canvas(demoSide, demoSide, color.NRGBA{235, 235, 225, 255})
	skin := color.NRGBA{224, 172, 105, 255}
	fillCircle(img, 256, 130, 60, skin)                                          // head
	fillRect(img, image.Rect(186, 200, 326, 360), color.NRGBA{40, 90, 200, 255}) // shirt
	fillRect(img, image.Rect(146, 210, 186, 330), skin)                          // arms
	fillRect(img, image.Rect(326, 210, 366, 330), skin)
	fillRect(img, image.Rect(196, 360, 246, 490), color.NRGBA{50, 50, 60, 255}) // legs
	fillRect(img, image.Rect(266, 360, 316, 490), color.NRGBA{50, 50, 60, 255})
	return img
}

func drawScene() *image.NRGBA {
	img := canvas(demoSide, demoSide, color.NRGBA{})
	for y := range demoSide { // sky, darker at the top
		c := color.NRGBA{uint8(90 + y/6), uint8(150 + y/8), 250, 255}
		fillRect(img, image.Rect(0, y, demoSide, y+1), c)
	}
	fillCircle(img, 400, 100, 50, color.NRGBA{255, 220, 60, 255}) // sun
	fillCircle(img, 130, 560, 260, color.NRGBA{70, 160, 70, 255}) // hills
	fillCircle(img, 420, 600, 260, color.NRGBA{50, 130, 60, 255})
	fillRect(img, image.Rect(0, 440, demoSide, demoSide), color.NRGBA{60, 140, 60, 255}) // meadow
	return img
}

// drawStyle is a Mondrian-like composition, 640×480.
func drawStyle() *image.NRGBA {
	const w, h = 640, 480
	img := canvas(w, h, color.NRGBA{245, 240, 230, 255})
	fillRect(img, image.Rect(0, 0, 250, 200), color.NRGBA{200, 30, 30, 255})
	fillRect(img, image.Rect(480, 320, w, h), color.NRGBA{30, 60, 170, 255})
	fillRect(img, image.Rect(0, 400, 120, h), color.NRGBA{250, 210, 30, 255})
	black := color.NRGBA{20, 20, 20, 255}
	for _, x := range []int{250, 480} {
		fillRect(img, image.Rect(x-6, 0, x+6, h), black)
	}
	for _, y := range []int{200, 320, 400} {
		fillRect(img, image.Rect(0, y-6, w, y+6), black)
	}
	return img
}

func canvas(w, h int, bg color.NRGBA) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	fillRect(img, img.Bounds(), bg)
	return img
}

func fillRect(img *image.NRGBA, r image.Rectangle, c color.NRGBA) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetNRGBA(x, y, c)
		}
	}
}

func fillCircle(img *image.NRGBA, cx, cy, r int, c color.NRGBA) {
	box := image.Rect(cx-r, cy-r, cx+r+1, cy+r+1).Intersect(img.Bounds())
	for y := box.Min.Y; y < box.Max.Y; y++ {
		for x := box.Min.X; x < box.Max.X; x++ {
			if dx, dy := x-cx, y-cy; dx*dx+dy*dy <= r*r {
				img.SetNRGBA(x, y, c)
			}
		}
	}
}
