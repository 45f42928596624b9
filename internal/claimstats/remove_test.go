package claimstats

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// contents is what an accumulator would store, independent of the order
// its keys were first seen in: per (day, payer, CPT group) with claims,
// each basis's counts and bins and the code counts.
func contents(a *Accumulator) map[string]string {
	out := map[string]string{}
	for i, k := range a.keys.values {
		e := a.at(int32(i))
		if e.submitted.claims == 0 && e.decided.claims == 0 {
			continue
		}
		codes := func(cs []codeCount) []string {
			var s []string
			for _, c := range cs {
				s = append(s, fmt.Sprintf("%s:%d/%d", a.codes.values[c.code], c.claims, c.denied))
			}
			slices.Sort(s)
			return s
		}
		cell := a.cells.values[k.cell]
		out[fmt.Sprintf("%d|%s|%s", k.day, cell[0], cell[1])] = fmt.Sprintf("%d/%d %v | %d/%d %v | %v | %v",
			e.submitted.claims, e.submitted.denied, e.submitted.bins, e.decided.claims, e.decided.denied, e.decided.bins,
			codes(e.cpts), codes(e.reasons))
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
		if got, want := contents(all), contents(kept); !maps.Equal(got, want) {
			t.Fatalf("round %d: after removing %d of %d claims\n got %v\nwant %v", round, len(removed), len(claims), got, want)
		}
		if all.used != kept.used {
			t.Fatalf("round %d: %d bins and codes counted against the bound, want %d", round, all.used, kept.used)
		}
	}
}

// Removing a claim that was never added is an error, never a negative
// count: an upload that did it would store wrong statistics.
func TestRemoveOfAClaimNeverAddedFails(t *testing.T) {
	day := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	paid := Claim{SubmittedDate: day, DecidedDate: day.AddDate(0, 0, 3), Payer: "Aetna", CPTGroup: "E&M", CPT: "99213"}
	a := NewAccumulator(0)
	a.Add(paid)
	denied := paid
	denied.Denied, denied.ReasonCode = true, ""
	other := paid
	other.DecidedDate = day.AddDate(0, 0, 4)
	for name, c := range map[string]Claim{"denied instead of paid": denied, "another decision day": other} {
		if err := a.Remove(c); err == nil {
			t.Errorf("%s: Remove succeeded", name)
		}
	}
	if err := a.Remove(paid); err != nil {
		t.Fatal(err)
	}
	if err := a.Remove(paid); err == nil {
		t.Error("removing the claim twice succeeded")
	}
}
