// Package simulate generates claims the way real payers produce them and
// real systems export them, for the detection-quality benchmark and the
// statistical property tests: Poisson daily volumes, skewed (log-normal)
// days to decision, and exports that hold only the claims decided by the
// export date. Changes can be planted at known dates.
package simulate

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/upstream-rcm/upstream/internal/claimstats"
	"github.com/upstream-rcm/upstream/internal/drift"
)

// Cell is one (payer, CPT group) and how it behaves.
type Cell struct {
	Payer, CPTGroup string
	DailyVolume     float64 // mean claims submitted per day
	DenialRate      float64
	MedianDays      float64 // median days to decision (log-normal)
	Spread          float64 // log-normal sigma of days to decision
	// Change, when set, applies to claims submitted from Change.Start.
	Change *Change
}

// Change is a planted drift.
type Change struct {
	Start      time.Time
	Type       drift.Type
	DenialRate float64 // added to the denial rate
	Days       float64 // added to every claim's days to decision
}

// Claim is one simulated claim.
type Claim struct {
	Payer, CPTGroup string
	Submitted       time.Time
	Decided         time.Time
	Denied          bool
}

// Generate returns every claim the cells submit on the days [from, to),
// decided or not yet.
func Generate(rng *rand.Rand, cells []Cell, from, to time.Time) []Claim {
	var out []Claim
	for day := from; day.Before(to); day = day.AddDate(0, 0, 1) {
		for _, c := range cells {
			rate, shift := c.DenialRate, 0.0
			if c.Change != nil && !day.Before(c.Change.Start) {
				rate += c.Change.DenialRate
				shift = c.Change.Days
			}
			for range Poisson(rng, c.DailyVolume) {
				days := int(math.Round(c.MedianDays*math.Exp(c.Spread*rng.NormFloat64()) + shift))
				out = append(out, Claim{Payer: c.Payer, CPTGroup: c.CPTGroup, Submitted: day,
					Decided: day.AddDate(0, 0, max(0, days)), Denied: rng.Float64() < rate})
			}
		}
	}
	return out
}

// DecidedBetween returns the claims decided on the days [from, to): what an
// export of newly decided claims taken on to holds when the previous one
// was taken on from.
func DecidedBetween(claims []Claim, from, to time.Time) []Claim {
	var out []Claim
	for _, c := range claims {
		if !c.Decided.Before(from) && c.Decided.Before(to) {
			out = append(out, c)
		}
	}
	return out
}

// CSV renders claims as an upload file.
func CSV(claims []Claim) []byte {
	b := make([]byte, 0, 64*len(claims)+64)
	b = append(b, "payer,cpt,submitted_date,decided_date,outcome\n"...)
	for _, c := range claims {
		outcome := "PAID"
		if c.Denied {
			outcome = "DENIED"
		}
		b = fmt.Appendf(b, "%s,%s,%s,%s,%s\n", c.Payer, c.CPTGroup, c.Submitted.Format(time.DateOnly), c.Decided.Format(time.DateOnly), outcome)
	}
	return b
}

// Poisson draws from a Poisson distribution: Knuth's product method for
// small means, a rounded normal approximation above 60.
func Poisson(rng *rand.Rand, mean float64) int {
	if mean > 60 {
		return max(0, int(math.Round(mean+math.Sqrt(mean)*rng.NormFloat64())))
	}
	l := math.Exp(-mean)
	k, p := 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// Groups aggregates claims known on the export date asOf (decided before
// it) into drift groups for the windows of p, as the statistics would: the
// claims submitted in each window, and the claims decided in each window.
// It is the in-memory twin of claimstats.Aggregate, for pure tests.
func Groups(claims []Claim, p drift.Params) []drift.Group {
	w := drift.WindowsFor(p)
	type key struct{ payer, group string }
	type acc struct {
		days  [4]map[int32]int64
		count [4]int
		deny  [4]int
	}
	cells := map[key]*acc{}
	var order []key
	add := func(a *acc, i int, days int32, denied bool) {
		if a.days[i] == nil {
			a.days[i] = map[int32]int64{}
		}
		a.days[i][days]++
		a.count[i]++
		if denied {
			a.deny[i]++
		}
	}
	for _, c := range claims {
		if !c.Decided.Before(p.AsOf) || c.Decided.Before(w.BaselineStart) {
			continue // not in the export yet, or in no window on either basis
		}
		k := key{c.Payer, c.CPTGroup}
		a := cells[k]
		if a == nil {
			a = &acc{}
			cells[k] = a
			order = append(order, k)
		}
		days := int32(c.Decided.Sub(c.Submitted).Hours() / 24)
		if i := windowOf(w, c.Submitted); i >= 0 {
			add(a, i, days, c.Denied) // 0 baseline, 1 current
		}
		if i := windowOf(w, c.Decided); i >= 0 {
			add(a, 2+i, days, c.Denied)
		}
	}
	groups := make([]drift.Group, 0, len(order))
	for _, k := range order {
		a := cells[k]
		var ws [4]drift.WindowStats
		for i := range ws {
			ws[i] = windowStats(a.count[i], a.deny[i], a.days[i])
		}
		groups = append(groups, drift.Group{Payer: k.payer, CPTGroup: k.group, Baseline: ws[0], Current: ws[1],
			DecidedBaseline: ws[2], DecidedCurrent: ws[3]})
	}
	return groups
}

// windowOf is 0 for a day in the baseline window, 1 in the current one,
// -1 in neither.
func windowOf(w drift.Windows, day time.Time) int {
	day = drift.Date(day)
	switch {
	case !day.Before(w.BaselineStart) && day.Before(w.BaselineEnd):
		return 0
	case !day.Before(w.CurrentStart) && day.Before(w.CurrentEnd):
		return 1
	}
	return -1
}

// windowStats builds a window from its volume, denials and days to
// decision (days -> claims).
func windowStats(volume, denied int, days map[int32]int64) drift.WindowStats {
	h := make(claimstats.Histogram, 0, len(days))
	for d, n := range days {
		h = append(h, claimstats.Bin{Days: d, Claims: n})
	}
	slices.SortFunc(h, func(a, b claimstats.Bin) int { return cmp.Compare(a.Days, b.Days) })
	return drift.WindowStats{Volume: volume, Denied: denied, MedianDays: h.Median(), Days: h}
}
