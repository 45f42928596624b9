package drift

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/upstream-rcm/upstream/internal/claimstats"
)

// binomialCell builds a cell from weekly binomial denials at rate (every
// claim decided in 10 days, so only denial rates can move): 26 weeks of
// history at perDay claims a day, and a current window of two weeks at
// rate+change.
func binomialCell(rng *rand.Rand, name string, perDay, rate, change float64) Group {
	draw := func(days int, p float64) WindowStats {
		n := int(distuv.Poisson{Lambda: perDay * float64(days), Src: rng}.Rand())
		d := 0
		if n > 0 {
			d = int(distuv.Binomial{N: float64(n), P: p, Src: rng}.Rand())
		}
		return WindowStats{Volume: n, Denied: d, MedianDays: 10, Days: claimstats.Histogram{{Days: 10, Claims: int64(n)}}}
	}
	g := Group{Payer: name, CPTGroup: "G", Weeks: make([]WindowStats, HistoryWeeks)}
	for k := range g.Weeks {
		g.Weeks[k] = draw(7, rate)
	}
	g.DecidedCurrent = draw(14, rate+change)
	sum := func(weeks []WindowStats) WindowStats {
		var s WindowStats
		for _, w := range weeks {
			s.Volume += w.Volume
			s.Denied += w.Denied
		}
		s.MedianDays, s.Days = 10, claimstats.Histogram{{Days: 10, Claims: int64(s.Volume)}}
		return s
	}
	g.DecidedBaseline = sum(g.Weeks[:13])
	g.Baseline, g.Current = g.DecidedBaseline, g.DecidedCurrent
	return g
}

// The counter-example: 100 small stationary cells beside 300 large
// cells with a real change of +2 points, significant but under the seed
// threshold (and under the margin of 2.5 points). BH over tests of no
// change, then the seed filter, makes alerts of the small cells' noise: the
// large cells' tiny p-values loosen BH for everyone, and only the noisy
// small cells cross the thresholds. Under the interval null no cell has a
// change beyond the margin, so every alert is false, and BH over
// p-values of 1 for uncrossed changes keeps the chance of any at fdr.
func TestAlertsAreChangesBeyondTheMarginAtTheStatedRate(t *testing.T) {
	t.Parallel()
	p := DefaultParams(time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC))
	const runs = 20
	var pointAlerts, pointRunsWithAlerts, intervalAlerts, intervalRunsWithAlerts int
	for seed := range uint64(runs) {
		rng := rand.New(rand.NewPCG(seed, 2026))
		var groups []Group
		for i := range 100 {
			groups = append(groups, binomialCell(rng, fmt.Sprintf("small %03d", i), 3, 0.10, 0))
		}
		for i := range 300 {
			groups = append(groups, binomialCell(rng, fmt.Sprintf("large %03d", i), 150, 0.10, 0.02))
		}
		count := func(rule Rule) (alerts int) {
			for _, e := range EvaluateRule(p, groups, rule).Events {
				if e.Alert {
					alerts++
				}
			}
			return alerts
		}
		if n := count(RulePointNull); n > 0 {
			pointAlerts += n
			pointRunsWithAlerts++
		}
		if n := count(RuleIntervalNull); n > 0 {
			intervalAlerts += n
			intervalRunsWithAlerts++
		}
	}
	t.Logf("point null: %d alerts in %d of %d runs; interval null: %d alerts in %d runs", pointAlerts, pointRunsWithAlerts, runs, intervalAlerts, intervalRunsWithAlerts)
	if pointRunsWithAlerts < runs/2 {
		t.Fatalf("the rule before alerted in only %d of %d runs: the counter-example does not reproduce", pointRunsWithAlerts, runs)
	}
	// Every alert is false here, so the false discovery rate is the share
	// of runs with any alert: at most fdr = 5%, 1 of 20 runs (3 would
	// happen with probability 1.6% if it were exactly 5%).
	if intervalRunsWithAlerts > 2 {
		t.Fatalf("%d of %d runs had alerts (%d in all), none of them a change beyond the margin; want at most 2", intervalRunsWithAlerts, runs, intervalAlerts)
	}
}

// One comparison per event: where the seed rule fired and the evidence
// made an alert, the event's values, delta, severity and sizes are the
// evidence's (by decision date), and the seed rule's stay exact beside
// them. The case: a slowdown of 8 days the seed rule saw as -3
// (its submission windows are censored) was stored at severity 0.30.
func TestAnAlertCarriesItsOwnComparisonAndTheSeedRulesBesideIt(t *testing.T) {
	t.Parallel()
	p := DefaultParams(time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC))
	rng := rand.New(rand.NewPCG(4, 4))
	g := binomialCell(rng, "Humana", 40, 0.10, 0)
	// Decision times: 20 days before, 28 in the current window.
	days := func(w WindowStats, d int32) WindowStats {
		w.Days, w.MedianDays = claimstats.Histogram{{Days: d - 2, Claims: int64(w.Volume / 2)}, {Days: d, Claims: 1},
			{Days: d + 2, Claims: int64(w.Volume / 2)}}, float64(d)
		w.Volume = 2*(w.Volume/2) + 1
		return w
	}
	for k := range g.Weeks {
		g.Weeks[k] = days(g.Weeks[k], 20)
	}
	g.DecidedCurrent = days(g.DecidedCurrent, 28)
	// The seed rule's windows by submission: censored, they look faster.
	g.Baseline = WindowStats{Volume: 500, Denied: 50, MedianDays: 20}
	g.Current = WindowStats{Volume: 300, Denied: 30, MedianDays: 17}
	res := Evaluate(p, []Group{g})
	var e *Event
	for i := range res.Events {
		if res.Events[i].Type == TypeDecisionTime {
			e = &res.Events[i]
		}
	}
	if e == nil || !e.Alert || !e.SeedRule || e.Seed == nil {
		t.Fatalf("decision-time event %+v, want an alert where the seed rule fired too", e)
	}
	if e.BaselineValue != 20 || e.CurrentValue != 28 || e.Delta != 8 || e.Severity != 0.8 ||
		e.BaselineSampleSize != e.Evidence.BaselineSize || e.CurrentSampleSize != e.Evidence.CurrentSize {
		t.Fatalf("alert values %v -> %v (delta %v, severity %v, sizes %d/%d), want the evidence's 20 -> 28 at severity 0.8",
			e.BaselineValue, e.CurrentValue, e.Delta, e.Severity, e.BaselineSampleSize, e.CurrentSampleSize)
	}
	if s := e.Seed; s.BaselineValue != 20 || s.CurrentValue != 17 || s.Delta != -3 || s.Severity != 0.3 || s.Confidence != 1 ||
		s.BaselineSampleSize != 500 || s.CurrentSampleSize != 300 {
		t.Fatalf("seed values %+v, want the seed rule's exact 20 -> 17 (-3, severity 0.3)", *s)
	}
}

// A sustained change too small for the run's 14 days at 10 claims a day
// (+10 points, which the two weeks show as +20% against a baseline
// already half changed) alerts once 8 weeks of it are decided: the 56-day
// window compares them with the 12 weeks before its guard band. Its p-value
// is that window's times the 3 windows tested.
func TestSustainedChangeAlertsOnceEvidenceAccumulates(t *testing.T) {
	t.Parallel()
	p := DefaultParams(time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC))
	w := WindowsFor(p)
	week := func(denied int) WindowStats {
		return WindowStats{Volume: 70, Denied: denied, MedianDays: 10, Days: claimstats.Histogram{{Days: 10, Claims: 70}}}
	}
	g := Group{Payer: "Aetna", CPTGroup: "E&M", Weeks: make([]WindowStats, HistoryWeeks),
		Baseline: WindowStats{Volume: 100, Denied: 10}, Current: WindowStats{Volume: 100, Denied: 10}}
	for k := range g.Weeks {
		g.Weeks[k] = week(7) // 10%
		if k < 6 {
			g.Weeks[k] = week(14) // 20% since 8 weeks
		}
	}
	g.DecidedCurrent = WindowStats{Volume: 140, Denied: 28, MedianDays: 10, Days: claimstats.Histogram{{Days: 10, Claims: 140}}}

	res := Evaluate(p, []Group{g})
	if res.Alerts != 1 || len(res.Events) != 1 {
		t.Fatalf("got %d alerts in %+v, want the denial rate's", res.Alerts, res.Events)
	}
	ev := res.Events[0].Evidence
	if ev.Type != TypeDenialRate || ev.Windows != len(SpanWeeks) || !ev.CurrentStart.Equal(w.CurrentStart.AddDate(0, 0, -42)) {
		t.Fatalf("evidence %s over %d windows from %s, want DENIAL_RATE over %d from %s", ev.Type, ev.Windows, ev.CurrentStart,
			len(SpanWeeks), w.CurrentStart.AddDate(0, 0, -42))
	}
	if ev.CurrentSize != 560 || ev.BaselineSize != 840 || ev.CurrentValue != 0.2 || ev.BaselineValue != 0.1 {
		t.Fatalf("compared %d claims at %v with %d at %v, want the 8 changed weeks with the 12 before the guard band",
			ev.CurrentSize, ev.CurrentValue, ev.BaselineSize, ev.BaselineValue)
	}
	// The 56-day window's own p-value, from the statistics' definitions:
	// identical weeks vary binomially (dispersion 1).
	m := 0.025
	zUpper := RateDifferenceScore(112, 560, 84, 840, m)
	zLower := RateDifferenceScore(112, 560, 84, 840, -m)
	normal := distuv.UnitNormal
	own := math.Max(2*math.Min(normal.Survival(zUpper), normal.CDF(zLower)), FisherExact(112, 448, 84, 756))
	if math.Abs(ev.P-3*own) > 1e-12*ev.P {
		t.Errorf("p = %v, want 3 x the window's %v", ev.P, own)
	}
	// The run's window alone could not show it.
	c, ok := Compare(p, g, 0)
	if !ok {
		t.Fatal("the run's window has no comparison")
	}
	if short := MetricOf(TypeDenialRate).Test(MetricOf(TypeDenialRate), c, Dispersion{Phi: 1, DF: 10}); short.P < 0.05 {
		t.Errorf("the run's 14 days alone give p = %v, want the change hidden there (>= 0.05)", short.P)
	}
}

// A cell that started inside the history compares ages its every week can
// hold: up to the days from its first claim to the baseline's first week.
// A slowdown then keeps its slow claims (a cut at the cell's 99th
// percentile dropped half of them, the current window being 2% of the
// claims), while the weeks decided soon after the start stay out.
func TestLateCellKeepsTheSlowClaimsOfASlowdown(t *testing.T) {
	t.Parallel()
	p := DefaultParams(time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC))
	w := WindowsFor(p)
	g := Group{Payer: "Aetna", CPTGroup: "E&M", Weeks: make([]WindowStats, HistoryWeeks),
		FirstSubmitted: w.CurrentStart.AddDate(0, 0, -7*22)} // 22 weeks ago: inside the 26 read
	week := func(days ...int32) WindowStats {
		var h claimstats.Histogram
		var n int
		for _, d := range days {
			h = append(h, claimstats.Bin{Days: d, Claims: 70})
			n += 70
		}
		return WindowStats{Volume: n, Days: h}
	}
	for k := range g.Weeks {
		if k < 21 { // weeks decided before the cell began are empty
			g.Weeks[k] = week(8, 10, 12)
		}
	}
	g.DecidedCurrent = WindowStats{Volume: 100, Days: claimstats.Histogram{{Days: 20, Claims: 30}, {Days: 26, Claims: 40}, {Days: 31, Claims: 30}}}
	c, ok := Compare(p, g, 0)
	if !ok {
		t.Fatal("no comparison")
	}
	if got := c.Current.Days.Total(); got != 100 || c.Current.MedianDays != 26 {
		t.Fatalf("current window keeps %d of 100 claims, median %v; want every slow claim (median 26)", got, c.Current.MedianDays)
	}
	if first := g.FirstSubmitted.AddDate(0, 0, 12); c.BaselineStart.Before(first) {
		t.Fatalf("baseline starts %s, before the cell's 99th percentile of ages past its first claim (%s)", c.BaselineStart, first)
	}
}
