package qwenedit_test

import (
	"bufio"
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestREADMEGoBlocksCompile type-checks every ```go block of README.md, so
// that no snippet a reader copies can rot as the API moves: each block is
// written as its own package of one temporary module that replaces this
// module with the repository, and one `go vet ./...` checks them all (vet
// type-checks test files too, which `go build` skips). Errors name the
// README's own lines, through //line directives.
//
// A block that starts with a package clause is a whole file, checked as it
// is (as a _test.go file if it declares a Test function). Any other block is
// a fragment and goes into a harness, see snippetFile.
func TestREADMEGoBlocksCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command on every README snippet")
	}
	goTool, err := exec.LookPath("go") // go test puts GOROOT/bin first in PATH
	if err != nil {
		t.Skipf("no go command to build the README's snippets with: %v", err)
	}
	readme, err := filepath.Abs("README.md")
	require.NoError(t, err)
	src, err := os.ReadFile(readme)
	require.NoError(t, err)
	blocks := goBlocks(src)
	require.NotEmpty(t, blocks, "README.md has no ```go block: did the fence syntax change?")

	dir := t.TempDir()
	writeSnippetModule(t, dir)
	for i, b := range blocks {
		name, text, err := snippetFile(readme, b)
		require.NoError(t, err)
		pkg := filepath.Join(dir, fmt.Sprintf("snippet%02d", i+1))
		require.NoError(t, os.Mkdir(pkg, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(pkg, name), text, 0o644))
	}

	cmd := exec.CommandContext(t.Context(), goTool, "vet", "./...")
	cmd.Dir = dir
	// -mod=mod lets the go command complete go.sum from the module cache
	// (the snippets' imports are all among this module's requirements, so
	// nothing new is fetched); GOWORK=off keeps any go.work around out.
	cmd.Env = append(os.Environ(), "GOFLAGS="+strings.TrimSpace(os.Getenv("GOFLAGS")+" -mod=mod"), "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("README.md's Go blocks do not compile (%v); fix the snippets:\n%s", err, out)
	}
}

// writeSnippetModule writes the go.mod and go.sum of the module that holds
// the snippets: this module's requirements (so testify and friends resolve
// to the versions already in go.sum and the module cache, offline) plus
// this module itself, replaced by the working tree under test.
func writeSnippetModule(t *testing.T, dir string) {
	t.Helper()
	root, err := os.Getwd()
	require.NoError(t, err)
	mod, err := os.ReadFile("go.mod")
	require.NoError(t, err)
	var modPath string
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(mod))
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "module "); ok {
			modPath = strings.TrimSpace(p)
			line = "module example.com/readmesnippets"
		}
		out.WriteString(line + "\n")
	}
	require.NoError(t, sc.Err())
	require.NotEmpty(t, modPath, "go.mod has no module line")
	fmt.Fprintf(&out, "\nrequire %s v0.0.0\n\nreplace %s => %s\n", modPath, modPath, root)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), out.Bytes(), 0o644))
	sum, err := os.ReadFile("go.sum")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644))
}

// codeBlock is the text of one fenced block and the README line where the
// text starts.
type codeBlock struct {
	line int
	text string
}

// goBlocks returns the ```go blocks of a Markdown document.
func goBlocks(md []byte) []codeBlock {
	var blocks []codeBlock
	var cur *codeBlock
	for i, line := range strings.Split(string(md), "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case cur != nil && trimmed == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.text += line + "\n"
		case strings.HasPrefix(trimmed, "```"):
			if info := strings.Fields(strings.TrimPrefix(trimmed, "```")); len(info) > 0 && info[0] == "go" {
				cur = &codeBlock{line: i + 2} // the fence is line i+1; the code starts on the next
			}
		}
	}
	return blocks
}

// The harness of a fragment: the packages README fragments use, each used
// once so that a fragment need not use them all, and for statements the
// variables they may use as they stand, named as in the Quick start: ctx,
// client and req.
const (
	harnessImports = `import (
	"context"
	"errors"
	"fmt"
	"log"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seed-b62e15c8/qwenedit"
	"github.com/seed-b62e15c8/qwenedit/qwenedittest"
)

var (
	_ = context.Background
	_ = errors.Is
	_ = fmt.Println
	_ = log.Fatal
	_ testing.TB
	_ = assert.Equal
	_ = require.NoError
	_ = qwenedit.NewClient
	_ = qwenedittest.NewServer
)
`
	harnessFunc = "func _(ctx context.Context, client *qwenedit.Client, req *qwenedit.EditRequest) {\n"
)

// snippetFile returns the name and content of the Go file that checks b,
// from the README at path:
//   - a whole file (a package clause first) as it is;
//   - top-level declarations with imports of their own under a package
//     clause, those without under the harness's imports; imports alone
//     become blank imports, so that only their paths are checked;
//   - anything else as the body of a function with the harness's imports
//     and the parameters ctx, client and req.
//
// A fragment that declares a Test function goes in a _test.go file.
func snippetFile(path string, b codeBlock) (string, []byte, error) {
	lineDirective := fmt.Sprintf("\n//line %s:%d\n", path, b.line)
	fset := token.NewFileSet()
	if f, err := parser.ParseFile(fset, "", b.text, parser.ParseComments); err == nil {
		return fileName(f), []byte(lineDirective[1:] + b.text), nil
	}

	const clause = "package snippet\n"
	if f, err := parser.ParseFile(fset, "", clause+b.text, parser.ParseComments); err == nil {
		text := b.text
		if onlyImports(f) {
			text = blankImports(f, fset, clause, text)
		}
		head := clause
		if len(f.Imports) == 0 {
			head += harnessImports
		}
		return fileName(f), []byte(head + lineDirective + text), nil
	}

	src := []byte(clause + harnessImports + harnessFunc + lineDirective + b.text + "}\n")
	if _, err := parser.ParseFile(fset, "", src, 0); err != nil {
		return "", nil, fmt.Errorf("README.md block at line %d is neither a Go file, nor declarations, nor statements: %w", b.line, err)
	}
	return "snippet.go", src, nil
}

// fileName is snippet_test.go for a file that declares a Test function, so
// that go vet checks it as a test, and snippet.go otherwise.
func fileName(f *ast.File) string {
	for _, d := range f.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil && strings.HasPrefix(fn.Name.Name, "Test") {
			return "snippet_test.go"
		}
	}
	return "snippet.go"
}

// onlyImports reports whether f declares imports and nothing else.
func onlyImports(f *ast.File) bool {
	for _, d := range f.Decls {
		if g, ok := d.(*ast.GenDecl); !ok || g.Tok != token.IMPORT {
			return false
		}
	}
	return len(f.Imports) > 0
}

// blankImports names every import of f "_", keeping the lines where they
// are. f was parsed from prefix+text.
func blankImports(f *ast.File, fset *token.FileSet, prefix, text string) string {
	var out strings.Builder
	last := 0
	for _, spec := range f.Imports {
		offset := func(p token.Pos) int { return fset.Position(p).Offset - len(prefix) }
		if spec.Name != nil { // name "path" becomes _ "path"
			out.WriteString(text[last:offset(spec.Name.Pos())])
			out.WriteString("_")
			last = offset(spec.Name.End())
		} else { // "path" becomes _ "path"
			out.WriteString(text[last:offset(spec.Path.Pos())])
			out.WriteString("_ ")
			last = offset(spec.Path.Pos())
		}
	}
	out.WriteString(text[last:])
	return out.String()
}

// TestSnippetHarness checks how each kind of block is placed, on blocks
// that do not depend on the README's current text.
func TestSnippetHarness(t *testing.T) {
	blocks := goBlocks([]byte("# t\n\n```go\nimport \"fmt\"\n```\n\n```sh\nls\n```\n\n ```go title\nx := 1\n_ = x\n```\n"))
	require.Len(t, blocks, 2)
	assert.Equal(t, codeBlock{line: 4, text: "import \"fmt\"\n"}, blocks[0])
	assert.Equal(t, codeBlock{line: 12, text: "x := 1\n_ = x\n"}, blocks[1])

	for _, c := range []struct {
		text, name string
		has        []string
	}{
		{"package main\n\nfunc main() {}\n", "snippet.go", []string{"//line README.md:7\npackage main\n"}},
		{"package x_test\n\nimport \"testing\"\n\nfunc TestX(t *testing.T) {}\n", "snippet_test.go", nil},
		{"import \"fmt\"\n", "snippet.go", []string{"package snippet\n\n//line README.md:7\nimport _ \"fmt\"\n"}},
		{"import (\n\tf \"fmt\"\n\t\"os\"\n)\n", "snippet.go", []string{"import (\n\t_ \"fmt\"\n\t_ \"os\"\n)\n"}},
		{"func f() error { return errors.New(\"x\") }\n", "snippet.go", []string{harnessImports, "//line README.md:7\nfunc f()"}},
		{"func TestY(t *testing.T) {}\n", "snippet_test.go", []string{harnessImports}},
		{"_, err := client.Edit(ctx, req)\n_ = err\n", "snippet.go", []string{harnessFunc + "\n//line README.md:7\n_, err :=", "_ = err\n}\n"}},
	} {
		name, src, err := snippetFile("README.md", codeBlock{line: 7, text: c.text})
		require.NoError(t, err, c.text)
		assert.Equal(t, c.name, name, c.text)
		for _, s := range c.has {
			assert.Contains(t, string(src), s, c.text)
		}
	}
	_, _, err := snippetFile("README.md", codeBlock{line: 7, text: "func (\n"})
	assert.ErrorContains(t, err, "line 7")
}

// TestExamplesImportNoInternalPackage: the example programs are there to be
// copied, and a copy outside this module cannot import internal/ packages.
func TestExamplesImportNoInternalPackage(t *testing.T) {
	files, err := filepath.Glob("examples/*/*.go")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		require.NoError(t, err)
		for _, imp := range f.Imports {
			assert.NotContains(t, imp.Path.Value, "/internal/", "%s imports %s", name, imp.Path.Value)
		}
	}
}
