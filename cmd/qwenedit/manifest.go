package main

// batch -manifest: a JSON Lines file, one edit per line, for catalogues
// where each image gets its own instruction, or several images one edit
// ("put the shirt of Image 2 on Image 1"). Every line is checked before
// the first paid call: a mistake on line 900 must not be found after 899
// tasks were paid for.

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/seed-b62e15c8/qwenedit/internal/limits"
)

// manifestHelp describes the manifest, for batch -h.
const manifestHelp = `With -manifest FILE (instead of -in and -prompt), each line of FILE is one edit, a JSON
object: "images", 1 to 3 paths (relative to FILE's folder) or http(s) URLs, "Image 1" to
"Image 3" in its prompt; "prompt"; optionally "out", the stem of its results (default: the
first image's name without its extension), and the request fields "n", "size" ("W*H"),
"seed", "negative_prompt", "prompt_extend" and "safety_filter". For example:
  {"images": ["shoes/red.jpg"], "prompt": "Put the shoe on a white background", "out": "red"}
  {"images": ["model.jpg", "shirts/blue.png"], "prompt": "Dress the person of Image 1 in the shirt of Image 2", "n": 2}
Every line is checked before anything is sent (images read, limits, out names unique):
a bad line stops the command with exit status 2, naming its line number. The journal
keys each line by its out name and the SHA-256 of its request (its images' bytes, prompt
and fields): a changed line is a new edit.`

// manifestLine is one line of a manifest, as JSON.
type manifestLine struct {
	Images []string `json:"images"`
	Prompt string   `json:"prompt"`
	Out    string   `json:"out"`
	requestFields
}

// manifestFields are the names a line may have, for the message about one it may not.
const manifestFields = "images, prompt, out, n, size, seed, negative_prompt, prompt_extend, safety_filter"

// lineProblem is what is wrong with one line of a manifest.
type lineProblem struct {
	line int
	msg  string
}

// readManifest reads and checks every line of the manifest at path
// (absolute) and returns its jobs, or, if any line is bad, a usage failure
// after writing every problem to stderr, one line each.
func readManifest(c *cli, path string) ([]job, error) {
	f, err := os.Open(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, configf("-manifest %s: no such file; nothing was sent", path)
	case err != nil:
		return nil, configf("-manifest %s: %v; nothing was sent", path, bareError(err))
	}
	defer f.Close()
	jobs, problems, lines, err := parseManifest(f, filepath.Dir(path))
	switch {
	case err != nil:
		return nil, configf("-manifest %s: %v; nothing was sent", path, err)
	case len(problems) > 0:
		for _, p := range problems {
			fmt.Fprintf(c.stderr, "%s line %d: %s\n", path, p.line, p.msg)
		}
		return nil, usagef("-manifest %s: %d of %d lines are bad (above); nothing was sent", path, badLines(problems), lines)
	case len(jobs) == 0:
		return nil, usagef("-manifest %s holds no edit: want one JSON object per line", path)
	}
	return jobs, nil
}

// badLines counts the lines with at least one problem.
func badLines(problems []lineProblem) int {
	bad := map[int]bool{}
	for _, p := range problems {
		bad[p.line] = true
	}
	return len(bad)
}

// parseManifest reads a manifest from r, its relative paths relative to
// dir. It returns a job for each good line, the problems of the others
// (and those between lines: two lines with one out name), and how many
// lines hold an edit. Blank lines are skipped; lines are counted from 1,
// as editors count them.
func parseManifest(r io.Reader, dir string) (jobs []job, problems []lineProblem, lines int, err error) {
	rd := bufio.NewReader(r)
	taken := map[string]int{} // result stems, lower case, by the line that takes them
	for n := 1; ; n++ {
		text, rerr := rd.ReadBytes('\n')
		if len(bytes.TrimSpace(text)) > 0 {
			lines++
			jb, msgs := parseLine(text, n, dir)
			msgs = append(msgs, claimStems(taken, jb, n)...)
			for _, m := range msgs {
				problems = append(problems, lineProblem{n, m})
			}
			if len(msgs) == 0 {
				jobs = append(jobs, jb)
			}
		}
		if errors.Is(rerr, io.EOF) {
			return jobs, problems, lines, nil
		}
		if rerr != nil {
			return nil, nil, 0, rerr
		}
	}
}

// parseLine decodes and checks line n: its JSON, then its request, as
// Validate checks it before a submit, images read included.
func parseLine(text []byte, n int, dir string) (job, []string) {
	var l manifestLine
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return job{}, []string{jsonProblem(err)}
	}
	if dec.More() {
		return job{}, []string{"more than one JSON value: one edit per line"}
	}
	if len(l.Images) < limits.MinImages || len(l.Images) > limits.MaxImages {
		return job{}, []string{fmt.Sprintf("images: give %d to %d paths or URLs, not %d", limits.MinImages, limits.MaxImages, len(l.Images))}
	}
	images := make([]string, len(l.Images))
	for i, img := range l.Images {
		images[i] = resolveImage(img, dir)
	}
	l.requestFields = l.normalized()
	jb := job{file: l.Out, stem: l.Out, line: n, edit: editSpec{images: images, prompt: l.Prompt, fields: l.requestFields}}
	if jb.file == "" {
		jb.file = defaultOut(l.Images[0])
		jb.stem = jb.file
	}
	var msgs []string
	if msg := checkOut(jb.file, l.Out == ""); msg != "" {
		msgs = append(msgs, msg)
	}
	req, err := newRequest(images, l.Prompt, l.requestFields, "size")
	if err == nil {
		err = req.Validate()
	}
	if err != nil {
		x := &explainer{images: images, jsonFields: true}
		return jb, append(msgs, x.message(err))
	}
	if len(msgs) > 0 {
		return jb, msgs
	}
	sum, err := lineSum(jb)
	if err != nil {
		return jb, []string{err.Error()}
	}
	jb.sum = sum
	return jb, nil
}

// jsonProblem words a decoding error of a line.
func jsonProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field[strings.LastIndex(typeErr.Field, ".")+1:]
		return fmt.Sprintf("%s: want %s, not a JSON %s", field, jsonKind(typeErr.Type.Kind()), typeErr.Value)
	case errors.As(err, &syntaxErr):
		return "not a JSON object: " + syntaxErr.Error()
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return strings.TrimPrefix(err.Error(), "json: ") + " (a line has " + manifestFields + ")"
	}
	return "not a JSON object: " + err.Error()
}

// jsonKind names what a Go kind takes in JSON.
func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.Int, reflect.Int64:
		return "a whole number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "a list"
	}
	return "an object"
}

// resolveImage is a manifest's image as the request takes it: a URL as it
// is, a relative path relative to the manifest's folder.
func resolveImage(img, dir string) string {
	if isURL, _ := urlArg(img); isURL || strings.HasPrefix(strings.ToLower(img), "data:") || filepath.IsAbs(img) {
		return img
	}
	return filepath.Join(dir, img)
}

// defaultOut is the stem of a line's results when it names none: its first
// image's name without extension (a URL's last part).
func defaultOut(img string) string {
	name := filepath.Base(img)
	if isURL, _ := urlArg(img); isURL {
		if u, err := url.Parse(img); err == nil {
			name = path.Base(u.Path)
		}
	}
	return strings.TrimSuffix(name, path.Ext(name))
}

// checkOut words what is wrong with a line's out name, "" if nothing:
// results are files directly in -out, and visible ones.
func checkOut(out string, derived bool) string {
	what := fmt.Sprintf("out %q", out)
	if derived {
		what = fmt.Sprintf("out (%q, from the first image)", out)
	}
	switch {
	case out == "" || out == "." || out == "..":
		return what + ": give a name for the results"
	case strings.ContainsAny(out, `/\`) || filepath.Base(out) != out:
		return what + ": a name, not a path (the results go into -out)"
	case strings.HasPrefix(out, "."):
		return what + ": must not start with a dot (hidden files are not results)"
	case strings.ContainsRune(out, 0):
		return what + ": must not hold a NUL character"
	}
	return ""
}

// claimStems reserves the names of jb's results, failing for those a line
// before took (letter case aside, as on macOS and Windows).
func claimStems(taken map[string]int, jb job, n int) []string {
	if jb.stem == "" {
		return nil
	}
	var msgs []string
	for _, s := range resultStems(jb.stem, jb.edit.fields.results()) {
		key := strings.ToLower(s)
		if first, ok := taken[key]; ok {
			msgs = append(msgs, fmt.Sprintf("out %q: its result %s.png is line %d's too; give each line an out of its own", jb.stem, s, first))
			continue
		}
		taken[key] = n
	}
	return msgs
}

// lineSum is the identity of a line's edit: the SHA-256 of its out name,
// prompt, fields and images (a local image by the SHA-256 of its bytes, a
// URL as written), so that a changed line, or a changed image, is a new
// edit to the journal.
func lineSum(jb job) (string, error) {
	id := struct {
		Out    string        `json:"out"`
		Prompt string        `json:"prompt"`
		Fields requestFields `json:"fields"`
		Images []string      `json:"images"`
	}{Out: jb.file, Prompt: jb.edit.prompt, Fields: jb.edit.fields}
	for i, img := range jb.edit.images {
		if isURL, _ := urlArg(img); isURL {
			id.Images = append(id.Images, img)
			continue
		}
		sum, err := fileSum(img)
		if err != nil {
			return "", fmt.Errorf("image %d: %w", i+1, bareError(err))
		}
		id.Images = append(id.Images, "sha256:"+sum)
	}
	data, err := json.Marshal(id)
	if err != nil {
		return "", err
	}
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:]), nil
}
