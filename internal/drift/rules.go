// Package drift computes payer drift: it compares a baseline window with the
// current window per (payer, CPT group) and turns changes in denial rate and
// decision time into events. The rules here are pure functions over
// aggregates; compute.go runs them inside one transaction per computation.
package drift

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/upstream-rcm/upstream/internal/claimstats"
)

// Type is a drift type: the metric that changed.
type Type string

// The drift types (drift_events.drift_type).
const (
	TypeDenialRate   Type = "DENIAL_RATE"
	TypeDecisionTime Type = "DECISION_TIME"
)

// ParseType returns the drift type named s (case-insensitive).
func ParseType(s string) (Type, error) {
	for _, t := range Types {
		if strings.EqualFold(s, string(t)) {
			return t, nil
		}
	}
	names := make([]string, len(Types))
	for i, t := range Types {
		names[i] = string(t)
	}
	return "", fmt.Errorf("drift type %q: must be one of %s", s, strings.Join(names, ", "))
}

// relativeThreshold is the seed rule's relative change threshold, common to
// every metric (each metric's absolute one is in Metrics).
const relativeThreshold = 0.5

// Default parameters.
const (
	DefaultBaselineDays = 90
	DefaultCurrentDays  = 14
	DefaultMinVolume    = 30
	// DefaultFDR is the false discovery rate alerts are controlled at.
	DefaultFDR = 0.05
)

// Parameter bounds: beyond them a computation means nothing and its dates
// overflow.
const (
	MaxWindowDays = 3650
	MaxMinVolume  = 1_000_000
)

// Params are a computation's parameters.
type Params struct {
	AsOf         time.Time // a calendar date (UTC midnight)
	BaselineDays int
	CurrentDays  int
	MinVolume    int
	FDR          float64 // alerts need q <= FDR
}

// DefaultParams returns the default parameters as of asOf.
func DefaultParams(asOf time.Time) Params {
	return Params{AsOf: Date(asOf), BaselineDays: DefaultBaselineDays, CurrentDays: DefaultCurrentDays,
		MinVolume: DefaultMinVolume, FDR: DefaultFDR}
}

// Validate reports parameters that cannot produce a computation.
func (p Params) Validate() error {
	switch {
	case p.AsOf.IsZero():
		return &ParamError{"as_of", "is required"}
	case p.AsOf.Year() < 1900 || p.AsOf.Year() > 9000:
		return &ParamError{"as_of", fmt.Sprintf("%s is out of range (years 1900 to 9000)", p.AsOf.Format(time.DateOnly))}
	case p.BaselineDays < 1 || p.BaselineDays > MaxWindowDays:
		return &ParamError{"baseline_days", fmt.Sprintf("must be from 1 to %d, got %d", MaxWindowDays, p.BaselineDays)}
	case p.CurrentDays < 1 || p.CurrentDays > MaxWindowDays:
		return &ParamError{"current_days", fmt.Sprintf("must be from 1 to %d, got %d", MaxWindowDays, p.CurrentDays)}
	case p.MinVolume < 1 || p.MinVolume > MaxMinVolume:
		return &ParamError{"min_volume", fmt.Sprintf("must be from 1 to %d, got %d", MaxMinVolume, p.MinVolume)}
	case !(p.FDR > 0 && p.FDR < 1): // also refuses NaN
		return &ParamError{"fdr", fmt.Sprintf("must be above 0 and below 1, got %v", p.FDR)}
	}
	return nil
}

// ParamError is a run parameter out of its range. Param is its API name
// (as_of, baseline_days, ...); front-ends name their own flag for it.
type ParamError struct {
	Param   string
	Message string
}

func (e *ParamError) Error() string { return e.Param + " " + e.Message }

// Date truncates t to its UTC calendar date.
func Date(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Windows are the two half-open windows [start, end) of submitted dates,
// and the history the evidence reads.
type Windows struct {
	BaselineStart, BaselineEnd time.Time
	CurrentStart, CurrentEnd   time.Time
	// HistoryStart begins the whole weeks of decisions before the current
	// window that the evidence reads (HistoryWeeks, or more when the
	// baseline's weeks, the guard band and the longest span need them).
	HistoryStart time.Time
}

// HistoryWeeks is how many weeks of decisions before the current window a
// computation reads to learn how much each cell varies from week to week.
const HistoryWeeks = 26

// WindowsFor returns the windows of p:
// baseline [as_of - (current + baseline), as_of - current),
// current [as_of - current, as_of).
func WindowsFor(p Params) Windows {
	asOf := Date(p.AsOf)
	cs := asOf.AddDate(0, 0, -p.CurrentDays)
	return Windows{
		BaselineStart: asOf.AddDate(0, 0, -(p.CurrentDays + p.BaselineDays)),
		BaselineEnd:   cs,
		CurrentStart:  cs,
		CurrentEnd:    asOf,
		HistoryStart:  cs.AddDate(0, 0, -7*max(HistoryWeeks, p.BaselineDays/7+GuardWeeks+slices.Max(SpanWeeks))),
	}
}

// WindowStats aggregates one window of one group (PAID and DENIED claims).
type WindowStats struct {
	Volume     int
	Denied     int
	MedianDays float64 // median of decided - submitted, in days
	// Days is the histogram of days to decision, when aggregated from the
	// statistics.
	Days claimstats.Histogram
	// Amounts are the dollars of the claims (decision-date windows).
	Amounts claimstats.Amounts
}

// DenialRate is denied / volume, 0 for an empty window.
func (s WindowStats) DenialRate() float64 {
	if s.Volume == 0 {
		return 0
	}
	return float64(s.Denied) / float64(s.Volume)
}

// Group is one (payer, CPT group) with both windows aggregated, by
// submission date (the seed rule) and by decision date (the evidence).
type Group struct {
	Payer, CPTGroup   string
	Baseline, Current WindowStats
	// DecidedBaseline and DecidedCurrent hold the claims decided in each
	// window.
	DecidedBaseline, DecidedCurrent WindowStats
	// Weeks hold the claims decided in each whole week before the current
	// window, the latest first: Weeks[k] is [current start - 7(k+1),
	// current start - 7k), back to the history's start.
	Weeks []WindowStats
	// FirstSubmitted is the cell's earliest submission in the history read
	// (zero when none): a cell whose claims start inside it is compared
	// on the ages its history can hold (see Compare).
	FirstSubmitted time.Time
}

// Event is one detected drift: the seed rule fired, or the evidence made
// it an alert, or both.
type Event struct {
	Payer, CPTGroup string
	Type            Type
	// The values compared: an alert's come from the evidence's comparison
	// that made it one (by decision date); an event that is only the seed
	// rule's carries the seed rule's.
	BaselineValue      float64
	CurrentValue       float64
	Delta              float64
	Severity           float64
	Confidence         float64
	BaselineSampleSize int
	CurrentSampleSize  int
	// SeedRule is true when the seed rule's thresholds fired.
	SeedRule bool
	// Seed holds the seed rule's own comparison (windows by submission
	// date), exactly as SPEC defines it, wherever it fired; nil otherwise.
	Seed *SeedValues
	// Alert is true when the evidence shows a change beyond its margin
	// that crosses the seed thresholds, at the run's FDR (see Evaluate).
	Alert bool
	// Evidence is the test of this group and metric; nil when it was not
	// tested (no claims decided in a window, or too short a history).
	Evidence *Evidence
	// Drivers says what moved an alert; nil for other events.
	Drivers *Drivers
	// Dollars is an alert's dollars at stake; nil without amounts.
	Dollars *Dollars
}

// Dollars are what an alert costs: for DENIAL_RATE the excess denied
// dollars in its current window, (current - baseline rate) x current
// claims x their mean amount (charge, else allowed), with Low and High
// from the rate change's interval; for DECISION_TIME the dollars delayed,
// the amounts of the current window's claims decided later than the
// baseline's median (no interval).
type Dollars struct {
	AtStake     float64
	Low, High   float64
	HasInterval bool
}

// denialDollars prices a DENIAL_RATE alert's change from its current
// window's amounts; nil when none of its claims has an amount.
func denialDollars(ev *Evidence) *Dollars {
	a := ev.currentAmounts
	if a.Claims == 0 || ev.CurrentSize == 0 {
		return nil
	}
	perClaim := float64(ev.CurrentSize) * float64(a.Cents) / float64(a.Claims) / 100
	d := &Dollars{AtStake: cents((ev.CurrentValue - ev.BaselineValue) * perClaim)}
	if ev.HasInterval {
		d.Low, d.High, d.HasInterval = cents(ev.DeltaLow*perClaim), cents(ev.DeltaHigh*perClaim), true
	}
	return d
}

// cents rounds dollars to the cent.
func cents(v float64) float64 { return math.Round(v*100) / 100 }

// SeedValues are the seed rule's comparison of one group and metric.
type SeedValues struct {
	BaselineValue, CurrentValue, Delta, Severity, Confidence float64
	BaselineSampleSize, CurrentSampleSize                    int
}

// SkippedGroup is a group the seed rule did not consider for low volume.
type SkippedGroup struct {
	Payer          string `json:"payer"`
	CPTGroup       string `json:"cpt_group"`
	BaselineVolume int    `json:"baseline_volume"`
	CurrentVolume  int    `json:"current_volume"`
}

// MaxSkippedListed bounds the skipped groups a run lists (all are counted).
const MaxSkippedListed = 200

// Result is what Evaluate found.
type Result struct {
	GroupsConsidered int
	ClaimsRead       int // PAID/DENIED claims submitted in both windows, all groups
	Events           []Event
	TestsRun         int
	Tested           []Tested // every cell and metric tested, in test order
	Alerts           int
	GroupsSkipped    int
	Skipped          []SkippedGroup // the first MaxSkippedListed, by payer and group
}

// test is one cell and metric's evidence.
type test struct {
	payer, cptGroup string
	ev              *Evidence
}

// Tested is a cell and metric the evidence tested.
type Tested struct {
	Payer, CPTGroup string
	Type            Type
}

type eventKey struct {
	payer, cptGroup string
	typ             Type
}

// Rule is how the evidence decides alerts.
type Rule int

const (
	// RuleIntervalNull tests "the change is at most the margin" with each
	// cell's weekly dispersion, and runs Benjamini–Hochberg over p-values
	// that are 1 where the change does not cross the seed thresholds: the
	// expected share of a run's alerts whose change is within the margin
	// is at most the FDR.
	RuleIntervalNull Rule = iota
	// RulePointNull is the rule before it: tests of no change (Fisher's
	// exact, Mann–Whitney) on the decision-date windows, Benjamini–Hochberg
	// over all of them, then the seed thresholds. Kept only so that the
	// detection benchmark can show what changed.
	RulePointNull
)

// Evaluate applies the seed rule to every group with at least MinVolume
// claims submitted in each window, exactly as the original system did,
// and tests every group and metric with claims decided in both windows
// (RuleIntervalNull). Events are ordered by severity (highest first), then
// payer, CPT group and type.
func Evaluate(p Params, groups []Group) Result { return EvaluateRule(p, groups, RuleIntervalNull) }

// EvaluateRule is Evaluate with the alerts decided by rule.
func EvaluateRule(p Params, groups []Group, rule Rule) Result {
	var res Result
	events := map[eventKey]*Event{}
	var order []eventKey
	add := func(e Event) *Event {
		k := eventKey{e.Payer, e.CPTGroup, e.Type}
		events[k] = &e
		order = append(order, k)
		return events[k]
	}
	for _, g := range groups {
		res.ClaimsRead += g.Baseline.Volume + g.Current.Volume
		if g.Baseline.Volume < p.MinVolume || g.Current.Volume < p.MinVolume {
			if g.Baseline.Volume+g.Current.Volume > 0 {
				res.GroupsSkipped++
				if len(res.Skipped) < MaxSkippedListed {
					res.Skipped = append(res.Skipped, SkippedGroup{Payer: g.Payer, CPTGroup: g.CPTGroup,
						BaselineVolume: g.Baseline.Volume, CurrentVolume: g.Current.Volume})
				}
			}
			continue
		}
		res.GroupsConsidered++
		confidence := Confidence(g.Baseline.Volume, g.Current.Volume, p.MinVolume)
		for _, m := range Metrics {
			if b, c := m.Seed(g.Baseline), m.Seed(g.Current); m.Drifted(b, c) {
				seed := SeedValues{BaselineValue: b, CurrentValue: c, Delta: c - b, Severity: m.Severity(c - b), Confidence: confidence,
					BaselineSampleSize: g.Baseline.Volume, CurrentSampleSize: g.Current.Volume}
				add(Event{Payer: g.Payer, CPTGroup: g.CPTGroup, Type: m.Type,
					BaselineValue: b, CurrentValue: c, Delta: seed.Delta, Severity: seed.Severity, Confidence: confidence,
					BaselineSampleSize: seed.BaselineSampleSize, CurrentSampleSize: seed.CurrentSampleSize, SeedRule: true, Seed: &seed})
			}
		}
	}

	var tests []test
	if rule == RulePointNull {
		for _, g := range groups {
			for _, ev := range pointNullTests(g) {
				tests = append(tests, test{g.Payer, g.CPTGroup, ev})
			}
		}
	} else {
		tests = intervalNullTests(p, groups)
	}
	pValues := make([]float64, len(tests))
	for i, t := range tests {
		pValues[i] = t.ev.P
		if rule == RuleIntervalNull && !t.ev.Crossed() {
			// Not an alert whatever its p-value: BH over p-values that are
			// 1 for such tests (still valid) controls the false share of
			// the alerts themselves, not of a set they are filtered from.
			pValues[i] = 1
		}
	}
	for i, q := range BenjaminiHochberg(pValues) {
		t := tests[i]
		res.Tested = append(res.Tested, Tested{t.payer, t.cptGroup, t.ev.Type})
		t.ev.Q = q
		k := eventKey{t.payer, t.cptGroup, t.ev.Type}
		alert := t.ev.Crossed() && q <= p.FDR
		e := events[k]
		if e == nil && !alert {
			continue
		}
		if e == nil {
			e = add(Event{Payer: t.payer, CPTGroup: t.cptGroup, Type: t.ev.Type})
		}
		e.Evidence, e.Alert = t.ev, alert
		if alert {
			if t.ev.Type == TypeDenialRate {
				e.Dollars = denialDollars(t.ev)
			}
			// One comparison per event: the one that made it an alert.
			d := t.ev.CurrentValue - t.ev.BaselineValue
			e.BaselineValue, e.CurrentValue, e.Delta, e.Severity = t.ev.BaselineValue, t.ev.CurrentValue, d, MetricOf(t.ev.Type).Severity(d)
			e.Confidence = Confidence(t.ev.BaselineSize, t.ev.CurrentSize, p.MinVolume)
			e.BaselineSampleSize, e.CurrentSampleSize = t.ev.BaselineSize, t.ev.CurrentSize
			res.Alerts++
		}
	}
	res.TestsRun = len(tests)
	for _, k := range order {
		res.Events = append(res.Events, *events[k])
	}
	SortEvents(res.Events)
	return res
}

// intervalNullTests are RuleIntervalNull's tests: per cell and metric, one
// test per current window of SpanWeeks, each at the dispersion of the
// cell's weeks before it (combined with its payer's, pooled over the
// payer's cells), reduced to the window whose change crosses the seed
// thresholds with the smallest p-value, times the windows tested.
func intervalNullTests(p Params, groups []Group) []test {
	type cell struct {
		g    Group
		c    []Comparison // per span; ok[s] false where too short
		ok   []bool
		disp [][]Dispersion // per span, per metric
	}
	type pooledKey struct {
		payer        string
		span, metric int
	}
	type pooled struct{ sum, df float64 }
	var cells []cell
	payers := map[pooledKey]*pooled{}
	type pairStat struct {
		s  float64
		ok bool
	}
	for _, g := range groups {
		ce := cell{g: g, c: make([]Comparison, len(SpanWeeks)), ok: make([]bool, len(SpanWeeks)), disp: make([][]Dispersion, len(SpanWeeks))}
		// The spans' histories are the same weeks from later starts: each
		// pair of weeks is compared once, keyed by its first week in g.Weeks.
		memo := make([]map[int]pairStat, len(Metrics))
		for i := range memo {
			memo[i] = map[int]pairStat{}
		}
		for s, span := range SpanWeeks {
			if ce.c[s], ce.ok[s] = Compare(p, g, span); !ce.ok[s] {
				continue
			}
			ce.disp[s] = make([]Dispersion, len(Metrics))
			h := ce.c[s].History
			for i, m := range Metrics {
				d := pairsDispersion(len(h), func(k int) (float64, bool) {
					r, seen := memo[i][span+GuardWeeks+k]
					if !seen {
						r.s, r.ok = m.PairStat(h[k], h[k+1])
						memo[i][span+GuardWeeks+k] = r
					}
					return r.s, r.ok
				})
				ce.disp[s][i] = d
				k := pooledKey{g.Payer, s, i}
				if payers[k] == nil {
					payers[k] = &pooled{}
				}
				payers[k].sum += d.Phi * float64(d.DF)
				payers[k].df += float64(d.DF)
			}
		}
		cells = append(cells, ce)
	}
	var tests []test
	for _, ce := range cells {
		for i, m := range Metrics {
			var best *Evidence
			bestP, tested := 2.0, 0
			for s := range SpanWeeks {
				if !ce.ok[s] || ce.disp[s][i].DF < MinDispersionDF {
					continue // too short a history to know how the cell varies
				}
				pl := payers[pooledKey{ce.g.Payer, s, i}]
				payer := Dispersion{Phi: pl.sum / pl.df, DF: int(pl.df)}
				ev := m.Test(m, ce.c[s], combine(ce.disp[s][i], payer))
				if ev == nil {
					continue
				}
				tested++
				pc := 1.0 // a window whose change does not cross cannot alert
				if ev.Crossed() {
					pc = ev.P
				}
				if pc < bestP { // ties keep the shorter window
					best, bestP = ev, pc
				}
			}
			if best != nil {
				best.Windows, best.P = tested, math.Min(1, best.P*float64(tested))
				tests = append(tests, test{ce.g.Payer, ce.g.CPTGroup, best})
			}
		}
	}
	return tests
}

// pointNullTests are RulePointNull's tests of g: no change between the
// decision-date windows.
func pointNullTests(g Group) []*Evidence {
	var out []*Evidence
	b, c := g.DecidedBaseline, g.DecidedCurrent
	if b.Volume > 0 && c.Volume > 0 {
		ev := &Evidence{Type: TypeDenialRate, Method: MethodDenialRatePointNull,
			BaselineValue: b.DenialRate(), CurrentValue: c.DenialRate(), BaselineSize: b.Volume, CurrentSize: c.Volume,
			P: FisherExact(c.Denied, c.Volume-c.Denied, b.Denied, b.Volume-b.Denied), HasInterval: true}
		ev.DeltaLow, ev.DeltaHigh = NewcombeDifference(c.Denied, c.Volume, b.Denied, b.Volume)
		out = append(out, ev)
	}
	if nb, nc := b.Days.Total(), c.Days.Total(); nb > 0 && nc > 0 {
		mw := MannWhitney(b.Days, c.Days)
		out = append(out, &Evidence{Type: TypeDecisionTime, Method: MethodDecisionTimePointNull,
			BaselineValue: b.MedianDays, CurrentValue: c.MedianDays, BaselineSize: int(nb), CurrentSize: int(nc),
			P: mw.P, DeltaLow: mw.ShiftLow, DeltaHigh: mw.ShiftHigh, HasInterval: mw.Bounded})
	}
	return out
}

// SortEvents orders events by severity (highest first), then payer, CPT
// group and type, so that output is stable.
func SortEvents(events []Event) {
	sort.SliceStable(events, func(i, j int) bool {
		a, b := events[i], events[j]
		if a.Severity != b.Severity {
			return a.Severity > b.Severity
		}
		if a.Payer != b.Payer {
			return a.Payer < b.Payer
		}
		if a.CPTGroup != b.CPTGroup {
			return a.CPTGroup < b.CPTGroup
		}
		return a.Type < b.Type
	})
}

// Confidence is min((baseline + current) / (min_volume * 4), 1).
func Confidence(baselineVolume, currentVolume, minVolume int) float64 {
	return math.Min(float64(baselineVolume+currentVolume)/float64(minVolume*4), 1)
}
