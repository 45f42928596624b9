package drift

import (
	"time"

	"github.com/upstream-rcm/upstream/internal/claimstats"
)

// Comparison is what the evidence compares for one cell: the claims
// decided in the current window (the run's, or the run's and whole weeks
// before it) against those decided in the baseline's whole weeks, and the
// weeks of history that say how much the cell varies.
type Comparison struct {
	Baseline, Current WindowStats
	// BaselineStart and BaselineEnd bound the baseline's weeks, and
	// CurrentStart the current window (it ends with the run's), by
	// decision date.
	BaselineStart, BaselineEnd, CurrentStart time.Time
	// History holds the cell's usable weeks before the guard band (the
	// baseline's among them, first), for its dispersion.
	History []WindowStats
}

// GuardWeeks separate the baseline from the current window: a change that
// began shortly before the current window (decisions lag their claims)
// would otherwise be in the baseline it is compared with, and in the
// weeks that measure the cell's dispersion. The guard band of the CDC's
// EARS C2 and C3 methods, in weeks.
const GuardWeeks = 2

// SpanWeeks are the whole weeks each test's current window adds before
// the run's: a change too small to show in 14 days shows in 28 or 56, once
// enough claims have been decided since it began. Each span is a test
// of its own; a cell and metric counts as one test, its smallest p-value
// times the spans tested (Bonferroni), so looking three times costs what
// it should.
var SpanWeeks = []int{0, 2, 6}

// MinBaselineWeeks is the fewest weeks a cell's baseline may shrink to
// when its history starts late; with fewer it is not tested.
const MinBaselineWeeks = 4

// lateCellQuantile is the share of a late-starting cell's claims whose
// days to decision its comparison keeps (see Compare).
const lateCellQuantile = 0.99

// Compare builds g's comparison for the windows of p, its current window
// extended by span whole weeks before the run's, or false when the cell's
// history is too short to compare.
//
// The baseline is as many whole weeks as the baseline window holds (12
// for 90 days), after the GuardWeeks before the current window, so that a
// current window of whole weeks holds every weekday as often as it does.
// A cell whose claims begin inside the history read
// (FirstSubmitted) has seen no claim older than its own history: a week
// decided soon after it began lacks the slow claims submitted before, so
// it would look faster than the current window. Such a cell compares only
// the weeks that start A days or more after its first claim, A the 99th
// percentile of its days to decision: those hold every claim up to age A,
// whichever week. Its baseline and current window keep the ages up to the
// days from its first claim to the baseline's first week (at least A):
// every compared week holds every claim that young, and a slowdown keeps
// its slow claims. The weeks that measure dispersion keep ages up to A.
// Denial rates keep the older claims too (at most 1% of them), which
// bounds their bias by that share.
func Compare(p Params, g Group, span int) (Comparison, bool) {
	w := WindowsFor(p)
	usable, maxAge := len(g.Weeks), -1
	if !g.FirstSubmitted.IsZero() && g.FirstSubmitted.After(w.HistoryStart) {
		weeks := make([]claimstats.Histogram, len(g.Weeks))
		for k, wk := range g.Weeks {
			weeks[k] = wk.Days
		}
		maxAge = int(g.DecidedCurrent.Days.Add(weeks...).Quantile(lateCellQuantile))
		from := g.FirstSubmitted.AddDate(0, 0, maxAge)
		usable = min(usable, max(0, int(w.CurrentStart.Sub(from)/(7*24*time.Hour))))
	}
	baselineWeeks := min(usable-span-GuardWeeks, max(1, p.BaselineDays/7))
	if baselineWeeks < min(MinBaselineWeeks, max(1, p.BaselineDays/7)) {
		return Comparison{}, false
	}
	limitTo := func(maxAge int) func(WindowStats) WindowStats {
		return func(s WindowStats) WindowStats {
			if maxAge >= 0 {
				kept := make(claimstats.Histogram, 0, len(s.Days))
				for _, b := range s.Days {
					if int(b.Days) <= maxAge {
						kept = append(kept, b)
					}
				}
				s.Days = kept
			}
			s.MedianDays = s.Days.Median()
			return s
		}
	}
	c := Comparison{History: make([]WindowStats, usable-span-GuardWeeks), CurrentStart: w.CurrentStart.AddDate(0, 0, -7*span)}
	c.BaselineEnd = c.CurrentStart.AddDate(0, 0, -7*GuardWeeks)
	c.BaselineStart = c.BaselineEnd.AddDate(0, 0, -7*baselineWeeks)
	compared := maxAge
	if maxAge >= 0 {
		compared = max(maxAge, int(c.BaselineStart.Sub(g.FirstSubmitted).Hours()/24))
	}
	c.Current = limitTo(compared)(sum(append([]WindowStats{g.DecidedCurrent}, g.Weeks[:span]...)))
	for k := range c.History {
		c.History[k] = limitTo(maxAge)(g.Weeks[span+GuardWeeks+k])
	}
	c.Baseline = limitTo(compared)(sum(g.Weeks[span+GuardWeeks : span+GuardWeeks+baselineWeeks]))
	return c, true
}

// sum adds blocks of claims into one: counts and days to decision (its
// median is left to the caller, which limits ages first).
func sum(blocks []WindowStats) WindowStats {
	var out WindowStats
	days := make([]claimstats.Histogram, len(blocks))
	for i, b := range blocks {
		out.Volume += b.Volume
		out.Denied += b.Denied
		out.Amounts = out.Amounts.Add(b.Amounts)
		days[i] = b.Days
	}
	out.Days = claimstats.Histogram(nil).Add(days...)
	return out
}
