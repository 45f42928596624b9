package claimstats

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// medianOf is the brute-force reference: sort every value, take the middle
// one or the mean of the middle two.
func medianOf(values []int32) float64 {
	if len(values) == 0 {
		return 0
	}
	s := slices.Clone(values)
	slices.Sort(s)
	mid := len(s) / 2
	if len(s)%2 == 1 {
		return float64(s[mid])
	}
	return (float64(s[mid-1]) + float64(s[mid])) / 2
}

func TestHistogramMedianEqualsSortedValues(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 2000 {
		var values []int32
		var h Histogram
		for d := range int32(rng.IntN(12)) {
			n := rng.IntN(4) // zero-count bins too
			if n == 0 && rng.IntN(2) == 0 {
				continue
			}
			h = append(h, Bin{Days: d * int32(1+rng.IntN(3)), Claims: int64(n)})
			for range n {
				values = append(values, h[len(h)-1].Days)
			}
		}
		slices.SortStableFunc(h, func(a, b Bin) int { return int(a.Days - b.Days) })
		if got, want := h.Median(), medianOf(values); got != want {
			t.Fatalf("trial %d: median of %v = %v, want %v (values %v)", trial, h, got, want, values)
		}
		if got := h.Total(); got != int64(len(values)) {
			t.Fatalf("trial %d: total %d, want %d", trial, got, len(values))
		}
	}
}
