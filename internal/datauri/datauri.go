// Package datauri parses and sizes "data:<mime>;base64,<data>" URIs, the
// form in which the API takes inline images.
package datauri

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Prefix starts every data URI.
const Prefix = "data:"

// ErrMalformed is returned for anything that is not a base64 data URI.
var ErrMalformed = errors.New("datauri: malformed data URI")

// URI is a decoded data URI.
type URI struct {
	MediaType string // "" when the URI names none
	Data      []byte
}

// Parse decodes "data:<mime>;base64,<standard base64>". Only the base64 form
// is accepted: it is the one the API documents.
func Parse(s string) (URI, error) {
	if len(s) < len(Prefix) || !strings.EqualFold(s[:len(Prefix)], Prefix) {
		return URI{}, fmt.Errorf("%w: does not start with %q", ErrMalformed, Prefix)
	}
	meta, payload, ok := strings.Cut(s[len(Prefix):], ",")
	if !ok {
		return URI{}, fmt.Errorf("%w: no comma before the data", ErrMalformed)
	}
	// Like the scheme, the ";base64" token is case-insensitive (RFC 2397).
	const b64 = ";base64"
	if len(meta) < len(b64) || !strings.EqualFold(meta[len(meta)-len(b64):], b64) {
		return URI{}, fmt.Errorf("%w: not base64-encoded (want ;base64,)", ErrMalformed)
	}
	mediaType := meta[:len(meta)-len(b64)]
	if strings.ContainsAny(mediaType, " \t\r\n\",") {
		return URI{}, fmt.Errorf("%w: bad media type %q", ErrMalformed, mediaType)
	}
	// encoding/base64 skips line breaks; a data URI in a JSON string has
	// no business carrying any, so they are refused rather than ignored.
	if i := strings.IndexAny(payload, "\r\n"); i >= 0 {
		return URI{}, fmt.Errorf("%w: line break in the base64 data at offset %d", ErrMalformed, i)
	}
	data, err := base64.StdEncoding.Strict().DecodeString(payload)
	if err != nil {
		return URI{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return URI{MediaType: mediaType, Data: data}, nil
}

// String encodes u back into a data URI.
func (u URI) String() string {
	return Prefix + u.MediaType + ";base64," + base64.StdEncoding.EncodeToString(u.Data)
}

// EncodedLen is the length of the data URI of rawLen bytes of mediaType.
func EncodedLen(rawLen int64, mediaType string) int64 {
	return int64(len(Prefix)+len(mediaType)+len(";base64,")) + (rawLen+2)/3*4
}
