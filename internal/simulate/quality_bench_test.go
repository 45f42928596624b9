package simulate_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/simulate"
)

// BenchmarkDetectionQuality measures what an analyst gets from the seed
// rule, from the alerts as they were (tests of no change, BH, then the
// seed thresholds) and from the alerts as they are (interval null, weekly
// dispersion), side by side on the same claims, in a world shaped like real
// claims: 20 payers x 10 CPT groups, volumes from 1 to 60 claims a day,
// weekday cycles and holidays everywhere, 3 payers releasing most
// decisions at month-end and 2 every other Friday, weekly denial rates
// more variable than binomial in a third of the cells, denials that take
// longer at half the payers, and a fifth of the cells starting late.
// Exports are weekly (each run sees the claims decided before it, through
// simulate.Groups, the twin of the statistics' aggregation) and runs are
// weekly at default parameters.
//
// Two worlds: one where nothing changes (false alerts per 100 cell-metric
// weeks), and the same world with changes planted in half the cells
// (power by size and volume, lag, and the share of each run's alerts that
// are not a planted change beyond the margin).
func BenchmarkDetectionQuality(b *testing.B) {
	for range b.N {
		runDetectionQuality(b)
	}
}

type plantedKind struct {
	name string
	typ  drift.Type
	rate float64
	days float64
}

var plantedKinds = []plantedKind{
	{"denial rate +5 pts", drift.TypeDenialRate, 0.05, 0},
	{"denial rate +10 pts", drift.TypeDenialRate, 0.10, 0},
	{"decision time +4 d", drift.TypeDecisionTime, 0, 4},
	{"decision time +8 d", drift.TypeDecisionTime, 0, 8},
}

var detectors = []string{"seed rule", "alerts before (point null)", "alerts now (interval null)"}

// flag is one detector's flag on a cell and metric, and its direction.
type flag struct {
	detector int
	e        drift.Event
	up       bool // worse: higher denial rate or slower
}

// flagsOf runs every detector on one run's groups.
func flagsOf(p drift.Params, groups []drift.Group) []flag {
	var out []flag
	for _, e := range drift.Evaluate(p, groups).Events {
		if e.SeedRule {
			out = append(out, flag{0, e, e.Seed.Delta > 0})
		}
		if e.Alert {
			out = append(out, flag{2, e, e.Delta > 0})
		}
	}
	for _, e := range drift.EvaluateRule(p, groups, drift.RulePointNull).Events {
		if e.Alert {
			out = append(out, flag{1, e, e.Evidence.CurrentValue > e.Evidence.BaselineValue})
		}
	}
	return out
}

// realWorld draws the cells of the simulated customer.
func realWorld(rng *rand.Rand, start time.Time) []simulate.Cell {
	var cells []simulate.Cell
	for i := range 200 {
		payer := i / 10
		c := simulate.Cell{Payer: fmt.Sprintf("Payer %02d", payer), CPTGroup: fmt.Sprintf("G%d", i%10),
			DailyVolume: math.Exp(rng.Float64() * math.Log(60)), DenialRate: 0.03 + rng.Float64()*0.27,
			MedianDays: 5 + rng.Float64()*30, Spread: 0.4 + rng.Float64()*0.4, Weekdays: true}
		switch {
		case payer < 3:
			c.Release, c.BatchShare = simulate.ReleaseMonthEnd, 0.8
		case payer < 5:
			c.Release, c.BatchShare = simulate.ReleaseBiweekly, 0.8
		}
		if rng.IntN(3) == 0 {
			c.Overdispersion = []float64{0.01, 0.03}[rng.IntN(2)]
		}
		if payer%2 == 1 {
			c.DeniedDaysFactor = 1.5
		}
		if rng.IntN(5) == 0 {
			c.Start = start.AddDate(0, 0, 300+rng.IntN(150)) // 2 to 7 months before the first run
		}
		cells = append(cells, c)
	}
	return cells
}

type detection [3]time.Time // first run each detector flagged the change, zero if never

func runDetectionQuality(b *testing.B) {
	rng := rand.New(rand.NewPCG(2026, 21))
	start := time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC) // a Monday
	firstRun := start.AddDate(0, 0, 7*72)                // 72 weeks of history
	const runs = 12
	base := realWorld(rng, start)

	// World 1: nothing changes.
	claims := simulate.Generate(rng, base, start, firstRun.AddDate(0, 0, 7*runs))
	var checks int
	var falses [3]int
	for r := range runs {
		p := drift.DefaultParams(firstRun.AddDate(0, 0, 7*r))
		for _, f := range flagsOf(p, simulate.Groups(claims, p)) {
			falses[f.detector]++
		}
		checks += len(base) * len(drift.Types)
	}
	per100 := func(n int) float64 { return 100 * float64(n) / float64(checks) }
	benchRow(fmt.Sprintf("stationary world: false alerts per 100 cell-metric-weeks (%d)", checks), func(d int) string { return fmt.Sprintf("%.2f", per100(falses[d])) })

	// World 2: the same structures, changes planted in half the cells.
	change := firstRun.AddDate(0, 0, 7*2)
	cells := slices.Clone(base)
	kindOf := map[[2]string]int{}
	for i := range cells {
		if i%2 == 0 {
			continue
		}
		k := (i / 2) % len(plantedKinds)
		kindOf[[2]string{cells[i].Payer, cells[i].CPTGroup}] = k
		cells[i].Change = &simulate.Change{Start: change, Type: plantedKinds[k].typ, DenialRate: plantedKinds[k].rate, Days: plantedKinds[k].days}
	}
	claims = simulate.Generate(rand.New(rand.NewPCG(2026, 22)), cells, start, firstRun.AddDate(0, 0, 7*runs))
	detected := map[[3]string]*detection{}
	var falseShare [3]float64 // summed over runs with alerts
	var runsWithAlerts, falseAlerts, allAlerts [3]int
	for r := range runs {
		asOf := firstRun.AddDate(0, 0, 7*r)
		p := drift.DefaultParams(asOf)
		var flaggedN, falseN [3]int
		for _, f := range flagsOf(p, simulate.Groups(claims, p)) {
			e, d := f.e, f.detector
			k, planted := kindOf[[2]string{e.Payer, e.CPTGroup}]
			flaggedN[d]++
			// A detection is a flag in the planted direction (worse) on the
			// planted metric, once the change began.
			if !planted || plantedKinds[k].typ != e.Type || asOf.Before(change) || !f.up {
				falseN[d]++
				continue
			}
			kk := [3]string{e.Payer, e.CPTGroup, string(e.Type)}
			if detected[kk] == nil {
				detected[kk] = &detection{}
			}
			if detected[kk][d].IsZero() {
				detected[kk][d] = asOf
			}
		}
		for d := range detectors {
			if flaggedN[d] > 0 {
				runsWithAlerts[d]++
				falseShare[d] += float64(falseN[d]) / float64(flaggedN[d])
			}
			falseAlerts[d] += falseN[d]
			allAlerts[d] += flaggedN[d]
		}
	}
	benchRow("planted world: share of a run's alerts that are not a planted change, mean over runs with alerts, %", func(d int) string {
		return fmt.Sprintf("%.0f (%d of %d)", 100*falseShare[d]/math.Max(1, float64(runsWithAlerts[d])), falseAlerts[d], allAlerts[d])
	})
	volumes := []struct {
		name   string
		lo, hi float64
	}{{"< 5", 0, 5}, {"5-20", 5, 20}, {">= 20", 20, math.Inf(1)}}
	weeksAfter := int(firstRun.AddDate(0, 0, 7*(runs-1)).Sub(change).Hours() / (24 * 7))
	var lags [3][]float64
	for k, kind := range plantedKinds {
		for _, v := range volumes {
			var n int
			var in4, inAll [3]int
			for _, c := range cells {
				if c.Change == nil || kindOf[[2]string{c.Payer, c.CPTGroup}] != k || c.DailyVolume < v.lo || c.DailyVolume >= v.hi {
					continue
				}
				n++
				d := detected[[3]string{c.Payer, c.CPTGroup, string(kind.typ)}]
				for det := range detectors {
					if d == nil || d[det].IsZero() {
						continue
					}
					lag := d[det].Sub(change).Hours() / 24
					inAll[det]++
					if lag <= 7*3 { // the 4th weekly run after the change is 3 weeks later
						in4[det]++
					}
					lags[det] = append(lags[det], lag)
				}
			}
			benchRow(fmt.Sprintf("%s, %s claims/day: %% of %d cells found within 4 runs (within %d weeks)", kind.name, v.name, n, weeksAfter),
				func(d int) string { return fmt.Sprintf("%.0f (%.0f)", pct(in4[d], n), pct(inAll[d], n)) })
		}
	}
	benchRow("median lag from change to first detection, days", func(d int) string { return fmt.Sprintf("%.0f", median(lags[d])) })

	// What limits power within 4 runs: a run compares claims by decision
	// date, and a change applies to claims submitted after it, so the 4th
	// run's window holds the changed claims only of cells that decide
	// within days.
	asOf4 := change.AddDate(0, 0, 7*3)
	windowStart := asOf4.AddDate(0, 0, -drift.DefaultCurrentDays)
	after, all := map[[2]string]int{}, map[[2]string]int{}
	for _, c := range claims {
		if !c.Decided.IsZero() && !c.Decided.Before(windowStart) && c.Decided.Before(asOf4) {
			k := [2]string{c.Payer, c.CPTGroup}
			all[k]++
			if !c.Submitted.Before(change) {
				after[k]++
			}
		}
	}
	var shares []float64
	for _, c := range cells {
		if k := [2]string{c.Payer, c.CPTGroup}; c.Change != nil && c.DailyVolume >= 20 && all[k] > 0 {
			shares = append(shares, 100*float64(after[k])/float64(all[k]))
		}
	}
	fmt.Printf("DETECTION|planted cells >= 20 claims/day: %% of the 4th run's decided claims submitted after the change, median (quartiles)|%.0f (%.0f-%.0f)\n",
		median(shares), quantile(shares, 0.25), quantile(shares, 0.75))
	b.ReportMetric(per100(falses[2]), "false_per_100")
}

// benchRow prints a row of `task bench`'s detection table on stdout, one
// column per detector (go test keeps only the first lines of a
// benchmark's log).
func benchRow(label string, cell func(detector int) string) {
	cols := make([]string, len(detectors))
	for d, name := range detectors {
		cols[d] = name + " " + cell(d)
	}
	fmt.Printf("DETECTION|%s|%s\n", label, strings.Join(cols, "|"))
}

func pct(k, n int) float64 {
	if n == 0 {
		return 0
	}
	return 100 * float64(k) / float64(n)
}

// quantile is the q-quantile of xs by the nearest rank.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	slices.Sort(xs)
	return xs[min(len(xs)-1, int(q*float64(len(xs))))]
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	slices.Sort(xs)
	if len(xs)%2 == 1 {
		return xs[len(xs)/2]
	}
	return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
}
