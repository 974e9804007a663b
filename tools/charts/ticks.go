package main

import (
	"math"
	"strconv"
)

// linearTicks are ticks every step from the first multiple of step at or
// above lo up to hi.
func linearTicks(lo, hi, step float64, format func(float64) string) []tick {
	var ticks []tick
	for i := math.Ceil(lo/step - 1e-9); i*step <= hi+step*1e-9; i++ {
		v := i*step + 0 // + 0 turns -0 into 0
		ticks = append(ticks, tick{v: v, label: format(v)})
	}
	return ticks
}

// logTicks are ticks at mantissa×10^k (mantissas such as 1, 2, 5) within
// [lo, hi].
func logTicks(lo, hi float64, mantissas []float64, format func(float64) string) []tick {
	var ticks []tick
	for k := math.Floor(math.Log10(lo)); k <= math.Ceil(math.Log10(hi)); k++ {
		for _, m := range mantissas {
			v := m * math.Pow(10, k)
			if v >= lo*(1-1e-9) && v <= hi*(1+1e-9) {
				ticks = append(ticks, tick{v: v, label: format(roundSig(v, 12))})
			}
		}
	}
	return ticks
}

// niceLogBounds widens [lo, hi] to 1-2-5 values with some air, so the
// extreme points do not sit on the frame.
func niceLogBounds(lo, hi float64) (float64, float64) {
	return niceFloor(lo / 1.25), niceCeil(hi * 1.25)
}

// niceFloor is the largest 1-2-5 value at or below v (v > 0).
func niceFloor(v float64) float64 {
	base := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{5, 2, 1} {
		if m*base <= v*(1+1e-9) {
			return roundSig(m*base, 12)
		}
	}
	return roundSig(base, 12)
}

// niceCeil is the smallest 1-2-5 value at or above v (v > 0).
func niceCeil(v float64) float64 {
	base := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5} {
		if m*base >= v*(1-1e-9) {
			return roundSig(m*base, 12)
		}
	}
	return roundSig(10*base, 12)
}

// roundSig rounds v to digits significant digits: 12 drops floating-point
// noise such as 0.30000000000000004, 3 makes a readable label.
func roundSig(v float64, digits int) float64 {
	f, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', digits, 64), 64)
	return f
}

// plain formats a tick value as short as it goes: 0.5, 2, 100.
func plain(v float64) string {
	return strconv.FormatFloat(v, 'f', -1, 64)
}
