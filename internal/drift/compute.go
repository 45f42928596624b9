package drift

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/upstream-rcm/upstream/internal/claimstats"
	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/store"
)

// RunType says why a computation ran (report_runs.run_type).
type RunType string

// The run types.
const (
	RunWeekly RunType = "weekly"
	RunUpload RunType = "upload"
	RunManual RunType = "manual"
)

// RunStatus is a report run's status (report_runs.status).
type RunStatus string

// The run statuses.
const (
	RunRunning RunStatus = "running"
	RunSuccess RunStatus = "success"
	RunFailed  RunStatus = "failed"
)

// Request describes one computation.
type Request struct {
	CustomerID int64
	RunType    RunType
	Params     Params
	JobID      *int64 // the River job computing it, if any
	Attempt    int
	// ConsumeRequests deletes the customer's pending drift requests: the
	// computation reflects every upload committed before it took the lock.
	ConsumeRequests bool
	// LockWait bounds the wait for the customer's lock (0: no bound);
	// past it Compute returns ErrCustomerBusy.
	LockWait time.Duration
}

// Outcome is what Compute did.
type Outcome struct {
	Run db.ReportRun
	// AlreadyDone is true when a weekly run for the same customer, as-of
	// date and parameters had already succeeded: nothing was written.
	AlreadyDone bool
	Events      []Event
	// Tested lists every cell and metric the evidence tested, alert or
	// not: an alert episode resolves after computations that tested its
	// subject without an alert.
	Tested []Tested
	// Withdrawn is true when the computation follows a deletion or a
	// reclassification (data an alert may have stood on is gone).
	Withdrawn bool
}

// ErrCustomerNotFound is returned for a computation of an unknown customer.
var ErrCustomerNotFound = errors.New("customer not found")

// ErrCustomerBusy is returned when another computation of the customer
// held its lock for longer than Request.LockWait.
var ErrCustomerBusy = errors.New("another drift computation of this customer is running")

// Compute runs one drift computation inside tx, which the caller commits:
//  1. lock the customer row FOR NO KEY UPDATE, serializing computations of
//     the customer without blocking its uploads' foreign-key checks;
//  2. for a weekly run, stop if the same run already succeeded;
//  3. consume the customer's drift requests if asked;
//  4. create the report run, aggregate in SQL, insert the events and mark
//     the run successful with its summary.
//
// On error the caller must roll tx back: nothing partial may commit.
func Compute(ctx context.Context, tx pgx.Tx, req Request) (*Outcome, error) {
	started := time.Now()
	if err := req.Params.Validate(); err != nil {
		return nil, err
	}
	q := store.New(tx)
	if req.LockWait > 0 {
		// Bounded: a job waiting on another computation of the customer
		// would hold a worker slot for the whole job timeout.
		if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL lock_timeout = %d", req.LockWait.Milliseconds())); err != nil {
			return nil, fmt.Errorf("set lock timeout: %w", err)
		}
	}
	if _, err := q.CustomerLockForDrift(ctx, req.CustomerID); err != nil {
		var pgErr *pgconn.PgError
		switch {
		case errors.Is(err, store.ErrNotFound):
			return nil, fmt.Errorf("customer %d: %w", req.CustomerID, ErrCustomerNotFound)
		case errors.As(err, &pgErr) && pgErr.Code == pgerrcode.LockNotAvailable:
			return nil, fmt.Errorf("customer %d: %w", req.CustomerID, ErrCustomerBusy)
		}
		return nil, fmt.Errorf("lock customer %d for drift: %w", req.CustomerID, err)
	}
	if req.LockWait > 0 {
		if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = 0"); err != nil {
			return nil, fmt.Errorf("reset lock timeout: %w", err)
		}
	}
	p := req.Params
	if req.RunType == RunWeekly {
		done, err := q.ReportRunGetSuccessfulWeekly(ctx, db.ReportRunGetSuccessfulWeeklyParams{
			CustomerID: req.CustomerID, AsOf: p.AsOf,
			BaselineDays: int32(p.BaselineDays), CurrentDays: int32(p.CurrentDays), MinVolume: int32(p.MinVolume)})
		if err == nil {
			return &Outcome{Run: done, AlreadyDone: true}, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("look up weekly run: %w", err)
		}
	}
	withdrawals := int32(0)
	if req.ConsumeRequests {
		n, err := q.DriftRequestConsume(ctx, req.CustomerID)
		if err != nil {
			return nil, fmt.Errorf("consume drift requests: %w", err)
		}
		withdrawals = n
	}

	w := WindowsFor(p)
	run, err := q.ReportRunCreate(ctx, db.ReportRunCreateParams{
		CustomerID: req.CustomerID, RunType: string(req.RunType), AsOf: Date(p.AsOf),
		BaselineDays: int32(p.BaselineDays), CurrentDays: int32(p.CurrentDays), MinVolume: int32(p.MinVolume), FDR: p.FDR,
		Attempt: int32(max(req.Attempt, 1)), JobID: req.JobID,
		BaselineStart: &w.BaselineStart, BaselineEnd: &w.BaselineEnd, CurrentStart: &w.CurrentStart, CurrentEnd: &w.CurrentEnd,
	})
	if err != nil {
		return nil, fmt.Errorf("create report run: %w", err)
	}
	groups, err := Aggregate(ctx, tx, req.CustomerID, w)
	if err != nil {
		return nil, err
	}
	res := Evaluate(p, groups)
	if err := explainAlerts(ctx, q, req.CustomerID, w, res.Events); err != nil {
		return nil, err
	}
	if err := explainSlowdowns(ctx, q, req.CustomerID, w, res.Events); err != nil {
		return nil, err
	}

	params, err := eventParams(req.CustomerID, run.ID, w, res.Events)
	if err != nil {
		return nil, err
	}
	created, err := q.DriftEventInsertMany(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("insert drift events: %w", err)
	}
	if created != int64(len(res.Events)) {
		// Only possible if the same run's events were written twice, which
		// the constraint refused; report it rather than hide it.
		return nil, fmt.Errorf("insert drift events: %d of %d were duplicates", int64(len(res.Events))-created, len(res.Events))
	}
	skipped, err := json.Marshal(nonNil(res.Skipped))
	if err != nil {
		return nil, fmt.Errorf("encode skipped groups: %w", err)
	}
	overturns, err := overturnsIn(ctx, q, req.CustomerID, w)
	if err != nil {
		return nil, err
	}
	run, err = q.ReportRunMarkSuccess(ctx, db.ReportRunMarkSuccessParams{
		ID: run.ID, GroupsConsidered: ptr(int32(res.GroupsConsidered)), EventsCreated: ptr(int32(created)),
		ClaimsRead: ptr(int64(res.ClaimsRead)), DurationMs: ptr(time.Since(started).Milliseconds()),
		TestsRun: ptr(int32(res.TestsRun)), AlertsCreated: ptr(int32(res.Alerts)),
		GroupsSkipped: ptr(int32(res.GroupsSkipped)), SkippedGroups: skipped, Overturns: overturns,
	})
	if err != nil {
		return nil, fmt.Errorf("mark report run %d successful: %w", run.ID, err)
	}
	return &Outcome{Run: run, Events: res.Events, Tested: res.Tested, Withdrawn: withdrawals > 0}, nil
}

// Aggregate returns each (payer, cpt_group) with both windows' volume,
// denials, median days to decision and histogram of days, and its weeks
// of history, from the claim statistics.
func Aggregate(ctx context.Context, conn db.DBTX, customerID int64, w Windows) ([]Group, error) {
	stats, err := claimstats.Aggregate(ctx, conn, customerID, w.HistoryStart, w.BaselineStart, w.CurrentStart, w.CurrentEnd)
	if err != nil {
		return nil, err
	}
	groups := make([]Group, len(stats))
	for i, g := range stats {
		groups[i] = Group{Payer: g.Payer, CPTGroup: g.CPTGroup, Baseline: windowStats(g.Baseline), Current: windowStats(g.Current),
			DecidedBaseline: windowStats(g.DecidedBaseline), DecidedCurrent: windowStats(g.DecidedCurrent),
			Weeks: make([]WindowStats, len(g.Weeks)), FirstSubmitted: g.FirstSubmitted}
		for k, wk := range g.Weeks {
			groups[i].Weeks[k] = windowStats(wk)
		}
	}
	return groups, nil
}

func windowStats(w claimstats.Window) WindowStats {
	return WindowStats{Volume: int(w.Volume), Denied: int(w.Denied), MedianDays: w.Days.Median(), Days: w.Days, Amounts: w.Amounts}
}

func ptr[T any](v T) *T { return &v }

// nonNil keeps JSON lists as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func eventParams(customerID, runID int64, w Windows, events []Event) (db.DriftEventInsertManyParams, error) {
	p := db.DriftEventInsertManyParams{
		CustomerID: customerID, ReportRunID: runID, CurrentEnd: w.CurrentEnd,
	}
	for _, e := range events {
		bs, be, cs := w.BaselineStart, w.BaselineEnd, w.CurrentStart
		if e.Alert { // the comparison that made it an alert
			bs, be, cs = e.Evidence.BaselineStart, e.Evidence.BaselineEnd, e.Evidence.CurrentStart
		}
		p.BaselineStarts = append(p.BaselineStarts, bs)
		p.BaselineEnds = append(p.BaselineEnds, be)
		p.CurrentStarts = append(p.CurrentStarts, cs)
		seed := e.Seed
		if seed == nil {
			seed = &SeedValues{} // stored as NULLs (the constraint refuses them where seed_rule)
		}
		p.SeedBaselineValues = append(p.SeedBaselineValues, seed.BaselineValue)
		p.SeedCurrentValues = append(p.SeedCurrentValues, seed.CurrentValue)
		p.SeedDeltaValues = append(p.SeedDeltaValues, seed.Delta)
		p.SeedSeverities = append(p.SeedSeverities, seed.Severity)
		p.SeedConfidences = append(p.SeedConfidences, seed.Confidence)
		p.SeedBaselineSampleSizes = append(p.SeedBaselineSampleSizes, int32(seed.BaselineSampleSize))
		p.SeedCurrentSampleSizes = append(p.SeedCurrentSampleSizes, int32(seed.CurrentSampleSize))
		p.Payers = append(p.Payers, e.Payer)
		p.CPTGroups = append(p.CPTGroups, e.CPTGroup)
		p.DriftTypes = append(p.DriftTypes, string(e.Type))
		p.BaselineValues = append(p.BaselineValues, e.BaselineValue)
		p.CurrentValues = append(p.CurrentValues, e.CurrentValue)
		p.DeltaValues = append(p.DeltaValues, e.Delta)
		p.Severities = append(p.Severities, e.Severity)
		p.Confidences = append(p.Confidences, e.Confidence)
		p.BaselineSampleSizes = append(p.BaselineSampleSizes, int32(e.BaselineSampleSize))
		p.CurrentSampleSizes = append(p.CurrentSampleSizes, int32(e.CurrentSampleSize))
		p.SeedRules = append(p.SeedRules, e.SeedRule)
		p.Alerts = append(p.Alerts, e.Alert)
		ev := e.Evidence
		if ev == nil {
			ev = &Evidence{} // no method: stored as NULLs
		}
		p.Methods = append(p.Methods, ev.Method)
		p.PValues = append(p.PValues, ev.P)
		p.QValues = append(p.QValues, ev.Q)
		p.HasIntervals = append(p.HasIntervals, ev.HasInterval)
		p.DeltaLows = append(p.DeltaLows, ev.DeltaLow)
		p.DeltaHighs = append(p.DeltaHighs, ev.DeltaHigh)
		p.TestBaselineValues = append(p.TestBaselineValues, ev.BaselineValue)
		p.TestCurrentValues = append(p.TestCurrentValues, ev.CurrentValue)
		p.TestBaselineSizes = append(p.TestBaselineSizes, int32(ev.BaselineSize))
		p.TestCurrentSizes = append(p.TestCurrentSizes, int32(ev.CurrentSize))
		p.Margins = append(p.Margins, ev.Margin)
		p.Dispersions = append(p.Dispersions, ev.Dispersion.Phi)
		p.WindowsTested = append(p.WindowsTested, int16(ev.Windows))
		dollars := e.Dollars
		if dollars == nil {
			dollars = &Dollars{} // stored as NULLs
		}
		p.HasDollars = append(p.HasDollars, e.Dollars != nil)
		p.DollarsAtStake = append(p.DollarsAtStake, dollars.AtStake)
		p.HasDollarsInterval = append(p.HasDollarsInterval, dollars.HasInterval)
		p.DollarsLows = append(p.DollarsLows, dollars.Low)
		p.DollarsHighs = append(p.DollarsHighs, dollars.High)
		drivers, err := encodeDrivers(e.Drivers)
		if err != nil {
			return p, err
		}
		p.Drivers = append(p.Drivers, drivers)
	}
	return p, nil
}

// RecordFailure stores a failed run for req with its error, in its own
// short transaction (the computation's transaction has rolled back).
func RecordFailure(ctx context.Context, q *db.Queries, req Request, cause error) (db.ReportRun, error) {
	w := WindowsFor(req.Params)
	run, err := q.ReportRunCreateFailed(ctx, db.ReportRunCreateFailedParams{
		CustomerID: req.CustomerID, RunType: string(req.RunType), AsOf: Date(req.Params.AsOf),
		BaselineDays: int32(req.Params.BaselineDays), CurrentDays: int32(req.Params.CurrentDays), MinVolume: int32(req.Params.MinVolume),
		FDR: req.Params.FDR, Attempt: int32(max(req.Attempt, 1)), JobID: req.JobID, Error: ptr(cause.Error()),
		BaselineStart: &w.BaselineStart, BaselineEnd: &w.BaselineEnd, CurrentStart: &w.CurrentStart, CurrentEnd: &w.CurrentEnd,
	})
	if err != nil {
		return db.ReportRun{}, fmt.Errorf("record failed run: %w", err)
	}
	return run, nil
}

// MaxOverturnsListed bounds the cells a run lists overturns for.
const MaxOverturnsListed = 50

// Overturns is one cell's claims initially denied in a run's windows and
// those of them whose final outcome is PAID (SPEC "Claim identity").
type Overturns struct {
	Payer           string  `json:"payer"`
	CPTGroup        string  `json:"cpt_group"`
	InitiallyDenied int     `json:"initially_denied"`
	Overturned      int     `json:"overturned"`
	Rate            float64 `json:"overturn_rate"`
}

// FormatRate is the overturn rate as a percentage.
func (o Overturns) FormatRate() string { return fmt.Sprintf("%.0f%%", 100*o.Rate) }

// overturnsIn lists, encoded for the run, the cells' overturns among the
// claims initially decided in [baseline start, current end), the most
// overturned first.
func overturnsIn(ctx context.Context, q *db.Queries, customerID int64, w Windows) ([]byte, error) {
	rows, err := q.ClaimOverturnsInWindow(ctx, db.ClaimOverturnsInWindowParams{CustomerID: customerID, Start: w.BaselineStart,
		EndDate: w.CurrentEnd, MaxRows: MaxOverturnsListed})
	if err != nil {
		return nil, fmt.Errorf("count overturns: %w", err)
	}
	out := make([]Overturns, len(rows))
	for i, r := range rows {
		out[i] = Overturns{Payer: r.Payer, CPTGroup: r.CPTGroup, InitiallyDenied: int(r.InitiallyDenied), Overturned: int(r.Overturned),
			Rate: float64(r.Overturned) / float64(r.InitiallyDenied)}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode overturns: %w", err)
	}
	return b, nil
}
