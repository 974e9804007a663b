// Package seeded gives deterministic uniform streams for the tests of the
// poll schedule, so that a table is the same on every run and platform
// without depending on math/rand's stream staying the same across Go
// releases.
package seeded

// Jitter is a deterministic uniform [0,1) stream (splitmix64) seeded from
// the given words.
func Jitter(seed ...uint64) func() float64 {
	var state uint64
	for _, s := range seed {
		state = state*0x9e3779b97f4a7c15 + s + 1
	}
	return func() float64 {
		state += 0x9e3779b97f4a7c15
		z := state
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
		return float64(z>>11) / (1 << 53)
	}
}
