package drift

import (
	"context"
	"errors"
	"fmt"

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
	var run db.ReportRun
	var err error
	if runID != 0 {
		run, err = q.ReportRunGetByID(ctx, db.ReportRunGetByIDParams{CustomerID: customerID, ID: runID})
		if errors.Is(err, store.ErrNotFound) {
			return RunWithEvents{}, fmt.Errorf("report run %d: %w", runID, ErrRunNotFound)
		}
	} else {
		run, err = q.ReportRunGetLatestSuccessful(ctx, customerID)
		if errors.Is(err, store.ErrNotFound) {
			return RunWithEvents{}, ErrNoSuccessfulRun
		}
	}
	if err != nil {
		return RunWithEvents{}, fmt.Errorf("look up report run: %w", err)
	}
	return loadEvents(ctx, q, run)
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
