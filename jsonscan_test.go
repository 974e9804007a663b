package qwenedit

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// FuzzValidJSON holds validJSON to json.Valid on any input.
func FuzzValidJSON(f *testing.F) {
	for _, s := range []string{
		``, ` `, `{}`, `[]`, ` {"a" : [1, -0.5e+3, true, false, null, "x\"\\\/\b\f\n\r\tA\u00e9"]} `,
		`{"a":1,}`, `[1,]`, `{"a"}`, `{1:2}`, `"\x"`, `"\u12g4"`, "\"\x01\"", "\"\xff\"", `01`, `-`, `1.`, `.5`, `1e`, `1e+`,
		`tru`, `nul`, `[1 2]`, `{"a":1 "b":2}`, `{} {}`, `"unterminated`, `[[[[`, `]`, pendingJS, completeJS, failedJS,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		assert.Equal(t, json.Valid(b), validJSON(b), "%q", b)
	})
}

// TestValidJSONDepth: nesting is accepted to json.Valid's own limit and no
// further.
func TestValidJSONDepth(t *testing.T) {
	for _, depth := range []int{maxJSONDepth - 1, maxJSONDepth, maxJSONDepth + 1} {
		for _, open := range []string{"[", `{"a":`} {
			closer := map[string]string{"[": "]", `{"a":`: "}"}[open]
			b := []byte(strings.Repeat(open, depth) + "1" + strings.Repeat(closer, depth))
			assert.Equal(t, json.Valid(b), validJSON(b), "depth %d of %s", depth, open)
			assert.Equal(t, depth <= maxJSONDepth, validJSON(b), "depth %d of %s", depth, open)
		}
	}
}
