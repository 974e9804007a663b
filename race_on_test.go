//go:build race

package qwenedit

// raceEnabled reports a build with the race detector, which slows the
// long simulations tenfold and has nothing to find in them.
const raceEnabled = true
