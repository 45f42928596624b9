package drift

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/store"
)

// ErrRunNotFound is returned for a report run the customer does not have.
var ErrRunNotFound = errors.New("report run not found")

// ErrNoSuccessfulRun is returned when the customer has no successful run
// yet.
var ErrNoSuccessfulRun = errors.New("no successful report run yet")

// LoadRun returns one of the customer's report runs with its events, by
// severity: run runID, or the latest successful run when runID is 0.
func LoadRun(ctx context.Context, q *db.Queries, customerID, runID int64) (RunWithEvents, error) {
	run, err := lookupRun(ctx, q, customerID, runID)
	if err != nil {
		return RunWithEvents{}, err
	}
	return loadEvents(ctx, q, run)
}

// lookupRun returns the run runID, or the latest successful one for 0.
func lookupRun(ctx context.Context, q *db.Queries, customerID, runID int64) (db.ReportRun, error) {
	var run db.ReportRun
	var err error
	if runID != 0 {
		run, err = q.ReportRunGetByID(ctx, db.ReportRunGetByIDParams{CustomerID: customerID, ID: runID})
		if errors.Is(err, store.ErrNotFound) {
			return db.ReportRun{}, fmt.Errorf("report run %d: %w", runID, ErrRunNotFound)
		}
	} else {
		run, err = q.ReportRunGetLatestSuccessful(ctx, customerID)
		if errors.Is(err, store.ErrNotFound) {
			return db.ReportRun{}, ErrNoSuccessfulRun
		}
	}
	if err != nil {
		return db.ReportRun{}, fmt.Errorf("look up report run: %w", err)
	}
	return run, nil
}

// LoadRunOfJob returns the last run a River job recorded, with its events.
func LoadRunOfJob(ctx context.Context, q *db.Queries, jobID int64) (RunWithEvents, error) {
	runs, err := q.ReportRunGetByJobMany(ctx, &jobID)
	if err != nil {
		return RunWithEvents{}, fmt.Errorf("look up runs of job %d: %w", jobID, err)
	}
	if len(runs) == 0 {
		return RunWithEvents{}, fmt.Errorf("job %d: %w", jobID, ErrRunNotFound)
	}
	return loadEvents(ctx, q, runs[len(runs)-1])
}

func loadEvents(ctx context.Context, q *db.Queries, run db.ReportRun) (RunWithEvents, error) {
	events, err := q.DriftEventListByRun(ctx, db.DriftEventListByRunParams{CustomerID: run.CustomerID, ReportRunID: run.ID})
	if err != nil {
		return RunWithEvents{}, fmt.Errorf("list events of report run %d: %w", run.ID, err)
	}
	return RunWithEvents{ReportRun: ViewRun(run), Events: ViewEvents(events)}, nil
}

// EventFilter selects a run's events: by payer (any case), drift type,
// minimum severity, and alert or not (nil: both). Zero values select all.
type EventFilter struct {
	Payer       string
	DriftType   Type
	MinSeverity float64
	Alert       *bool
}

// Keep reports whether the filter selects e.
func (f EventFilter) Keep(e EventView) bool {
	return (f.Payer == "" || strings.EqualFold(e.Payer, f.Payer)) &&
		(f.DriftType == "" || e.DriftType == f.DriftType) && e.Severity >= f.MinSeverity &&
		(f.Alert == nil || e.Alert == *f.Alert)
}

// RunPage is a run with a page of its events, alerts first, and how many
// events and alerts the filter selects in all.
type RunPage struct {
	ReportRun   RunView     `json:"report_run"`
	Events      []EventView `json:"events"`
	EventsTotal int         `json:"events_total"`
	AlertsTotal int         `json:"alerts_total"`
	// Next is the offset of the next page; -1 after the last one.
	Next int `json:"-"`
}

// LoadRunPage returns the run runID (0: the latest successful one) with
// the filter's events from offset on, at most limit of them, read as a
// page from the database: a run's size never reaches the response.
func LoadRunPage(ctx context.Context, q *db.Queries, customerID, runID int64, f EventFilter, offset, limit int) (RunPage, error) {
	run, err := lookupRun(ctx, q, customerID, runID)
	if err != nil {
		return RunPage{}, err
	}
	var payer, typ *string
	if f.Payer != "" {
		payer = &f.Payer
	}
	if f.DriftType != "" {
		t := string(f.DriftType)
		typ = &t
	}
	counts, err := q.DriftEventCountByRun(ctx, db.DriftEventCountByRunParams{CustomerID: customerID, ReportRunID: run.ID,
		Payer: payer, DriftType: typ, MinSeverity: f.MinSeverity, Alert: f.Alert})
	if err != nil {
		return RunPage{}, fmt.Errorf("count events of report run %d: %w", run.ID, err)
	}
	events, err := q.DriftEventPageByRun(ctx, db.DriftEventPageByRunParams{CustomerID: customerID, ReportRunID: run.ID,
		Payer: payer, DriftType: typ, MinSeverity: f.MinSeverity, Alert: f.Alert, Skip: int32(offset), MaxRows: int32(limit)})
	if err != nil {
		return RunPage{}, fmt.Errorf("list events of report run %d: %w", run.ID, err)
	}
	p := RunPage{ReportRun: ViewRun(run), Events: ViewEvents(events), EventsTotal: int(counts.Events), AlertsTotal: int(counts.Alerts), Next: -1}
	if offset+len(events) < p.EventsTotal && len(events) == limit {
		p.Next = offset + len(events)
	}
	return p, nil
}
