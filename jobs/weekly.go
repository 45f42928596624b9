package jobs

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/robfig/cron/v3"

	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/store"
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

// MaxTickGap is the longest a schedule may go without a tick: a weekly
// product, so monthly at most (31 days). It also bounds LastTick's search.
const MaxTickGap = 31 * 24 * time.Hour

// ParseWeeklySchedule parses a standard five-field cron expression that
// ticks at least every MaxTickGap.
func ParseWeeklySchedule(expr string) (*WeeklySchedule, error) {
	sched, err := cron.ParseStandard("CRON_TZ=UTC " + expr)
	if err != nil {
		return nil, fmt.Errorf("weekly schedule %q is not a valid cron expression (minute hour day-of-month month day-of-week, e.g. %q): %w",
			expr, DefaultWeeklySchedule, err)
	}
	// Day by day over five years (leap days and 31sts included): which days
	// have a tick, and the longest run of days without one.
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	last := start
	for day := start; day.Before(start.AddDate(5, 0, 0)); day = day.AddDate(0, 0, 1) {
		if next := sched.Next(day.Add(-time.Nanosecond)); next.Before(day.AddDate(0, 0, 1)) {
			last = day
		} else if day.Sub(last) > MaxTickGap {
			return nil, fmt.Errorf("weekly schedule %q goes more than %d days without a run (after %s): use one that runs at least monthly, e.g. %q",
				expr, int(MaxTickGap.Hours()/24), last.Format(time.DateOnly), DefaultWeeklySchedule)
		}
	}
	return &WeeklySchedule{expr: expr, sched: sched}, nil
}

// Next returns the first tick after t; it makes WeeklySchedule a River
// PeriodicSchedule.
func (s *WeeklySchedule) Next(t time.Time) time.Time { return s.sched.Next(t) }

// LastTick returns the latest tick at or before now, never a later one.
func (s *WeeklySchedule) LastTick(now time.Time) time.Time {
	// A tick lies within MaxTickGap before now (ParseWeeklySchedule); walk
	// forward from there to the last one not after now.
	t := s.sched.Next(now.Add(-MaxTickGap - time.Minute))
	for next := s.sched.Next(t); !next.After(now); next = s.sched.Next(next) {
		t = next
	}
	return t
}

// AsOf returns the as-of date of the weekly run due at now: the date (UTC)
// of the latest scheduled tick, whenever the fan-out actually runs.
func (s *WeeklySchedule) AsOf(now time.Time) time.Time { return drift.Date(s.LastTick(now)) }

// WeekOf returns the as-of date of the schedule week holding day: the
// latest tick on or before the end of that day. Every day of a week gives
// the same date, so `weekly --as-of` on Monday and on Tuesday is one
// weekly run.
func (s *WeeklySchedule) WeekOf(day time.Time) time.Time {
	return drift.Date(s.LastTick(drift.Date(day).AddDate(0, 0, 1).Add(-time.Nanosecond)))
}

// MaxBackfillWeeks bounds the weeks a fan-out covers: the latest tick and
// the ticks before it, for a service that was down or a leader that was
// lost when they fired.
const MaxBackfillWeeks = 4

// backfillPriority is River's priority of the jobs making up missed weeks:
// after uploads' and this week's runs (priority 1).
const backfillPriority = 3

// periodicEarly is how early River may insert a periodic job: it inserts
// one whose next run is under 100 ms away. A fan-out fired just before its
// tick still belongs to that tick.
const periodicEarly = time.Second

// FanoutArgs returns the fan-out due at now: the latest tick's week, and
// the MaxBackfillWeeks-1 weeks before it to make up, oldest first.
func (s *WeeklySchedule) FanoutArgs(now time.Time) WeeklyFanoutArgs {
	tick := s.LastTick(now.Add(periodicEarly))
	args := WeeklyFanoutArgs{AsOf: drift.Date(tick).Format(time.DateOnly)}
	for range MaxBackfillWeeks - 1 {
		tick = s.LastTick(tick.Add(-time.Nanosecond))
		// Several ticks a day are one as-of date.
		if d := drift.Date(tick).Format(time.DateOnly); d != args.AsOf && !slices.Contains(args.Missed, d) {
			args.Missed = append([]string{d}, args.Missed...)
		}
	}
	return args
}

// WeeklyFanoutArgs enqueues the week's drift job for every customer that
// lacks a successful weekly run for AsOf, and for each earlier week in
// Missed for every customer that existed by then. Unique per week while
// unfinished.
type WeeklyFanoutArgs struct {
	AsOf   string   `json:"as_of" river:"unique"`            // YYYY-MM-DD
	Missed []string `json:"missed,omitempty" river:"unique"` // earlier weeks, oldest first
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
	client := river.ClientFromContext[pgx.Tx](ctx)
	backfilled := 0
	for _, week := range job.Args.Missed {
		asOf, err := parseAsOf(week)
		if err != nil {
			return err
		}
		// Only customers that existed by then missed that week's run.
		res, err := fanOut(ctx, w.deps.Pool, client, asOf, &asOf)
		if err != nil {
			return err
		}
		backfilled += res.Enqueued
	}
	asOf, err := parseAsOf(job.Args.AsOf)
	if err != nil {
		return err
	}
	res, err := FanOut(ctx, w.deps.Pool, client, asOf)
	if err != nil {
		return err
	}
	swept, err := SweepDriftRequests(ctx, w.deps.Pool, client)
	if err != nil {
		return err
	}
	w.deps.logger().InfoContext(ctx, "weekly fan-out", "as_of", job.Args.AsOf, "customers_lacking_run", res.Candidates,
		"jobs_enqueued", res.Enqueued, "missed_weeks", job.Args.Missed, "backfill_jobs_enqueued", backfilled, "orphaned_requests_enqueued", swept)
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
	ids, err := store.New(pool).DriftRequestListCustomers(ctx, maxSweep)
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
	return fanOut(ctx, pool, client, asOf, nil)
}

// fanOut is FanOut, for the customers created before createdBefore when it
// is set.
func fanOut(ctx context.Context, pool *pgxpool.Pool, client *river.Client[pgx.Tx], asOf time.Time, createdBefore *time.Time) (*FanOutResult, error) {
	p := drift.DefaultParams(asOf)
	asOfText := p.AsOf.Format(time.DateOnly)
	res := &FanOutResult{}
	var after int64
	for {
		ids, err := store.New(pool).CustomerListLackingWeeklyRun(ctx, db.CustomerListLackingWeeklyRunParams{
			AfterID: after, AsOf: p.AsOf, BaselineDays: int32(p.BaselineDays), CurrentDays: int32(p.CurrentDays),
			MinVolume: int32(p.MinVolume), MaxRows: fanoutBatch, CreatedBefore: createdBefore})
		if err != nil {
			return nil, fmt.Errorf("list customers lacking a weekly run for %s: %w", asOfText, err)
		}
		if len(ids) == 0 {
			return res, nil
		}
		params := make([]river.InsertManyParams, len(ids))
		for i, id := range ids {
			params[i] = river.InsertManyParams{Args: WeeklyDriftArgs{CustomerID: id, AsOf: asOfText}}
			if createdBefore != nil {
				// Making up a missed week must not hold up uploads' runs.
				params[i].InsertOpts = &river.InsertOpts{Priority: backfillPriority}
			}
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
// up. Both compute the weeks from the schedule when they fire.
func PeriodicJobs(schedule *WeeklySchedule, interval time.Duration) []*river.PeriodicJob {
	construct := func() (river.JobArgs, *river.InsertOpts) {
		return schedule.FanoutArgs(time.Now()), nil
	}
	return []*river.PeriodicJob{
		river.NewPeriodicJob(schedule, construct, &river.PeriodicJobOpts{ID: "weekly_fanout_tick"}),
		river.NewPeriodicJob(river.PeriodicInterval(interval), construct, &river.PeriodicJobOpts{ID: "weekly_fanout_catch_up", RunOnStart: true}),
	}
}
