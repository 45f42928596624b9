package drift

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
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
		BaselineDays: int(r.BaselineDays), CurrentDays: int(r.CurrentDays), MinVolume: int(r.MinVolume),
		Status: RunStatus(r.Status), Attempt: int(r.Attempt), JobID: r.JobID, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, Error: r.Error,
		Summary: SummaryView{
			BaselineStart: datePtr(r.BaselineStart), BaselineEnd: datePtr(r.BaselineEnd),
			CurrentStart: datePtr(r.CurrentStart), CurrentEnd: datePtr(r.CurrentEnd),
			GroupsConsidered: r.GroupsConsidered, EventsCreated: r.EventsCreated, ClaimsRead: r.ClaimsRead, DurationMs: r.DurationMs,
		},
	}
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
		}
	}
	return out
}

var eventCSVHeader = []string{"report_run_id", "payer", "cpt_group", "drift_type", "baseline_value", "current_value", "delta_value",
	"severity", "confidence", "baseline_start", "baseline_end", "current_start", "current_end", "baseline_sample_size", "current_sample_size"}

// WriteEventsCSV writes events as CSV with a header row.
func WriteEventsCSV(w io.Writer, events []EventView) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(eventCSVHeader); err != nil {
		return err
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	for _, e := range events {
		if err := cw.Write([]string{strconv.FormatInt(e.ReportRunID, 10), e.Payer, e.CPTGroup, string(e.DriftType),
			f(e.BaselineValue), f(e.CurrentValue), f(e.DeltaValue), f(e.Severity), f(e.Confidence),
			e.BaselineStart, e.BaselineEnd, e.CurrentStart, e.CurrentEnd,
			strconv.Itoa(e.BaselineSampleSize), strconv.Itoa(e.CurrentSampleSize)}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// FormatValue formats a value of drift type t for people: a denial rate
// as a percentage, a decision time in days.
func FormatValue(t Type, v float64) string {
	if t == TypeDenialRate {
		return fmt.Sprintf("%.1f%%", v*100)
	}
	return fmt.Sprintf("%.1f d", v)
}

// FormatDelta is FormatValue with an explicit sign for increases.
func FormatDelta(t Type, v float64) string {
	if v > 0 {
		return "+" + FormatValue(t, v)
	}
	return FormatValue(t, v)
}
