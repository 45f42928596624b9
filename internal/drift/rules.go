// Package drift computes payer drift: it compares a baseline window with the
// current window per (payer, CPT group) and turns changes in denial rate and
// decision time into events. The rules here are pure functions over
// aggregates; compute.go runs them inside one transaction per computation.
package drift

import (
	"fmt"
	"math"
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

// Windows are the two half-open windows [start, end) of submitted dates.
type Windows struct {
	BaselineStart, BaselineEnd time.Time
	CurrentStart, CurrentEnd   time.Time
}

// WindowsFor returns the windows of p:
// baseline [as_of - (current + baseline), as_of - current),
// current [as_of - current, as_of).
func WindowsFor(p Params) Windows {
	asOf := Date(p.AsOf)
	return Windows{
		BaselineStart: asOf.AddDate(0, 0, -(p.CurrentDays + p.BaselineDays)),
		BaselineEnd:   asOf.AddDate(0, 0, -p.CurrentDays),
		CurrentStart:  asOf.AddDate(0, 0, -p.CurrentDays),
		CurrentEnd:    asOf,
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
}

// Event is one detected drift: the seed rule fired, or the evidence made
// it an alert, or both.
type Event struct {
	Payer, CPTGroup string
	Type            Type
	// The values compared: the seed rule's (windows by submission date)
	// when it fired, otherwise the evidence's (by decision date).
	BaselineValue      float64
	CurrentValue       float64
	Delta              float64
	Severity           float64
	Confidence         float64
	BaselineSampleSize int
	CurrentSampleSize  int
	// SeedRule is true when the seed rule's thresholds fired.
	SeedRule bool
	// Alert is true when the evidence's comparison crosses the seed
	// thresholds and its q-value is at most the run's FDR.
	Alert bool
	// Evidence is the test of this group and metric; nil when it had no
	// claims decided in one of the windows.
	Evidence *Evidence
	// Drivers says what moved a DENIAL_RATE alert; nil for other events.
	Drivers *Drivers
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
	Alerts           int
	GroupsSkipped    int
	Skipped          []SkippedGroup // the first MaxSkippedListed, by payer and group
}

type eventKey struct {
	payer, cptGroup string
	typ             Type
}

// Evaluate applies the seed rule to every group with at least MinVolume
// claims submitted in each window, exactly as the original system did,
// and tests every group and metric with claims decided in both windows
// (see evidence.go). q-values come from Benjamini–Hochberg over all the
// run's tests. Events are ordered by severity (highest first), then payer,
// CPT group and type.
func Evaluate(p Params, groups []Group) Result {
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
		mk := func(typ Type, baseline, current, severity float64) Event {
			return Event{Payer: g.Payer, CPTGroup: g.CPTGroup, Type: typ,
				BaselineValue: baseline, CurrentValue: current, Delta: current - baseline,
				Severity: severity, Confidence: confidence,
				BaselineSampleSize: g.Baseline.Volume, CurrentSampleSize: g.Current.Volume, SeedRule: true}
		}
		for _, m := range Metrics {
			if b, c := m.Seed(g.Baseline), m.Seed(g.Current); m.Drifted(b, c) {
				add(mk(m.Type, b, c, m.Severity(c-b)))
			}
		}
	}

	type test struct {
		payer, cptGroup string
		ev              *Evidence
	}
	var tests []test
	for _, g := range groups {
		for _, ev := range Test(g) {
			tests = append(tests, test{g.Payer, g.CPTGroup, ev})
		}
	}
	pValues := make([]float64, len(tests))
	for i, t := range tests {
		pValues[i] = t.ev.P
	}
	for i, q := range BenjaminiHochberg(pValues) {
		t := tests[i]
		t.ev.Q = q
		k := eventKey{t.payer, t.cptGroup, t.ev.Type}
		alert := t.ev.Crossed() && q <= p.FDR
		e := events[k]
		if e == nil && !alert {
			continue
		}
		if e == nil {
			d := t.ev.CurrentValue - t.ev.BaselineValue
			e = add(Event{Payer: t.payer, CPTGroup: t.cptGroup, Type: t.ev.Type,
				BaselineValue: t.ev.BaselineValue, CurrentValue: t.ev.CurrentValue, Delta: d, Severity: MetricOf(t.ev.Type).Severity(d),
				Confidence:         Confidence(t.ev.BaselineSize, t.ev.CurrentSize, p.MinVolume),
				BaselineSampleSize: t.ev.BaselineSize, CurrentSampleSize: t.ev.CurrentSize})
		}
		e.Evidence, e.Alert = t.ev, alert
		if alert {
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
