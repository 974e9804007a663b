// Package tools holds what serves the documentation, not the SDK's users:
// the chart generator (./charts) and the interleaved benchmark script
// (bench-rounds.sh). It is a module of its own, so that the SDK's go.mod
// lists only what the library and its tests need.
package tools
