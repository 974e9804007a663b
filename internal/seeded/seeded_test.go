package seeded

import "testing"

// TestJitter: the same seed gives the same stream, other seeds others,
// and every value is in [0,1).
func TestJitter(t *testing.T) {
	a, b, c := Jitter(1, 2), Jitter(1, 2), Jitter(2, 1)
	same, differ := true, false
	for range 1000 {
		x, y, z := a(), b(), c()
		if x < 0 || x >= 1 {
			t.Fatalf("value %v out of [0,1)", x)
		}
		same = same && x == y
		differ = differ || x != z
	}
	if !same || !differ {
		t.Fatalf("same seed same stream: %v; other seed other stream: %v", same, differ)
	}
}
