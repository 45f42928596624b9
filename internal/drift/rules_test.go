package drift

import (
	"encoding/csv"
	"math"
	"strings"
	"testing"
	"time"
)

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestWindowsAreHalfOpen(t *testing.T) {
	p := DefaultParams(day("2026-11-23"))
	w := WindowsFor(p)
	if w.BaselineStart != day("2026-08-11") || w.BaselineEnd != day("2026-11-09") || w.CurrentStart != day("2026-11-09") || w.CurrentEnd != day("2026-11-23") {
		t.Fatalf("windows = %+v", w)
	}
	for _, tc := range []struct {
		day  string
		want Window
	}{
		{"2026-08-10", Outside},  // day before baseline start
		{"2026-08-11", Baseline}, // baseline start is inside
		{"2026-11-08", Baseline}, // last baseline day
		{"2026-11-09", Current},  // baseline_end belongs to the current window
		{"2026-11-22", Current},  // last current day
		{"2026-11-23", Outside},  // as_of belongs to neither
	} {
		if got := w.Classify(day(tc.day)); got != tc.want {
			t.Errorf("Classify(%s) = %v, want %v", tc.day, got, tc.want)
		}
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []int
		want float64
	}{
		{nil, 0},
		{[]int{7}, 7},
		{[]int{9, 1, 5}, 5},
		{[]int{4, 1, 3, 2}, 2.5}, // even: mean of the two middle values
		{[]int{10, 2}, 6},
		{[]int{3, 3, 4, 4}, 3.5},
	} {
		if got := Median(tc.in); got != tc.want {
			t.Errorf("Median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestDenialRateRule(t *testing.T) {
	for _, tc := range []struct {
		name              string
		baseline, current float64
		want              bool
	}{
		{"absolute delta exactly 0.05", 0.05, 0.10, true},
		{"absolute delta just below, relative below", 0.20, 0.2499, false},
		// float64, as SPEC says: 25/100 - 20/100 is 0.04999999999999999.
		{"20% to 25% is just below 0.05 in float64", 20.0 / 100, 25.0 / 100, false},
		{"improvement is an event too", 0.30, 0.20, true},
		{"relative exactly 0.5 with small absolute", 1.0 / 16, 3.0 / 32, true},
		{"relative just below 0.5", 1.0 / 16, 3.0/32 - 1e-9, false},
		{"zero baseline: no relative test", 0, 0.04, false},
		{"zero baseline: absolute still applies", 0, 0.05, true},
		{"no change", 0.1, 0.1, false},
	} {
		if got := MetricOf(TypeDenialRate).Drifted(tc.baseline, tc.current); got != tc.want {
			t.Errorf("%s: DenialRateDrifted(%v, %v) = %v, want %v", tc.name, tc.baseline, tc.current, got, tc.want)
		}
	}
}

func TestDecisionTimeRule(t *testing.T) {
	for _, tc := range []struct {
		name              string
		baseline, current float64
		want              bool
	}{
		{"absolute delta exactly 3 days", 10, 13, true},
		{"absolute below, relative below", 10, 12.5, false},
		{"faster decisions are events too", 10, 7, true},
		{"relative exactly 0.5", 4, 6, true},
		{"relative just below", 4, 5.9, false},
		{"zero baseline: no relative test", 0, 2.5, false},
		{"zero baseline: absolute still applies", 0, 3, true},
	} {
		if got := MetricOf(TypeDecisionTime).Drifted(tc.baseline, tc.current); got != tc.want {
			t.Errorf("%s: DecisionTimeDrifted(%v, %v) = %v, want %v", tc.name, tc.baseline, tc.current, got, tc.want)
		}
	}
}

func TestSeverityAndConfidence(t *testing.T) {
	if got := MetricOf(TypeDenialRate).Severity(-0.2); got != 0.4 {
		t.Errorf("MetricOf(TypeDenialRate).Severity(-0.2) = %v, want 0.4", got)
	}
	if got := MetricOf(TypeDenialRate).Severity(0.7); got != 1 {
		t.Errorf("MetricOf(TypeDenialRate).Severity(0.7) = %v, want capped at 1", got)
	}
	if got := MetricOf(TypeDecisionTime).Severity(-4); got != 0.4 {
		t.Errorf("MetricOf(TypeDecisionTime).Severity(-4) = %v, want 0.4", got)
	}
	if got := MetricOf(TypeDecisionTime).Severity(12); got != 1 {
		t.Errorf("MetricOf(TypeDecisionTime).Severity(12) = %v, want 1", got)
	}
	if got := Confidence(30, 30, 30); got != 0.5 {
		t.Errorf("Confidence(30, 30, 30) = %v, want 0.5", got)
	}
	if got := Confidence(100, 50, 30); got != 1 {
		t.Errorf("Confidence(100, 50, 30) = %v, want 1", got)
	}
}

func TestEvaluateMinVolumeBoundaries(t *testing.T) {
	p := DefaultParams(day("2026-11-23"))
	drifting := func(payer string, baselineVolume, currentVolume int) Group {
		// Denial rate 0% -> 50%: an event whenever the group is considered.
		return Group{Payer: payer, CPTGroup: "E&M",
			Baseline: WindowStats{Volume: baselineVolume, Denied: 0, MedianDays: 10},
			Current:  WindowStats{Volume: currentVolume, Denied: currentVolume / 2, MedianDays: 10}}
	}
	res := Evaluate(p, []Group{
		drifting("at-min", 30, 30),
		drifting("baseline-one-below", 29, 40),
		drifting("current-one-below", 40, 29),
	})
	if res.GroupsConsidered != 1 || len(res.Events) != 1 || res.Events[0].Payer != "at-min" {
		t.Fatalf("considered %d, events %+v; want only the group at exactly min_volume", res.GroupsConsidered, res.Events)
	}
	if res.ClaimsRead != 30+30+29+40+40+29 {
		t.Fatalf("claims read = %d, want every claim of every group", res.ClaimsRead)
	}
	e := res.Events[0]
	if e.Type != TypeDenialRate || e.BaselineValue != 0 || e.CurrentValue != 0.5 || e.Delta != 0.5 || e.Severity != 1 || e.Confidence != 0.5 ||
		e.BaselineSampleSize != 30 || e.CurrentSampleSize != 30 {
		t.Fatalf("event = %+v", e)
	}
}

func TestEvaluateBothTypesAndOrdering(t *testing.T) {
	p := DefaultParams(day("2026-11-23"))
	res := Evaluate(p, []Group{
		{Payer: "A", CPTGroup: "LAB",
			Baseline: WindowStats{Volume: 100, Denied: 10, MedianDays: 12},
			Current:  WindowStats{Volume: 40, Denied: 2, MedianDays: 7.5}}, // rate 0.10 -> 0.05 (improvement), time -4.5
		{Payer: "B", CPTGroup: "E&M",
			Baseline: WindowStats{Volume: 60, Denied: 6, MedianDays: 10},
			Current:  WindowStats{Volume: 60, Denied: 6, MedianDays: 10}}, // no change
	})
	if res.GroupsConsidered != 2 || len(res.Events) != 2 {
		t.Fatalf("result = %+v", res)
	}
	time, rate := res.Events[0], res.Events[1]
	if time.Type != TypeDecisionTime || time.Delta != -4.5 || math.Abs(time.Severity-0.45) > 1e-12 {
		t.Fatalf("first event = %+v, want DECISION_TIME delta -4.5 severity 0.45", time)
	}
	if rate.Type != TypeDenialRate || math.Abs(rate.Delta+0.05) > 1e-12 || math.Abs(rate.Severity-0.1) > 1e-12 {
		t.Fatalf("second event = %+v, want DENIAL_RATE delta -0.05 severity 0.1", rate)
	}
	if time.Confidence != 1 {
		t.Fatalf("confidence = %v, want 1 for 140 claims", time.Confidence)
	}
}

// Text cells a spreadsheet would run as formulas are neutralized in the CSV
// exports (API and CLI share WriteEventsCSV); numbers are not touched.
func TestCSVExportNeutralizesFormulas(t *testing.T) {
	var b strings.Builder
	events := []EventView{
		{Payer: "=HYPERLINK(\"http://evil\")", CPTGroup: "+1", DriftType: TypeDenialRate, DeltaValue: -0.05},
		{Payer: "@SUM(A1)", CPTGroup: "-2", DriftType: TypeDenialRate},
		{Payer: "\tTab", CPTGroup: "\rCR", DriftType: TypeDenialRate},
		{Payer: "Aetna", CPTGroup: "E&M", DriftType: TypeDenialRate},
	}
	if err := WriteEventsCSV(&b, events); err != nil {
		t.Fatal(err)
	}
	records, err := csv.NewReader(strings.NewReader(b.String())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range [][2]string{{"'=HYPERLINK(\"http://evil\")", "'+1"}, {"'@SUM(A1)", "'-2"}, {"'\tTab", "'\rCR"}, {"Aetna", "E&M"}} {
		if got := [2]string{records[i+1][1], records[i+1][2]}; got != want {
			t.Errorf("row %d: %q, want %q", i+1, got, want)
		}
	}
	if records[1][6] != "-0.05" {
		t.Errorf("a negative delta became %q", records[1][6])
	}
}
