// Package recolor is the code under test of examples/testing: a function
// of the kind an application built on the SDK has, and, in recolor_test.go,
// how to test it offline with the SDK's fake server, package qwenedittest.
package recolor

import (
	"context"
	"errors"

	"github.com/seed-b62e15c8/qwenedit"
)

// Seed makes the same photo and colour give the same picture.
const Seed = 42

// Sky turns the sky of the photo at path the given colour, saves the result
// into dir and returns the file's path. poll tunes the wait (tests make it
// quick).
func Sky(ctx context.Context, client *qwenedit.Client, path, colour, dir string, poll ...qwenedit.PollOption) (string, error) {
	if colour == "" {
		return "", errors.New("recolor: no colour")
	}
	task, err := client.Edit(ctx, &qwenedit.EditRequest{
		Images:         []qwenedit.Image{qwenedit.ImageFile(path)},
		Prompt:         "Turn the sky " + colour + ", keep everything else as it is",
		NegativePrompt: "text, watermark",
		Seed:           qwenedit.Ptr(Seed),
	}, poll...)
	if err != nil {
		return "", err
	}
	paths, err := client.SaveImages(ctx, task, dir)
	if err != nil {
		return "", err
	}
	return paths[0], nil
}
