package qwenedit

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// This file is the small JSON scanner decode.go reads with: validJSON
// checks a body once, and the walkers below then read JSON it accepted. A
// value is its raw text without surrounding spaces; nil stands for an
// absent value.

// maxJSONDepth is the deepest nesting json.Valid accepts.
const maxJSONDepth = 10000

// validJSON reports whether b is one JSON value, with spaces around it or
// not, exactly as json.Valid does (FuzzValidJSON holds it to that), in one
// pass without encoding/json's state machine: a task answer decodes in
// about three quarters of the time it took with json.Valid (BENCHMARKS.md).
// Like json.Valid, it does not check UTF-8 inside strings.
func validJSON(b []byte) bool {
	i, ok := validValue(b, skipSpace(b, 0), 0)
	return ok && skipSpace(b, i) == len(b)
}

// validValue checks the value at b[i], inside depth containers, and
// returns the index just past it.
func validValue(b []byte, i, depth int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch c := b[i]; {
	case c == '{' || c == '[':
		return validContainer(b, i, depth+1)
	case c == '"':
		return validString(b, i)
	case c == 't':
		return validLiteral(b, i, "true")
	case c == 'f':
		return validLiteral(b, i, "false")
	case c == 'n':
		return validLiteral(b, i, "null")
	case c == '-' || '0' <= c && c <= '9':
		return validNumber(b, i)
	}
	return i, false
}

// validContainer checks the object or list at b[i], the depth-th level.
func validContainer(b []byte, i, depth int) (int, bool) {
	if depth > maxJSONDepth {
		return i, false
	}
	obj, closer := b[i] == '{', byte(']')
	if obj {
		closer = '}'
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == closer {
		return i + 1, true
	}
	var ok bool
	for {
		if obj {
			if i >= len(b) || b[i] != '"' {
				return i, false
			}
			if i, ok = validString(b, i); !ok {
				return i, false
			}
			if i = skipSpace(b, i); i >= len(b) || b[i] != ':' {
				return i, false
			}
			i = skipSpace(b, i+1)
		}
		if i, ok = validValue(b, i, depth); !ok {
			return i, false
		}
		switch i = skipSpace(b, i); {
		case i >= len(b):
			return i, false
		case b[i] == closer:
			return i + 1, true
		case b[i] != ',':
			return i, false
		}
		i = skipSpace(b, i+1)
	}
}

// validString checks the string at b[i] (its opening quote).
func validString(b []byte, i int) (int, bool) {
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, true
		case c < 0x20:
			return i, false
		case c == '\\':
			if i++; i >= len(b) {
				return i, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) || !isHex(b[i+1]) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) {
					return i, false
				}
				i += 4
			default:
				return i, false
			}
		}
	}
	return i, false
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// validLiteral checks that b[i:] starts with lit.
func validLiteral(b []byte, i int, lit string) (int, bool) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, false
	}
	return i + len(lit), true
}

// validNumber checks the number at b[i]: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func validNumber(b []byte, i int) (int, bool) {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digits(b, i)
	default:
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		if j := digits(b, i+1); j > i+1 {
			i = j
		} else {
			return i, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return i, false
		}
		i = j
	}
	return i, true
}

// digits returns the index past the decimal digits at b[i:].
func digits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

// jsonKind is the first byte of a value ('"', '{', '[', 't', 'f', 'n', '-'
// or a digit), 0 for nil.
func jsonKind(v []byte) byte {
	if len(v) == 0 {
		return 0
	}
	return v[0]
}

// jsonString decodes a JSON string; any other value is "".
func jsonString(v []byte) string {
	if jsonKind(v) != '"' || len(v) < 2 {
		return ""
	}
	if in := v[1 : len(v)-1]; bytes.IndexByte(in, '\\') < 0 && utf8.Valid(in) {
		return string(in)
	}
	var s string
	_ = json.Unmarshal(v, &s) // escapes; invalid UTF-8 becomes U+FFFD
	return s
}

// jsonFields returns the values of the named members of the object v, nil
// for absent ones, the last one for a repeated name (as encoding/json
// does). Names are matched exactly.
func jsonFields(v []byte, names ...string) [][]byte {
	out := make([][]byte, len(names))
	if jsonKind(v) != '{' {
		return out
	}
	jsonMembers(v, func(key, val []byte) bool {
		k := key[1 : len(key)-1]
		if bytes.IndexByte(k, '\\') >= 0 || !utf8.Valid(k) {
			k = []byte(jsonString(key))
		}
		for i, name := range names {
			if string(k) == name {
				out[i] = val
			}
		}
		return true
	})
	return out
}

// jsonItems returns the first n items of the list v.
func jsonItems(v []byte, n int) (items [][]byte) {
	if jsonKind(v) == '[' {
		jsonMembers(v, func(_, item []byte) bool {
			items = append(items, item)
			return len(items) < n
		})
	}
	return items
}

// jsonMembers calls f with each key (with its quotes) and value of the
// object v, or with each item of the list v and a nil key, until f
// returns false.
func jsonMembers(v []byte, f func(key, val []byte) bool) {
	obj := jsonKind(v) == '{'
	if !obj && jsonKind(v) != '[' {
		return
	}
	for i := skipSpace(v, 1); i < len(v) && v[i] != '}' && v[i] != ']'; i = skipSpace(v, i) {
		var key []byte
		if obj {
			end := valueEnd(v, i)
			key, i = v[i:end], skipSpace(v, skipSpace(v, end)+1) // past the colon
		}
		end := valueEnd(v, i)
		if end <= i || obj && len(key) < 2 || !f(key, v[i:end]) {
			return
		}
		if i = skipSpace(v, end); i < len(v) && v[i] == ',' {
			i++
		}
	}
}

// valueEnd returns the index just past the value that starts at b[i].
func valueEnd(b []byte, i int) int {
	for depth := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			depth++
			continue
		case '}', ']':
			if depth--; depth < 0 {
				return i // the end of a number, true, false or null
			}
		case ',', ':', ' ', '\t', '\r', '\n':
			if depth == 0 {
				return i
			}
			continue
		default:
			continue
		}
		if depth == 0 {
			return min(i+1, len(b))
		}
	}
	return len(b)
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}
