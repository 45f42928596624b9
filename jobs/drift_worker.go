package jobs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/metrics"
	"github.com/upstream-rcm/upstream/internal/secrets"
	"github.com/upstream-rcm/upstream/internal/store"
	"github.com/upstream-rcm/upstream/internal/webhooks"
)

// ManualDriftArgs asks for one drift computation with explicit parameters
// (`upstream drift run`, the API). Every request is its own run.
type ManualDriftArgs struct {
	CustomerID   int64   `json:"customer_id"`
	AsOf         string  `json:"as_of"` // YYYY-MM-DD
	BaselineDays int     `json:"baseline_days"`
	CurrentDays  int     `json:"current_days"`
	MinVolume    int     `json:"min_volume"`
	FDR          float64 `json:"fdr,omitempty"`
}

// Kind identifies the job type to River.
func (ManualDriftArgs) Kind() string { return "manual_drift" }

// InsertOpts puts the job on the drift queue.
func (ManualDriftArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: QueueDrift} }

// ManualDrift returns the job computing a customer's drift with p.
func ManualDrift(customerID int64, p drift.Params) ManualDriftArgs {
	return ManualDriftArgs{CustomerID: customerID, AsOf: p.AsOf.Format(time.DateOnly),
		BaselineDays: p.BaselineDays, CurrentDays: p.CurrentDays, MinVolume: p.MinVolume, FDR: p.FDR}
}

// WeeklyDriftArgs asks for a customer's weekly drift run as of the
// scheduled Monday. It is unique by (customer, as_of) in every state River
// keeps, including completed; the report_runs constraint backs that up.
type WeeklyDriftArgs struct {
	CustomerID int64  `json:"customer_id" river:"unique"`
	AsOf       string `json:"as_of" river:"unique"` // YYYY-MM-DD
}

// Kind identifies the job type to River.
func (WeeklyDriftArgs) Kind() string { return "weekly_drift" }

// InsertOpts makes the job unique per customer and week.
func (WeeklyDriftArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueDrift, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// ErrJobNoLongerRunning is returned when completing the job found it no
// longer running at this attempt (the rescuer moved it, or a later attempt
// owns it): the computation's effects were rolled back, not committed twice.
var ErrJobNoLongerRunning = errors.New("job is no longer running at this attempt; computation rolled back")

// Deps is what upstream's workers need.
type Deps struct {
	Pool   *pgxpool.Pool
	Logger *slog.Logger
	// Now is the clock for as-of dates of upload-triggered runs; time.Now
	// when nil.
	Now func() time.Time
	// BeforeComplete, when set, runs inside the computation's transaction
	// after the events are written and before the job is completed. Tests
	// use it to kill a computation at its most delicate point.
	BeforeComplete func(ctx context.Context, tx pgx.Tx, job *rivertype.JobRow) error
	// Sender delivers webhooks; one refusing private destinations, with a
	// 10 s timeout, when nil.
	Sender *webhooks.Sender
	// Keyring opens the endpoints' sealed signing secrets; without it no
	// webhook is sent (the deliveries wait, retried).
	Keyring *secrets.Keyring
	// PublicURL is where people open the drift page, for links in
	// notifications (empty: no link).
	PublicURL string
	// LockWait bounds a job's wait for its customer's lock
	// (DefaultLockWait when zero); past it the job snoozes for BusySnooze
	// (DefaultBusySnooze when zero) instead of holding a worker.
	LockWait, BusySnooze time.Duration
}

// Defaults of Deps.LockWait and Deps.BusySnooze.
const (
	DefaultLockWait   = 5 * time.Second
	DefaultBusySnooze = 30 * time.Second
)

// AddDriftWorkers registers the drift workers (upload, manual, weekly) and
// the weekly fan-out.
func AddDriftWorkers(workers *river.Workers, deps *Deps) {
	river.AddWorker(workers, &CustomerDriftWorker{deps: deps})
	river.AddWorker(workers, &ManualDriftWorker{deps: deps})
	river.AddWorker(workers, &WeeklyDriftWorker{deps: deps})
	river.AddWorker(workers, &WeeklyFanoutWorker{deps: deps})
}

// CustomerDriftWorker computes drift after uploads.
type CustomerDriftWorker struct {
	river.WorkerDefaults[CustomerDriftArgs]
	deps *Deps
}

// Work computes as of today with default parameters, consuming the
// customer's drift requests.
func (w *CustomerDriftWorker) Work(ctx context.Context, job *river.Job[CustomerDriftArgs]) error {
	req := drift.Request{CustomerID: job.Args.CustomerID, RunType: drift.RunUpload,
		Params: drift.DefaultParams(w.deps.now()), ConsumeRequests: true}
	return computeAndComplete(ctx, w.deps, job, req)
}

// ManualDriftWorker computes requested runs.
type ManualDriftWorker struct {
	river.WorkerDefaults[ManualDriftArgs]
	deps *Deps
}

// Work computes with the job's parameters.
func (w *ManualDriftWorker) Work(ctx context.Context, job *river.Job[ManualDriftArgs]) error {
	asOf, err := parseAsOf(job.Args.AsOf)
	if err != nil {
		return err
	}
	req := drift.Request{CustomerID: job.Args.CustomerID, RunType: drift.RunManual,
		Params: drift.Params{AsOf: asOf, BaselineDays: job.Args.BaselineDays, CurrentDays: job.Args.CurrentDays, MinVolume: job.Args.MinVolume,
			FDR: cmp.Or(job.Args.FDR, drift.DefaultFDR)}} // jobs queued before fdr existed have none
	if err := req.Params.Validate(); err != nil {
		return river.JobCancel(err)
	}
	return computeAndComplete(ctx, w.deps, job, req)
}

// WeeklyDriftWorker computes weekly runs, at most one successful run per
// customer and week.
type WeeklyDriftWorker struct {
	river.WorkerDefaults[WeeklyDriftArgs]
	deps *Deps
}

// Work computes the week's run unless it already succeeded.
func (w *WeeklyDriftWorker) Work(ctx context.Context, job *river.Job[WeeklyDriftArgs]) error {
	asOf, err := parseAsOf(job.Args.AsOf)
	if err != nil {
		return err
	}
	req := drift.Request{CustomerID: job.Args.CustomerID, RunType: drift.RunWeekly, Params: drift.DefaultParams(asOf)}
	return computeAndComplete(ctx, w.deps, job, req)
}

// parseAsOf parses a job's as-of date; a bad one cancels the job, since
// retrying cannot fix it.
func parseAsOf(s string) (time.Time, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, river.JobCancel(fmt.Errorf("as_of %q: %w", s, err))
	}
	return t, nil
}

func (d *Deps) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Deps) logger() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// computeAndComplete runs the computation and completes the job in one
// transaction. On failure it records a failed run in a transaction of its
// own and returns the error, so River retries with backoff.
func computeAndComplete[T river.JobArgs](ctx context.Context, d *Deps, job *river.Job[T], req drift.Request) error {
	req.JobID, req.Attempt = &job.ID, job.Attempt
	req.LockWait = cmp.Or(d.LockWait, DefaultLockWait)
	logger := d.logger().With("job_id", job.ID, "customer_id", req.CustomerID, "run_type", req.RunType, "attempt", job.Attempt)
	outcome, err := computeInTx(ctx, d, job, req)
	if errors.Is(err, drift.ErrCustomerNotFound) {
		return river.JobCancel(err)
	}
	if errors.Is(err, drift.ErrCustomerBusy) {
		// Not a failure: this customer's other computation will finish;
		// free the worker for other customers and come back.
		logger.InfoContext(ctx, "customer busy; snoozing")
		return river.JobSnooze(cmp.Or(d.BusySnooze, DefaultBusySnooze))
	}
	if err != nil {
		// The job's context may be cancelled; the failure must still land.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		metrics.DriftComputations.WithLabelValues(string(req.RunType), "failed").Inc()
		run, recErr := drift.RecordFailure(rctx, store.New(d.Pool), req, err)
		if recErr != nil {
			logger.ErrorContext(ctx, "drift computation failed and recording the failure failed too", "error", err, "record_error", recErr)
		} else {
			logger.WarnContext(ctx, "drift computation failed", "report_run_id", run.ID, "error", err)
		}
		return err
	}
	if outcome.AlreadyDone {
		metrics.DriftComputations.WithLabelValues(string(req.RunType), "already_done").Inc()
		logger.InfoContext(ctx, "weekly drift run already done", "report_run_id", outcome.Run.ID)
		return nil
	}
	metrics.DriftComputations.WithLabelValues(string(req.RunType), "success").Inc()
	metrics.DriftDuration.WithLabelValues(string(req.RunType)).Observe(float64(deref(outcome.Run.DurationMs)) / 1000)
	for _, ev := range outcome.Events {
		metrics.DriftEvents.WithLabelValues(string(ev.Type)).Inc()
	}
	logger.InfoContext(ctx, "drift computed", "report_run_id", outcome.Run.ID,
		"events_created", deref(outcome.Run.EventsCreated), "claims_read", deref(outcome.Run.ClaimsRead), "duration_ms", deref(outcome.Run.DurationMs))
	return nil
}

func computeInTx[T river.JobArgs](ctx context.Context, d *Deps, job *river.Job[T], req drift.Request) (*drift.Outcome, error) {
	tx, err := d.Pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin drift computation: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))

	outcome, err := drift.Compute(ctx, tx, req)
	if err != nil {
		return nil, err
	}
	if !outcome.AlreadyDone {
		// In the computation's transaction: a run that commits notifies,
		// one that rolls back notifies nobody.
		if err := notifyAlerts(ctx, d, tx, outcome); err != nil {
			return nil, err
		}
	}
	if d.BeforeComplete != nil {
		if err := d.BeforeComplete(ctx, tx, job.JobRow); err != nil {
			return nil, err
		}
	}
	// Complete first, then look for requests. An upload whose unique
	// insert coalesced into this running job holds the job row's lock until
	// it commits, so completing waits for it and the check below sees its
	// request; an upload that comes after completion inserts a fresh job.
	completed, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job)
	if err != nil {
		return nil, fmt.Errorf("complete job %d: %w", job.ID, err)
	}
	if completed.State != rivertype.JobStateCompleted || completed.Attempt != job.Attempt {
		return nil, fmt.Errorf("%w (job %d is %s at attempt %d, this is attempt %d)",
			ErrJobNoLongerRunning, job.ID, completed.State, completed.Attempt, job.Attempt)
	}
	if req.ConsumeRequests {
		pending, err := store.New(tx).DriftRequestCountByCustomer(ctx, req.CustomerID)
		if err != nil {
			return nil, fmt.Errorf("count drift requests: %w", err)
		}
		if pending > 0 {
			client := river.ClientFromContext[pgx.Tx](ctx)
			if _, err := client.InsertTx(ctx, tx, CustomerDriftArgs{CustomerID: req.CustomerID}, nil); err != nil {
				return nil, fmt.Errorf("enqueue follow-up drift job: %w", err)
			}
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("commit drift computation: %w", err)
	}
	return outcome, nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
