package schedcsv

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRoundTrip checks that Read gives back what Write wrote, to the three
// decimals the file keeps, and that the folder is created.
func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "s.csv")
	rows := []Row{
		{Schedule: "sdk-default", Duration: 5 * time.Second, Requests: 2.18512, NoticeDelay: 2.0591},
		{Schedule: "fixed-20s", Duration: 10 * time.Minute, Requests: 31.5, NoticeDelay: 0},
	}
	require.NoError(t, Write(path, rows))
	got, err := Read(path)
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.Equal(t, "sdk-default", got[0].Schedule)
	assert.Equal(t, 5*time.Second, got[0].Duration)
	assert.InDelta(t, 2.185, got[0].Requests, 1e-9)
	assert.InDelta(t, 2.059, got[0].NoticeDelay, 1e-9)
	assert.Equal(t, 10*time.Minute, got[1].Duration)
	assert.Zero(t, got[1].NoticeDelay)
}

// TestReadRejectsBadFiles checks the header, the row count and each number.
func TestReadRejectsBadFiles(t *testing.T) {
	for name, content := range map[string]string{
		"no rows":        "schedule,duration_s,requests,notice_delay_s\n",
		"wrong header":   "a,b,c,d\nx,1,1,1\n",
		"zero requests":  "schedule,duration_s,requests,notice_delay_s\nx,5,0,1\n",
		"negative delay": "schedule,duration_s,requests,notice_delay_s\nx,5,1,-1\n",
		"not a number":   "schedule,duration_s,requests,notice_delay_s\nx,5,NaN,1\n",
		"no name":        "schedule,duration_s,requests,notice_delay_s\n,5,1,1\n",
		"short record":   "schedule,duration_s,requests,notice_delay_s\nx,5,1\n",
	} {
		path := filepath.Join(t.TempDir(), "s.csv")
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
		_, err := Read(path)
		assert.Error(t, err, name)
	}
	_, err := Read(filepath.Join(t.TempDir(), "missing.csv"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}
