package claimstats

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// contents is what an accumulator stores, one string per statistics row,
// in the order Store writes them.
func contents(t *testing.T, a *Accumulator) []string {
	t.Helper()
	var out []string
	err := a.each(func(k *keyStats) error {
		codes := func(cs []codeStats) []string {
			var s []string
			for _, c := range cs {
				s = append(s, fmt.Sprintf("%s:%d/%d", a.codes.values[c.code], c.claims, c.denied))
			}
			return s
		}
		cell := a.cells.values[k.cell]
		out = append(out, fmt.Sprintf("%d|%s|%s %d/%d %v | %d/%d %v | %v | %v", k.day, cell[0], cell[1],
			k.submitted.claims, k.submitted.denied, k.submitted.bins, k.decided.claims, k.decided.denied, k.decided.bins,
			codes(k.cpts), codes(k.reasons)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Adding every claim and removing some gives what adding only the others
// gives: the upload's way (accumulate every row, take back the versions
// that do not count) against the plain one, on random claims that share
// keys, bins and codes.
func TestRemoveUndoesAdd(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for round := range 50 {
		var claims []Claim
		for range 1 + rng.IntN(400) {
			sub := start.AddDate(0, 0, rng.IntN(10))
			denied := rng.IntN(3) == 0
			reason := ""
			if denied {
				reason = fmt.Sprintf("CO-%d", rng.IntN(3))
			}
			claims = append(claims, Claim{SubmittedDate: sub, DecidedDate: sub.AddDate(0, 0, rng.IntN(5)),
				Payer: fmt.Sprintf("P%d", rng.IntN(3)), CPTGroup: fmt.Sprintf("G%d", rng.IntN(2)),
				CPT: fmt.Sprintf("%d", 99211+rng.IntN(4)), ReasonCode: reason, Denied: denied})
		}
		all, kept := NewAccumulator(0), NewAccumulator(0)
		var removed []Claim
		for _, c := range claims {
			all.Add(c)
			if rng.IntN(2) == 0 {
				removed = append(removed, c)
			} else {
				kept.Add(c)
			}
		}
		rng.Shuffle(len(removed), func(i, j int) { removed[i], removed[j] = removed[j], removed[i] })
		for _, c := range removed {
			if err := all.Remove(c); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if got, want := contents(t, all), contents(t, kept); !slices.Equal(got, want) {
			t.Fatalf("round %d: after removing %d of %d claims\n got %v\nwant %v", round, len(removed), len(claims), got, want)
		}
	}
}

// Removing a claim that was never added is an error, never a negative
// count: an upload that did it would store wrong statistics.
func TestRemoveOfAClaimNeverAddedFails(t *testing.T) {
	day := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	paid := Claim{SubmittedDate: day, DecidedDate: day.AddDate(0, 0, 3), Payer: "Aetna", CPTGroup: "E&M", CPT: "99213"}
	denied := paid
	denied.Denied, denied.ReasonCode = true, ""
	other := paid
	other.DecidedDate = day.AddDate(0, 0, 4)
	unknown := paid
	unknown.CPT = "99999"
	for name, removed := range map[string][]Claim{"denied instead of paid": {denied}, "another decision day": {other},
		"an unknown code": {unknown}, "the claim twice": {paid, paid}} {
		a := NewAccumulator(0)
		a.Add(paid)
		var err error
		for _, c := range removed {
			if err == nil {
				err = a.Remove(c)
			}
		}
		if err == nil {
			err = a.each(func(*keyStats) error { return nil })
		}
		if err == nil {
			t.Errorf("%s: removed without an error", name)
		}
	}
}

// Past its bound the accumulator gives up, whether it was adding or
// removing, and holds nothing: Store reads the claims back.
func TestAccumulatorGivesUpPastItsBound(t *testing.T) {
	day := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	c := Claim{SubmittedDate: day, DecidedDate: day, Payer: "Aetna", CPTGroup: "E&M", CPT: "99213"}
	a := NewAccumulator(3)
	for range 3 {
		a.Add(c)
	}
	if a.Overflowed() {
		t.Fatal("gave up at its bound")
	}
	if err := a.Remove(c); err != nil || !a.Overflowed() || len(a.added.chunks) != 0 {
		t.Fatalf("a fourth claim, removed: err %v, overflowed %v, %d chunks held", err, a.Overflowed(), len(a.added.chunks))
	}
	old := c
	old.SubmittedDate = time.Date(1899, 12, 31, 0, 0, 0, 0, time.UTC)
	b := NewAccumulator(0)
	b.Add(old)
	if !b.Overflowed() {
		t.Fatal("a date before 1900 fits a record")
	}
}

// Quantile against sorting the raw values: the ceil(share * n)-th smallest.
func TestQuantileIsTheOrderStatistic(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(9, 9))
	for range 200 {
		var raw []int32
		var w windowSum
		for range 1 + rng.IntN(300) {
			d := int32(rng.IntN(1 + rng.IntN(90)))
			raw = append(raw, d)
			w.addBin(int64(d), 1)
		}
		slices.Sort(raw)
		h := w.window().Days
		for _, share := range []float64{0.01, 0.5, 0.99, 1} {
			want := raw[int(math.Ceil(share*float64(len(raw))))-1]
			if got := h.Quantile(share); got != want {
				t.Fatalf("Quantile(%v) of %v = %d, want %d", share, raw, got, want)
			}
		}
	}
	if got := (Histogram{}).Quantile(0.99); got != 0 {
		t.Fatalf("empty: %d, want 0", got)
	}
}
