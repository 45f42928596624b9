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
	// Test weighs the evidence of a change between the decision-date
	// windows; nil when either window has nothing to compare.
	Test func(baseline, current WindowStats) *Evidence
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
		Seed: WindowStats.DenialRate,
		Test: func(b, c WindowStats) *Evidence {
			if b.Volume == 0 || c.Volume == 0 {
				return nil
			}
			ev := &Evidence{Type: TypeDenialRate, Method: MethodDenialRate,
				BaselineValue: b.DenialRate(), CurrentValue: c.DenialRate(), BaselineSize: b.Volume, CurrentSize: c.Volume,
				P: FisherExact(c.Denied, c.Volume-c.Denied, b.Denied, b.Volume-b.Denied), HasInterval: true}
			ev.DeltaLow, ev.DeltaHigh = NewcombeDifference(c.Denied, c.Volume, b.Denied, b.Volume)
			return ev
		},
		Proportion: true, Drivers: true,
	},
	{
		Type: TypeDecisionTime, Name: "decision time",
		AbsThreshold: 3, SeverityFullAt: 10, // min(|delta| / 10, 1)
		Seed: func(w WindowStats) float64 { return w.MedianDays },
		Test: func(b, c WindowStats) *Evidence {
			// The histograms may hold fewer claims than the volumes
			// (LimitDecidedAges).
			nb, nc := b.Days.Total(), c.Days.Total()
			if nb == 0 || nc == 0 {
				return nil
			}
			mw := MannWhitney(b.Days, c.Days)
			return &Evidence{Type: TypeDecisionTime, Method: MethodDecisionTime,
				BaselineValue: b.MedianDays, CurrentValue: c.MedianDays, BaselineSize: int(nb), CurrentSize: int(nc),
				P: mw.P, DeltaLow: mw.ShiftLow, DeltaHigh: mw.ShiftHigh, HasInterval: mw.Bounded}
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
