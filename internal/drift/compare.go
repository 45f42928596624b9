package drift

import (
	"time"

	"github.com/upstream-rcm/upstream/internal/claimstats"
)

// Comparison is what the evidence compares for one cell: the claims
// decided in the current window against those decided in the baseline's
// whole weeks, and the weeks of history that say how much the cell varies.
type Comparison struct {
	Baseline, Current WindowStats
	// BaselineStart and BaselineEnd bound the baseline's weeks by decision
	// date (the current window is the run's).
	BaselineStart, BaselineEnd time.Time
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

// MinBaselineWeeks is the fewest weeks a cell's baseline may shrink to
// when its history starts late; with fewer it is not tested.
const MinBaselineWeeks = 4

// lateCellQuantile is the share of a late-starting cell's claims whose
// days to decision its comparison keeps (see Compare).
const lateCellQuantile = 0.99

// Compare builds g's comparison for the windows of p, or false when the
// cell's history is too short to compare.
//
// The baseline is as many whole weeks as the baseline window holds (12
// for 90 days), after the GuardWeeks before the current window, so that a
// current window of whole weeks holds every weekday as often as it does. A cell whose claims begin inside the history read
// (FirstSubmitted) has seen no claim older than its own history: a week
// decided soon after it began lacks the slow claims submitted before, so
// it would look faster than the current window. Such a cell keeps the
// ages up to A, the 99th percentile of its days to decision, and only the
// weeks that start A days or more after its first claim: those hold every
// claim up to age A, whichever week. Denial rates keep the older claims
// too (at most 1% of them), which bounds their bias by that share.
func Compare(p Params, g Group) (Comparison, bool) {
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
	baselineWeeks := min(usable-GuardWeeks, max(1, p.BaselineDays/7))
	if baselineWeeks < min(MinBaselineWeeks, max(1, p.BaselineDays/7)) {
		return Comparison{}, false
	}
	limit := func(s WindowStats) WindowStats {
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
	c := Comparison{Current: limit(g.DecidedCurrent), History: make([]WindowStats, usable-GuardWeeks),
		BaselineEnd: w.CurrentStart.AddDate(0, 0, -7*GuardWeeks)}
	c.BaselineStart = c.BaselineEnd.AddDate(0, 0, -7*baselineWeeks)
	days := make([]claimstats.Histogram, baselineWeeks)
	for k := range c.History {
		c.History[k] = limit(g.Weeks[GuardWeeks+k])
		if k < baselineWeeks {
			c.Baseline.Volume += c.History[k].Volume
			c.Baseline.Denied += c.History[k].Denied
			days[k] = c.History[k].Days
		}
	}
	c.Baseline.Days = claimstats.Histogram(nil).Add(days...)
	c.Baseline.MedianDays = c.Baseline.Days.Median()
	return c, true
}
