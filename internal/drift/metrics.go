package drift

import (
	"fmt"
	"math"
)

// Metric describes one drift type in one place: what the seed rule
// measures in a window and when it fires, how severe a change is, how the
// evidence compares the decision-date windows, and how people read its
// values. A new metric (an overturn rate, dollars) is one more entry in
// Metrics.
type Metric struct {
	Type Type
	// Name is how people call it ("denial rate").
	Name string
	// AbsThreshold is the seed rule's change threshold in the metric's
	// units; a change of half the baseline (relativeThreshold) fires too.
	AbsThreshold float64
	// SeverityFullAt is the change of severity 1: severity = min(|change|
	// / SeverityFullAt, 1), dividing as the specification writes it.
	SeverityFullAt float64
	// Seed is the seed rule's value of a window (submission-date basis).
	Seed func(WindowStats) float64
	// PairStat compares two of a cell's weeks, for the dispersion of the
	// metric beyond independent claims (pairedDispersion: DenialDispersion
	// and DecisionTimeDispersion).
	PairStat PairStat
	// Test weighs the evidence of a change larger than the margin between
	// a cell's decision-date windows at dispersion d; nil when either
	// window has nothing to compare.
	Test func(m *Metric, c Comparison, d Dispersion) *Evidence
	// Proportion is true for a share (shown as a percentage, its changes
	// in points), false for a quantity in Unit.
	Proportion bool
	Unit       string
	// Drivers is true when an alert of the metric is explained by the
	// codes whose share moved (DENIAL_RATE).
	Drivers bool
}

// Metrics lists every metric, in the order events of one cell sort.
var Metrics = []*Metric{
	{
		Type: TypeDenialRate, Name: "denial rate",
		AbsThreshold: 0.05, SeverityFullAt: 0.5, // min(|delta| * 2, 1), exactly: 0.5 is a power of two
		Seed:     WindowStats.DenialRate,
		PairStat: denialPair,
		Test: func(m *Metric, c Comparison, disp Dispersion) *Evidence {
			b, cur := c.Baseline, c.Current
			if b.Volume == 0 || cur.Volume == 0 {
				return nil
			}
			margin := m.Margin(b.DenialRate())
			zUpper := RateDifferenceScore(cur.Denied, cur.Volume, b.Denied, b.Volume, margin)
			zLower := RateDifferenceScore(cur.Denied, cur.Volume, b.Denied, b.Volume, -margin)
			ev := &Evidence{Type: TypeDenialRate, Method: MethodDenialRate,
				BaselineValue: b.DenialRate(), CurrentValue: cur.DenialRate(), BaselineSize: b.Volume, CurrentSize: cur.Volume,
				BaselineStart: c.BaselineStart, BaselineEnd: c.BaselineEnd, CurrentStart: c.CurrentStart, Margin: margin, Dispersion: disp, HasInterval: true,
				currentAmounts: cur.Amounts,
				// Fisher's exact test of no change guards small counts,
				// where the score tests' normal tails are not yet valid.
				P: math.Max(disp.intervalP(zUpper, zLower), FisherExact(cur.Denied, cur.Volume-cur.Denied, b.Denied, b.Volume-b.Denied))}
			low, high := NewcombeDifference(cur.Denied, cur.Volume, b.Denied, b.Volume)
			ev.DeltaLow, ev.DeltaHigh = disp.widen(ev.CurrentValue-ev.BaselineValue, low, high)
			return ev
		},
		Proportion: true, Drivers: true,
	},
	{
		Type: TypeDecisionTime, Name: "decision time",
		AbsThreshold: 3, SeverityFullAt: 10, // min(|delta| / 10, 1)
		Seed:     func(w WindowStats) float64 { return w.MedianDays },
		PairStat: decisionTimePair,
		Test: func(m *Metric, c Comparison, disp Dispersion) *Evidence {
			b, cur := c.Baseline.Days, c.Current.Days
			nb, nc := b.Total(), cur.Total()
			if nb == 0 || nc == 0 {
				return nil
			}
			margin := m.Margin(c.Baseline.MedianDays)
			zUpper := MannWhitneyShifted(b, cur, margin).upperZ()
			zLower := MannWhitneyShifted(b, cur, -margin).lowerZ()
			ev := &Evidence{Type: TypeDecisionTime, Method: MethodDecisionTime,
				BaselineValue: c.Baseline.MedianDays, CurrentValue: c.Current.MedianDays, BaselineSize: int(nb), CurrentSize: int(nc),
				BaselineStart: c.BaselineStart, BaselineEnd: c.BaselineEnd, CurrentStart: c.CurrentStart, Margin: margin, Dispersion: disp, P: disp.intervalP(zUpper, zLower),
				baselineDays: b}
			if mw := MannWhitney(b, cur); mw.Bounded {
				ev.DeltaLow, ev.DeltaHigh = disp.widen((mw.ShiftLow+mw.ShiftHigh)/2, mw.ShiftLow, mw.ShiftHigh)
				ev.HasInterval = true
			}
			return ev
		},
		Unit: "d",
	},
}

// Types lists every drift type, in the order of Metrics.
var Types = func() []Type {
	out := make([]Type, len(Metrics))
	for i, m := range Metrics {
		out[i] = m.Type
	}
	return out
}()

// MetricOf returns the metric of drift type t; it panics on a type that is
// not one (types come from ParseType or the database's check constraint).
func MetricOf(t Type) *Metric {
	for _, m := range Metrics {
		if m.Type == t {
			return m
		}
	}
	panic(fmt.Sprintf("drift: no metric %q", t))
}

// Drifted reports whether the seed rule fires for a change from baseline
// to current: |delta| >= AbsThreshold, or baseline > 0 and |delta /
// baseline| >= 0.5.
func (m *Metric) Drifted(baseline, current float64) bool {
	delta := current - baseline
	if math.Abs(delta) >= m.AbsThreshold {
		return true
	}
	return baseline > 0 && math.Abs(delta/baseline) >= relativeThreshold
}

// MarginShare is the share of the seed rule's threshold an alert's
// change must be shown to exceed: the null of every alert test is "the
// change is at most half the threshold".
const MarginShare = 0.5

// Threshold is the smallest change the seed rule fires on from baseline:
// AbsThreshold, or half the baseline when that is smaller.
func (m *Metric) Threshold(baseline float64) float64 {
	if baseline > 0 {
		return math.Min(m.AbsThreshold, relativeThreshold*baseline)
	}
	return m.AbsThreshold
}

// Margin is the change an alert test's null allows at baseline.
func (m *Metric) Margin(baseline float64) float64 { return MarginShare * m.Threshold(baseline) }

// Severity is min(|delta| / SeverityFullAt, 1).
func (m *Metric) Severity(delta float64) float64 {
	return math.Min(math.Abs(delta)/m.SeverityFullAt, 1)
}

// Format formats a value for people: a share as a percentage, a quantity
// in its unit.
func (m *Metric) Format(v float64) string {
	if m.Proportion {
		return fmt.Sprintf("%.1f%%", v*100)
	}
	return fmt.Sprintf("%.1f %s", v, m.Unit)
}

// FormatDelta formats a change with its sign: points for a share, the unit
// for a quantity.
func (m *Metric) FormatDelta(v float64) string {
	if m.Proportion {
		return fmt.Sprintf("%+.1f pts", v*100)
	}
	return fmt.Sprintf("%+.1f %s", v, m.Unit)
}

// FormatInterval formats the interval of a change.
func (m *Metric) FormatInterval(low, high float64) string {
	if m.Proportion {
		return fmt.Sprintf("%+.1f to %+.1f pts", low*100, high*100)
	}
	return fmt.Sprintf("%+.0f to %+.0f %s", low, high, m.Unit)
}
