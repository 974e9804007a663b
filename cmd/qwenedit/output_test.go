package main

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTheNullDeviceIsNoTerminal: /dev/null is a character device, but no
// terminal: progress written there must not be drawn for one.
func TestTheNullDeviceIsNoTerminal(t *testing.T) {
	t.Parallel()
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	require.NoError(t, err)
	defer f.Close()
	assert.False(t, isTerminal(f))
}

// TestEveryHelpStatesOneNamingRuleAndOneJSONShape: every command that
// saves results names them by one rule, and its help says that rule; -json
// is one object per task everywhere.
func TestEveryHelpStatesOneNamingRuleAndOneJSONShape(t *testing.T) {
	t.Parallel()
	for _, cmd := range []string{"edit", "wait", "download", "batch"} {
		o := runCLI(context.Background(), env{}, cmd, "-h")
		require.Equal(t, exitOK, o.code, cmd)
		help := strings.Join(strings.Fields(o.stdout), " ")
		assert.Contains(t, help, "A single result is saved as <stem>.png; several (-n) as <stem>_1.png, <stem>_2.png, ..., counted from 1", cmd)
		assert.NotContains(t, help, "<task id>_<n>", cmd)
		assert.NotContains(t, help, "_0.png", cmd)
		assert.Contains(t, help, "print one JSON object per task", cmd)
		assert.Contains(t, help, `"saved" listing every file of its results`, cmd)
	}
}
