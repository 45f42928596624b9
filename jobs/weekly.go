package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/robfig/cron/v3"

	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/drift"
)

// DefaultWeeklySchedule is Monday 06:00 UTC.
const DefaultWeeklySchedule = "0 6 * * 1"

// DefaultFanoutInterval is how often the fan-out also runs between ticks,
// so that a tick missed by a restarting or re-elected leader is made up.
const DefaultFanoutInterval = 15 * time.Minute

// fanoutBatch is how many weekly jobs one fan-out transaction inserts.
const fanoutBatch = 1000

// WeeklySchedule is a parsed cron schedule, evaluated in UTC.
type WeeklySchedule struct {
	expr  string
	sched cron.Schedule
}

// ParseWeeklySchedule parses a standard five-field cron expression.
func ParseWeeklySchedule(expr string) (*WeeklySchedule, error) {
	sched, err := cron.ParseStandard("CRON_TZ=UTC " + expr)
	if err != nil {
		return nil, fmt.Errorf("weekly schedule %q is not a valid cron expression (minute hour day-of-month month day-of-week, e.g. %q): %w",
			expr, DefaultWeeklySchedule, err)
	}
	return &WeeklySchedule{expr: expr, sched: sched}, nil
}

// Next returns the first tick after t; it makes WeeklySchedule a River
// PeriodicSchedule.
func (s *WeeklySchedule) Next(t time.Time) time.Time { return s.sched.Next(t) }

// LastTick returns the latest tick at or before now.
func (s *WeeklySchedule) LastTick(now time.Time) time.Time {
	for lookback := 8 * 24 * time.Hour; ; lookback *= 2 {
		t := s.sched.Next(now.Add(-lookback))
		if !t.After(now) || lookback > 400*24*time.Hour {
			for next := s.sched.Next(t); !next.After(now); next = s.sched.Next(next) {
				t = next
			}
			return t
		}
	}
}

// AsOf returns the as-of date of the weekly run due at now: the date (UTC)
// of the latest scheduled tick, whenever the fan-out actually runs.
func (s *WeeklySchedule) AsOf(now time.Time) time.Time { return drift.Date(s.LastTick(now)) }

// WeeklyFanoutArgs enqueues the week's drift job for every customer that
// lacks a successful weekly run for AsOf. Unique per week while unfinished.
type WeeklyFanoutArgs struct {
	AsOf string `json:"as_of" river:"unique"` // YYYY-MM-DD
}

// Kind identifies the job type to River.
func (WeeklyFanoutArgs) Kind() string { return "weekly_fanout" }

// InsertOpts makes the fan-out unique per week while unfinished.
func (WeeklyFanoutArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueDrift, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: UnfinishedStates}}
}

// WeeklyFanoutWorker runs the fan-out.
type WeeklyFanoutWorker struct {
	river.WorkerDefaults[WeeklyFanoutArgs]
	deps *Deps
}

// Work enqueues the missing weekly jobs.
func (w *WeeklyFanoutWorker) Work(ctx context.Context, job *river.Job[WeeklyFanoutArgs]) error {
	asOf, err := parseAsOf(job.Args.AsOf)
	if err != nil {
		return err
	}
	res, err := FanOut(ctx, w.deps.Pool, river.ClientFromContext[pgx.Tx](ctx), asOf)
	if err != nil {
		return err
	}
	swept, err := SweepDriftRequests(ctx, w.deps.Pool, river.ClientFromContext[pgx.Tx](ctx))
	if err != nil {
		return err
	}
	w.deps.logger().InfoContext(ctx, "weekly fan-out", "as_of", job.Args.AsOf, "customers_lacking_run", res.Candidates,
		"jobs_enqueued", res.Enqueued, "orphaned_requests_enqueued", swept)
	return nil
}

// maxSweep bounds the customers one sweep enqueues; the next fan-out
// interval takes the rest.
const maxSweep = 10_000

// SweepDriftRequests enqueues a drift job for every customer whose drift
// requests wait with no job to consume them: their job was cancelled (say
// from River UI) or discarded after its last attempt. The job is unique per
// customer while unfinished, so customers whose job is still coming are
// skipped by River, and a sweep racing an upload inserts one job. It
// returns how many jobs it inserted.
func SweepDriftRequests(ctx context.Context, pool *pgxpool.Pool, client *river.Client[pgx.Tx]) (int, error) {
	ids, err := db.New(pool).DriftRequestListCustomers(ctx, maxSweep)
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	params := make([]river.InsertManyParams, len(ids))
	for i, id := range ids {
		params[i] = river.InsertManyParams{Args: CustomerDriftArgs{CustomerID: id}}
	}
	res, err := client.InsertMany(ctx, params)
	if err != nil {
		return 0, fmt.Errorf("enqueue drift jobs for waiting requests: %w", err)
	}
	inserted := 0
	for _, r := range res {
		if !r.UniqueSkippedAsDuplicate {
			inserted++
		}
	}
	return inserted, nil
}

// FanOutResult says what a fan-out did.
type FanOutResult struct {
	Candidates int     // customers without a successful weekly run for as_of
	Enqueued   int     // weekly jobs inserted (the rest were already queued)
	JobIDs     []int64 // the weekly jobs of all candidates, new or existing
}

// FanOut inserts a WeeklyDriftArgs job for every customer lacking a
// successful weekly run for asOf, in batches, each batch one transaction.
// It is idempotent: weekly jobs are unique per (customer, as_of), and the
// workers skip weeks that already succeeded.
func FanOut(ctx context.Context, pool *pgxpool.Pool, client *river.Client[pgx.Tx], asOf time.Time) (*FanOutResult, error) {
	p := drift.DefaultParams(asOf)
	asOfText := p.AsOf.Format(time.DateOnly)
	res := &FanOutResult{}
	var after int64
	for {
		ids, err := db.New(pool).CustomerListLackingWeeklyRun(ctx, db.CustomerListLackingWeeklyRunParams{
			AfterID: after, AsOf: p.AsOf, BaselineDays: int32(p.BaselineDays), CurrentDays: int32(p.CurrentDays),
			MinVolume: int32(p.MinVolume), MaxRows: fanoutBatch})
		if err != nil {
			return nil, fmt.Errorf("list customers lacking a weekly run for %s: %w", asOfText, err)
		}
		if len(ids) == 0 {
			return res, nil
		}
		params := make([]river.InsertManyParams, len(ids))
		for i, id := range ids {
			params[i] = river.InsertManyParams{Args: WeeklyDriftArgs{CustomerID: id, AsOf: asOfText}}
		}
		if err := insertBatch(ctx, pool, client, params, res); err != nil {
			return nil, err
		}
		res.Candidates += len(ids)
		after = ids[len(ids)-1]
	}
}

func insertBatch(ctx context.Context, pool *pgxpool.Pool, client *river.Client[pgx.Tx], params []river.InsertManyParams, res *FanOutResult) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin fan-out batch: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	results, err := client.InsertManyTx(ctx, tx, params)
	if err != nil {
		return fmt.Errorf("insert weekly jobs: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit fan-out batch: %w", err)
	}
	for _, r := range results {
		if !r.UniqueSkippedAsDuplicate {
			res.Enqueued++
		}
		res.JobIDs = append(res.JobIDs, r.Job.ID)
	}
	return nil
}

// PeriodicJobs returns the schedule's periodic jobs: the fan-out at every
// tick, and again at interval (and on start) so that a missed tick is made
// up. Both compute the as-of date from the schedule when they fire.
func PeriodicJobs(schedule *WeeklySchedule, interval time.Duration) []*river.PeriodicJob {
	construct := func() (river.JobArgs, *river.InsertOpts) {
		return WeeklyFanoutArgs{AsOf: schedule.AsOf(time.Now()).Format(time.DateOnly)}, nil
	}
	return []*river.PeriodicJob{
		river.NewPeriodicJob(schedule, construct, &river.PeriodicJobOpts{ID: "weekly_fanout_tick"}),
		river.NewPeriodicJob(river.PeriodicInterval(interval), construct, &river.PeriodicJobOpts{ID: "weekly_fanout_catch_up", RunOnStart: true}),
	}
}
