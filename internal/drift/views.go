package drift

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/upstream-rcm/upstream/internal/db"
)

// RunView is a report run with SPEC's JSON field names.
type RunView struct {
	ID           int64       `json:"id"`
	CustomerID   int64       `json:"customer_id"`
	RunType      RunType     `json:"run_type"`
	AsOf         string      `json:"as_of"`
	BaselineDays int         `json:"baseline_days"`
	CurrentDays  int         `json:"current_days"`
	MinVolume    int         `json:"min_volume"`
	FDR          float64     `json:"fdr"`
	Status       RunStatus   `json:"status"`
	Attempt      int         `json:"attempt"`
	JobID        *int64      `json:"job_id"`
	StartedAt    time.Time   `json:"started_at"`
	FinishedAt   *time.Time  `json:"finished_at"`
	Error        *string     `json:"error"`
	Summary      SummaryView `json:"summary"`
}

// SummaryView is a run's summary.
type SummaryView struct {
	BaselineStart    *string `json:"baseline_start"`
	BaselineEnd      *string `json:"baseline_end"`
	CurrentStart     *string `json:"current_start"`
	CurrentEnd       *string `json:"current_end"`
	GroupsConsidered *int32  `json:"groups_considered"`
	EventsCreated    *int32  `json:"events_created"`
	ClaimsRead       *int64  `json:"claims_read"`
	DurationMs       *int64  `json:"duration_ms"`
	TestsRun         *int32  `json:"tests_run"`
	AlertsCreated    *int32  `json:"alerts_created"`
	// GroupsSkipped counts the groups the seed rule skipped for low
	// volume; SkippedGroups lists the first of them with their volumes.
	GroupsSkipped *int32         `json:"groups_skipped"`
	SkippedGroups []SkippedGroup `json:"skipped_groups"`
	// Overturns lists, per (payer, CPT group), the claims initially denied
	// in the windows and those finally paid, the most overturned first.
	Overturns []Overturns `json:"overturns"`
}

// EventView is a drift event with SPEC's JSON field names.
type EventView struct {
	ID                 int64   `json:"id"`
	CustomerID         int64   `json:"customer_id"`
	ReportRunID        int64   `json:"report_run_id"`
	Payer              string  `json:"payer"`
	CPTGroup           string  `json:"cpt_group"`
	DriftType          Type    `json:"drift_type"`
	BaselineValue      float64 `json:"baseline_value"`
	CurrentValue       float64 `json:"current_value"`
	DeltaValue         float64 `json:"delta_value"`
	Severity           float64 `json:"severity"`
	Confidence         float64 `json:"confidence"`
	BaselineStart      string  `json:"baseline_start"`
	BaselineEnd        string  `json:"baseline_end"`
	CurrentStart       string  `json:"current_start"`
	CurrentEnd         string  `json:"current_end"`
	BaselineSampleSize int     `json:"baseline_sample_size"`
	CurrentSampleSize  int     `json:"current_sample_size"`
	SeedRule           bool    `json:"seed_rule"`
	Alert              bool    `json:"alert"`
	// Suppressed alerts were not delivered: their subject was acknowledged
	// or snoozed.
	Suppressed bool `json:"suppressed"`
	// The evidence (null when the group had no claims decided in a window):
	// how it was compared, the compared values and sizes, p- and q-value,
	// and the 95% interval of the change.
	Method            *string  `json:"method"`
	PValue            *float64 `json:"p_value"`
	QValue            *float64 `json:"q_value"`
	DeltaLow          *float64 `json:"delta_low"`
	DeltaHigh         *float64 `json:"delta_high"`
	TestBaselineValue *float64 `json:"test_baseline_value"`
	TestCurrentValue  *float64 `json:"test_current_value"`
	TestBaselineSize  *int32   `json:"test_baseline_size"`
	TestCurrentSize   *int32   `json:"test_current_size"`
	// The alert test's margin (the change its null allowed) and the
	// dispersion it used (null without evidence).
	Margin     *float64 `json:"margin"`
	Dispersion *float64 `json:"dispersion"`
	// WindowsTested is how many current windows the alert test compared
	// (its p-value is the smallest one's times this); current_start is
	// the one it reports.
	WindowsTested *int16 `json:"windows_tested"`
	// An alert's dollars at stake (see Dollars), null without amounts;
	// dollars_low and dollars_high bound a DENIAL_RATE alert's.
	DollarsAtStake *float64 `json:"dollars_at_stake"`
	DollarsLow     *float64 `json:"dollars_low"`
	DollarsHigh    *float64 `json:"dollars_high"`
	// The seed rule's own comparison (by submission date), exact, wherever
	// it fired; null otherwise. An alert's values above are its evidence's.
	SeedBaselineValue      *float64 `json:"seed_baseline_value"`
	SeedCurrentValue       *float64 `json:"seed_current_value"`
	SeedDeltaValue         *float64 `json:"seed_delta_value"`
	SeedSeverity           *float64 `json:"seed_severity"`
	SeedConfidence         *float64 `json:"seed_confidence"`
	SeedBaselineSampleSize *int32   `json:"seed_baseline_sample_size"`
	SeedCurrentSampleSize  *int32   `json:"seed_current_sample_size"`
	// Drivers says what moved a DENIAL_RATE alert (null otherwise).
	Drivers *Drivers `json:"drivers"`
}

// RunWithEvents is what `drift events --json` and `drift run --wait --json`
// print.
type RunWithEvents struct {
	ReportRun RunView     `json:"report_run"`
	Events    []EventView `json:"events"`
}

func datePtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := t.Format(time.DateOnly)
	return &s
}

// ViewRun converts a stored run.
func ViewRun(r db.ReportRun) RunView {
	return RunView{
		ID: r.ID, CustomerID: r.CustomerID, RunType: RunType(r.RunType), AsOf: r.AsOf.Format(time.DateOnly),
		BaselineDays: int(r.BaselineDays), CurrentDays: int(r.CurrentDays), MinVolume: int(r.MinVolume), FDR: r.FDR,
		Status: RunStatus(r.Status), Attempt: int(r.Attempt), JobID: r.JobID, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, Error: r.Error,
		Summary: SummaryView{
			BaselineStart: datePtr(r.BaselineStart), BaselineEnd: datePtr(r.BaselineEnd),
			CurrentStart: datePtr(r.CurrentStart), CurrentEnd: datePtr(r.CurrentEnd),
			GroupsConsidered: r.GroupsConsidered, EventsCreated: r.EventsCreated, ClaimsRead: r.ClaimsRead, DurationMs: r.DurationMs,
			TestsRun: r.TestsRun, AlertsCreated: r.AlertsCreated, GroupsSkipped: r.GroupsSkipped, SkippedGroups: skippedGroups(r.SkippedGroups),
			Overturns: overturnsOf(r.Overturns),
		},
	}
}

// skippedGroups decodes the stored list; runs from before it have none.
func skippedGroups(raw []byte) []SkippedGroup {
	out := []SkippedGroup{}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			return []SkippedGroup{} // written by Compute; never malformed
		}
	}
	return out
}

func overturnsOf(raw []byte) []Overturns {
	out := []Overturns{}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			return []Overturns{} // written by Compute; never malformed
		}
	}
	return out
}

// ViewRuns converts stored runs, keeping their order; never nil, so JSON
// shows an empty list as [].
func ViewRuns(runs []db.ReportRun) []RunView {
	out := make([]RunView, len(runs))
	for i, r := range runs {
		out[i] = ViewRun(r)
	}
	return out
}

// ViewEvents converts stored events.
func ViewEvents(events []db.DriftEvent) []EventView {
	out := make([]EventView, len(events))
	for i, e := range events {
		out[i] = EventView{
			ID: e.ID, CustomerID: e.CustomerID, ReportRunID: e.ReportRunID, Payer: e.Payer, CPTGroup: e.CPTGroup, DriftType: Type(e.DriftType),
			BaselineValue: e.BaselineValue, CurrentValue: e.CurrentValue, DeltaValue: e.DeltaValue, Severity: e.Severity, Confidence: e.Confidence,
			BaselineStart: e.BaselineStart.Format(time.DateOnly), BaselineEnd: e.BaselineEnd.Format(time.DateOnly),
			CurrentStart: e.CurrentStart.Format(time.DateOnly), CurrentEnd: e.CurrentEnd.Format(time.DateOnly),
			BaselineSampleSize: int(e.BaselineSampleSize), CurrentSampleSize: int(e.CurrentSampleSize),
			SeedRule: e.SeedRule, Alert: e.Alert, Suppressed: e.Suppressed, Method: e.Method, PValue: e.PValue, QValue: e.QValue,
			DeltaLow: e.DeltaLow, DeltaHigh: e.DeltaHigh, TestBaselineValue: e.TestBaselineValue, TestCurrentValue: e.TestCurrentValue,
			TestBaselineSize: e.TestBaselineSize, TestCurrentSize: e.TestCurrentSize, Drivers: decodeDrivers(e.Drivers),
			Margin: e.Margin, Dispersion: e.Dispersion, WindowsTested: e.WindowsTested,
			DollarsAtStake: e.DollarsAtStake, DollarsLow: e.DollarsLow, DollarsHigh: e.DollarsHigh,
			SeedBaselineValue: e.SeedBaselineValue, SeedCurrentValue: e.SeedCurrentValue, SeedDeltaValue: e.SeedDeltaValue,
			SeedSeverity: e.SeedSeverity, SeedConfidence: e.SeedConfidence,
			SeedBaselineSampleSize: e.SeedBaselineSampleSize, SeedCurrentSampleSize: e.SeedCurrentSampleSize,
		}
	}
	return out
}

var eventCSVHeader = []string{"report_run_id", "payer", "cpt_group", "drift_type", "baseline_value", "current_value", "delta_value",
	"severity", "confidence", "baseline_start", "baseline_end", "current_start", "current_end", "baseline_sample_size", "current_sample_size",
	"seed_rule", "alert", "method", "p_value", "q_value", "delta_low", "delta_high",
	"test_baseline_value", "test_current_value", "test_baseline_size", "test_current_size", "drivers",
	"margin", "dispersion", "seed_baseline_value", "seed_current_value", "seed_delta_value", "seed_severity", "seed_confidence",
	"seed_baseline_sample_size", "seed_current_sample_size", "windows_tested", "dollars_at_stake", "dollars_low", "dollars_high"}

// WriteEventsCSV writes events as CSV with a header row.
func WriteEventsCSV(w io.Writer, events []EventView) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(eventCSVHeader); err != nil {
		return err
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	for _, e := range events {
		if err := cw.Write([]string{strconv.FormatInt(e.ReportRunID, 10), CSVText(e.Payer), CSVText(e.CPTGroup), string(e.DriftType),
			f(e.BaselineValue), f(e.CurrentValue), f(e.DeltaValue), f(e.Severity), f(e.Confidence),
			e.BaselineStart, e.BaselineEnd, e.CurrentStart, e.CurrentEnd,
			strconv.Itoa(e.BaselineSampleSize), strconv.Itoa(e.CurrentSampleSize),
			strconv.FormatBool(e.SeedRule), strconv.FormatBool(e.Alert), orEmpty(e.Method, func(s string) string { return s }),
			orEmpty(e.PValue, f), orEmpty(e.QValue, f), orEmpty(e.DeltaLow, f), orEmpty(e.DeltaHigh, f),
			orEmpty(e.TestBaselineValue, f), orEmpty(e.TestCurrentValue, f),
			orEmpty(e.TestBaselineSize, func(n int32) string { return strconv.Itoa(int(n)) }),
			orEmpty(e.TestCurrentSize, func(n int32) string { return strconv.Itoa(int(n)) }),
			CSVText(e.Drivers.Summary(MaxDrivers)),
			orEmpty(e.Margin, f), orEmpty(e.Dispersion, f),
			orEmpty(e.SeedBaselineValue, f), orEmpty(e.SeedCurrentValue, f), orEmpty(e.SeedDeltaValue, f),
			orEmpty(e.SeedSeverity, f), orEmpty(e.SeedConfidence, f),
			orEmpty(e.SeedBaselineSampleSize, func(n int32) string { return strconv.Itoa(int(n)) }),
			orEmpty(e.SeedCurrentSampleSize, func(n int32) string { return strconv.Itoa(int(n)) }),
			orEmpty(e.WindowsTested, func(n int16) string { return strconv.Itoa(int(n)) }),
			orEmpty(e.DollarsAtStake, f), orEmpty(e.DollarsLow, f), orEmpty(e.DollarsHigh, f)}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// CSVText neutralizes a text cell that a spreadsheet would run as a
// formula (OWASP's CSV injection advice): a value starting with =, +, -, @,
// tab or carriage return gets a leading single quote. Payers and groups come
// from customers' files; numbers we write are left as they are.
func CSVText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// orEmpty formats a nullable value for CSV: empty for null.
func orEmpty[T any](v *T, format func(T) string) string {
	if v == nil {
		return ""
	}
	return format(*v)
}

// FormatValue formats a value of drift type t for people (Metric.Format).
func FormatValue(t Type, v float64) string { return MetricOf(t).Format(v) }

// FormatDelta formats a change of drift type t with its sign
// (Metric.FormatDelta).
func FormatDelta(t Type, v float64) string { return MetricOf(t).FormatDelta(v) }

// FormatInterval formats the 95% interval of an event's change, or "" when
// it has none.
func (e EventView) FormatInterval() string {
	if e.DeltaLow == nil || e.DeltaHigh == nil {
		return ""
	}
	return MetricOf(e.DriftType).FormatInterval(*e.DeltaLow, *e.DeltaHigh)
}

// EvidenceWords says in plain words how strong the evidence of an event
// is, from its q-value: the share of alerts this strong expected to be
// false.
func (e EventView) EvidenceWords() string {
	switch q := e.QValue; {
	case q == nil:
		return "not tested"
	case *q <= 0.001:
		return "very strong evidence"
	case *q <= 0.01:
		return "strong evidence"
	case *q <= 0.05:
		return "moderate evidence"
	case *q <= 0.2:
		return "weak evidence"
	default:
		return "no evidence"
	}
}

// Compared returns the values the evidence compared (by decision date) and
// their sizes, falling back to the event's own values.
func (e EventView) Compared() (baseline, current float64, baselineSize, currentSize int) {
	if e.TestBaselineValue == nil || e.TestCurrentValue == nil || e.TestBaselineSize == nil || e.TestCurrentSize == nil {
		return e.BaselineValue, e.CurrentValue, e.BaselineSampleSize, e.CurrentSampleSize
	}
	return *e.TestBaselineValue, *e.TestCurrentValue, int(*e.TestBaselineSize), int(*e.TestCurrentSize)
}

// FormatDollars says an alert's dollars at stake for people: "$12,340
// ($6,100 to $18,600)" or "$4,200 delayed"; "" without amounts.
func (e EventView) FormatDollars() string {
	if e.DollarsAtStake == nil {
		return ""
	}
	if e.DriftType == TypeDecisionTime {
		return FormatMoney(*e.DollarsAtStake) + " delayed"
	}
	if e.DollarsLow != nil && e.DollarsHigh != nil {
		return fmt.Sprintf("%s (%s to %s)", FormatMoney(*e.DollarsAtStake), FormatMoney(*e.DollarsLow), FormatMoney(*e.DollarsHigh))
	}
	return FormatMoney(*e.DollarsAtStake)
}

// FormatMoney writes whole dollars with thousands separators: "-$1,234".
func FormatMoney(v float64) string {
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	digits := strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	for i := len(digits) - 3; i > 0; i -= 3 {
		digits = digits[:i] + "," + digits[i:]
	}
	return sign + "$" + digits
}

// CurrentDays is the length of the current window the event compared, in
// days: the run's, or longer for an alert whose evidence took more weeks.
func (e EventView) CurrentDays() int {
	s, err1 := time.Parse(time.DateOnly, e.CurrentStart)
	end, err2 := time.Parse(time.DateOnly, e.CurrentEnd)
	if err1 != nil || err2 != nil {
		return 0
	}
	return int(end.Sub(s).Hours() / 24)
}

// Alerts splits events into alerts and the others, keeping their order.
func Alerts(events []EventView) (alerts, others []EventView) {
	alerts, others = []EventView{}, []EventView{}
	for _, e := range events {
		if e.Alert {
			alerts = append(alerts, e)
		} else {
			others = append(others, e)
		}
	}
	return alerts, others
}
