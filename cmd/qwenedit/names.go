package main

import "fmt"

// resultsNaming is the rule every command names results by, for the -h
// texts: one rule, so that a script written against one command works
// with the others.
const resultsNaming = `A single result is saved as <stem>.png; several (-n) as <stem>_1.png, <stem>_2.png, ...,
counted from 1 as prompts count images.`

// resultName is the file name of the i-th (from 0) of count results of one
// task, saved under stem with the extension ext: stem.ext alone, else
// stem_1.ext, stem_2.ext, ... The SDK's SaveImages counts from 0, as the
// API does; people, and prompts ("Image 1"), count from 1.
func resultName(stem string, i, count int, ext string) string {
	if count == 1 {
		return stem + ext
	}
	return fmt.Sprintf("%s_%d%s", stem, i+1, ext)
}

// resultStems are the names without extension that count results saved
// under stem take, as resultName gives them.
func resultStems(stem string, count int) []string {
	stems := make([]string, count)
	for i := range stems {
		stems[i] = resultName(stem, i, count, "")
	}
	return stems
}
