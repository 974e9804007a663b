package datauri

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	u, err := Parse("data:image/png;base64,aGVsbG8=")
	require.NoError(t, err)
	assert.Equal(t, URI{MediaType: "image/png", Data: []byte("hello")}, u)
	assert.Equal(t, "data:image/png;base64,aGVsbG8=", u.String())

	u, err = Parse("DATA:;base64,")
	require.NoError(t, err)
	assert.Equal(t, "", u.MediaType)
	assert.Empty(t, u.Data)

	// The ";base64" token is case-insensitive, like the scheme.
	u, err = Parse("data:image/png;BASE64,aGVsbG8=")
	require.NoError(t, err)
	assert.Equal(t, []byte("hello"), u.Data)

	for _, bad := range []string{"", "data:", "http://x", "data:image/png,hello", "data:image/png;base64", "data:image/png;base64,***", "data:image/png;base64,aGVsbG8", "data:a b;base64,",
		"data:image/png;base64,aGVs\nbG8=", "data:image/png;base64,aGVs\r\nbG8="} {
		_, err := Parse(bad)
		assert.ErrorIs(t, err, ErrMalformed, bad)
	}
}

func TestEncodedLen(t *testing.T) {
	for n := 0; n < 10; n++ {
		u := URI{MediaType: "image/jpeg", Data: make([]byte, n)}
		assert.Equal(t, int64(len(u.String())), EncodedLen(int64(n), "image/jpeg"))
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"data:image/png;base64,aGVsbG8=", "data:;base64,", "data:x,y", "data:image/gif;base64,R0lGODlh"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := Parse(s)
		if err != nil {
			require.ErrorIs(t, err, ErrMalformed)
			return
		}
		again, err := Parse(u.String())
		require.NoError(t, err)
		require.Equal(t, u.MediaType, again.MediaType)
		require.Equal(t, len(u.Data), len(again.Data))
		require.Equal(t, EncodedLen(int64(len(u.Data)), u.MediaType), int64(len(u.String())))
	})
}
