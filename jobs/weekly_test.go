package jobs_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/upstream-rcm/upstream/jobs"
)

func TestWeeklyScheduleAsOfIsTheScheduledMonday(t *testing.T) {
	s, err := jobs.ParseWeeklySchedule(jobs.DefaultWeeklySchedule)
	if err != nil {
		t.Fatal(err)
	}
	for now, want := range map[string]string{
		"2026-11-23T06:00:00Z": "2026-11-23", // the tick itself
		"2026-11-23T05:59:59Z": "2026-11-16", // just before: last week's
		"2026-11-25T13:00:00Z": "2026-11-23", // mid-week: this week's Monday
		"2026-11-29T23:59:59Z": "2026-11-23", // Sunday night
		"2026-12-01T00:00:00Z": "2026-11-30",
	} {
		at, _ := time.Parse(time.RFC3339, now)
		if got := s.AsOf(at).Format(time.DateOnly); got != want {
			t.Errorf("AsOf(%s) = %s, want %s", now, got, want)
		}
	}
	if _, err := jobs.ParseWeeklySchedule("every monday"); err == nil {
		t.Fatal("invalid cron expression accepted")
	}
	// A fan-out River fires 100 ms before the tick is the tick's, and it
	// makes up the three weeks before, oldest first.
	tick := time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)
	args := s.FanoutArgs(tick.Add(-100 * time.Millisecond))
	if args.AsOf != "2026-11-23" || fmt.Sprint(args.Missed) != "[2026-11-02 2026-11-09 2026-11-16]" {
		t.Fatalf("FanoutArgs 100 ms before the tick = %+v, want as of 2026-11-23 making up the 3 weeks before", args)
	}
	// Any day of a week is that week's run.
	for day, want := range map[string]string{"2026-11-23": "2026-11-23", "2026-11-24": "2026-11-23", "2026-11-29": "2026-11-23", "2026-11-22": "2026-11-16"} {
		d, _ := time.Parse(time.DateOnly, day)
		if got := s.WeekOf(d).Format(time.DateOnly); got != want {
			t.Errorf("WeekOf(%s) = %s, want %s", day, got, want)
		}
	}
}

// Sparse schedules are refused with a clear message, and LastTick never
// returns a tick after now: checked against walking the schedule from a
// tick known to be earlier.
func TestScheduleLastTickIsNeverInTheFuture(t *testing.T) {
	t.Parallel()
	for _, expr := range []string{"0 0 29 2 *", "0 0 31 * *", "0 0 1 1 *", "*/5 * 30 * *"} {
		if _, err := jobs.ParseWeeklySchedule(expr); err == nil || !strings.Contains(err.Error(), "more than 31 days without a run") {
			t.Errorf("sparse schedule %q: %v, want refused", expr, err)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, expr := range []string{jobs.DefaultWeeklySchedule, "0 6 1 * *", "17 * * * *", "30 2 * * 1,4", "0 0 28 * *"} {
		s, err := jobs.ParseWeeklySchedule(expr)
		if err != nil {
			t.Fatalf("%q: %v", expr, err)
		}
		for range 200 {
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.Int64N(int64(3 * 365 * 24 * time.Hour))))
			got := s.LastTick(now)
			want := s.Next(now.AddDate(0, -2, 0)) // a tick two months back, then walk
			for next := s.Next(want); !next.After(now); next = s.Next(next) {
				want = next
			}
			if got.After(now) || !got.Equal(want) {
				t.Fatalf("%q: LastTick(%s) = %s, want %s", expr, now, got, want)
			}
		}
	}
}

// weekly --as-of on Monday and again on Tuesday is one weekly run: both
// days are the week scheduled on Monday.
func TestWeeklyAsOfAnyDayOfAWeekIsOneRun(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	schedule, err := jobs.ParseWeeklySchedule(jobs.DefaultWeeklySchedule)
	if err != nil {
		t.Fatal(err)
	}
	cust := h.customer(t, "acme")
	h.upload(t, cust, "claims.csv", driftingClaims("Aetna"))
	h.startClient(t, 2, nil)
	for _, day := range []time.Time{time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)} {
		if _, err := jobs.FanOut(context.Background(), h.pool, h.inserter, schedule.WeekOf(day)); err != nil {
			t.Fatal(err)
		}
		h.waitIdle(t)
	}
	if n := h.count(t, `SELECT count(*) FROM report_runs WHERE run_type = 'weekly'`); n != 1 {
		t.Fatalf("%d weekly runs for Monday and Tuesday of one week, want 1", n)
	}
}

// A fan-out makes up the weeks it missed (at most MaxBackfillWeeks in all),
// oldest first, behind uploads in priority, and only for customers that
// existed in each week.
func TestFanOutBackfillsMissedWeeksOldestFirst(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t)
	schedule, err := jobs.ParseWeeklySchedule(jobs.DefaultWeeklySchedule)
	if err != nil {
		t.Fatal(err)
	}
	old, recent, fresh := h.customer(t, "old"), h.customer(t, "recent"), h.customer(t, "fresh")
	for cust, created := range map[int64]string{old: "2026-09-01", recent: "2026-11-10", fresh: "2026-11-27"} {
		if _, err := h.pool.Exec(ctx, `UPDATE customers SET created_at = $2::date WHERE id = $1`, cust, created); err != nil {
			t.Fatal(err)
		}
	}
	args := schedule.FanoutArgs(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	if _, err := h.inserter.Insert(ctx, args, nil); err != nil {
		t.Fatal(err)
	}
	h.startClient(t, 1, nil)
	h.waitIdle(t)
	rows, err := h.pool.Query(ctx, `SELECT args->>'customer_id', args->>'as_of', priority FROM river_job WHERE kind = 'weekly_drift' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	var customer, week string
	var priority int
	if _, err := pgx.ForEachRow(rows, []any{&customer, &week, &priority}, func() error {
		got = append(got, fmt.Sprintf("%s %s p%d", map[string]string{fmt.Sprint(old): "old", fmt.Sprint(recent): "recent", fmt.Sprint(fresh): "fresh"}[customer], week, priority))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"old 2026-11-02 p3",
		"old 2026-11-09 p3",
		"old 2026-11-16 p3", "recent 2026-11-16 p3",
		"old 2026-11-23 p1", "recent 2026-11-23 p1", "fresh 2026-11-23 p1",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("weekly jobs in insertion order:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := h.count(t, `SELECT count(*) FROM report_runs WHERE run_type = 'weekly' AND status = 'success'`); n != len(want) {
		t.Fatalf("%d successful weekly runs, want %d", n, len(want))
	}
}

// weeklyFanoutWithoutUniqueness lets a test insert the same fan-out many
// times, as racing schedulers on several leaders could.
type weeklyFanoutWithoutUniqueness jobs.WeeklyFanoutArgs

func (weeklyFanoutWithoutUniqueness) Kind() string { return jobs.WeeklyFanoutArgs{}.Kind() }
func (weeklyFanoutWithoutUniqueness) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: jobs.QueueDrift}
}

// Three River clients (three processes) triggering the fan-out at once for
// 200 customers leave exactly one weekly run per customer.
func TestThreeClientsFanningOutAtOnceLeaveOneWeeklyRunPerCustomer(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const customers = 200
	for i := range customers {
		h.customer(t, fmt.Sprintf("customer-%03d", i))
	}
	clients := []*river.Client[pgx.Tx]{h.startClient(t, 4, nil), h.startClient(t, 4, nil), h.startClient(t, 4, nil)}
	asOf := asOf.Format(time.DateOnly)
	var wg sync.WaitGroup
	for _, client := range clients {
		wg.Go(func() {
			// Each process both enqueues a fan-out job and fans out directly.
			if _, err := client.Insert(context.Background(), weeklyFanoutWithoutUniqueness{AsOf: asOf}, nil); err != nil {
				t.Error(err)
			}
			if _, err := jobs.FanOut(context.Background(), h.pool, client, time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	h.waitIdle(t)
	perCustomer := h.count(t, `SELECT count(*) FROM (SELECT customer_id FROM report_runs
		WHERE run_type = 'weekly' AND status = 'success' AND as_of = $1 GROUP BY customer_id HAVING count(*) = 1) x`, asOf)
	all := h.count(t, `SELECT count(*) FROM report_runs`)
	if perCustomer != customers || all != customers {
		t.Fatalf("%d customers with exactly one successful weekly run, %d runs in all; want %d and %d", perCustomer, all, customers, customers)
	}
}

// A process started mid-week with no run for this week makes up the missed
// tick: the fan-out enqueues exactly the customers that lack a run.
func TestMissedTickFanOutEnqueuesExactlyTheCustomersLackingARun(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	schedule, err := jobs.ParseWeeklySchedule(jobs.DefaultWeeklySchedule)
	if err != nil {
		t.Fatal(err)
	}
	wednesday := time.Date(2026, 11, 25, 14, 30, 0, 0, time.UTC)
	monday := schedule.AsOf(wednesday)
	var want []int64
	for i := range 10 {
		id := h.customer(t, fmt.Sprintf("customer-%d", i))
		switch {
		case i < 4: // this week's run already succeeded
			if _, err := h.pool.Exec(context.Background(), `INSERT INTO report_runs (customer_id, run_type, as_of, baseline_days, current_days, min_volume, status, finished_at)
				VALUES ($1, 'weekly', $2, 90, 14, 30, 'success', now())`, id, monday); err != nil {
				t.Fatal(err)
			}
		case i < 6: // only last week's, or a failed one this week: still due
			if _, err := h.pool.Exec(context.Background(), `INSERT INTO report_runs (customer_id, run_type, as_of, baseline_days, current_days, min_volume, status, finished_at, error)
				VALUES ($1, 'weekly', $2, 90, 14, 30, 'failed', now(), 'boom'), ($1, 'weekly', $3, 90, 14, 30, 'success', now(), NULL)`,
				id, monday, monday.AddDate(0, 0, -7)); err != nil {
				t.Fatal(err)
			}
			want = append(want, id)
		default:
			want = append(want, id)
		}
	}
	client := h.inserter
	res, err := jobs.FanOut(context.Background(), h.pool, client, monday)
	if err != nil {
		t.Fatal(err)
	}
	if res.Candidates != len(want) || res.Enqueued != len(want) {
		t.Fatalf("fan-out: %d candidates, %d enqueued; want %d and %d", res.Candidates, res.Enqueued, len(want), len(want))
	}
	rows, err := h.pool.Query(context.Background(), `SELECT (args->>'customer_id')::bigint FROM river_job
		WHERE kind = 'weekly_drift' AND args->>'as_of' = '2026-11-23' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(want, func(i, j int) bool { return want[i] < want[j] })
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("weekly jobs for customers %v, want %v", got, want)
	}
	// Fanning out again before they ran enqueues nothing new.
	again, err := jobs.FanOut(context.Background(), h.pool, client, monday)
	if err != nil {
		t.Fatal(err)
	}
	if again.Enqueued != 0 || again.Candidates != len(want) {
		t.Fatalf("second fan-out: %+v, want nothing enqueued", again)
	}
}

// A graceful shutdown whose timeout expires cancels a long drift job: its
// transaction rolls back, a failed run records why, no run is left
// running, and the next worker completes the job.
func TestShutdownCancelsLongJobWhichIsRetried(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cust := h.customer(t, "acme")
	started := make(chan struct{})
	var once sync.Once
	first := h.startClient(t, 1, func(ctx context.Context, tx pgx.Tx, job *rivertype.JobRow) error {
		once.Do(func() { close(started) })
		<-ctx.Done() // a computation longer than the shutdown allows
		return ctx.Err()
	})
	up := h.upload(t, cust, "claims.csv", driftingClaims("Aetna"))
	<-started
	if err := jobs.StopGracefully(first, 200*time.Millisecond, h.deps.Logger); err != nil {
		t.Fatal(err)
	}
	if n := h.count(t, `SELECT count(*) FROM report_runs WHERE status = 'running'`); n != 0 {
		t.Fatalf("%d runs left running after shutdown", n)
	}
	if n := h.count(t, `SELECT count(*) FROM drift_events`); n != 0 {
		t.Fatalf("%d events committed by the cancelled computation", n)
	}
	h.startClient(t, 1, nil)
	h.waitIdle(t)
	// River does not count an attempt its own shutdown cancelled, so both
	// runs may carry the same attempt number.
	rows, _ := h.pool.Query(context.Background(), `SELECT status || ':' || coalesce(error, '') FROM report_runs WHERE job_id = $1 ORDER BY id`, *up.JobID)
	runs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || !strings.HasPrefix(runs[0], "failed:") || !strings.Contains(runs[0], "context canceled") || runs[1] != "success:" {
		t.Fatalf("runs of the job = %q, want a failed run (context canceled) then a success", runs)
	}
	if n := h.count(t, `SELECT count(*) FROM report_runs WHERE status = 'running'`); n != 0 {
		t.Fatalf("%d runs left running", n)
	}
}

// Requests whose job was cancelled (say from River UI) or discarded are
// picked up by the sweep the fan-out runs; a customer whose job is still
// coming gets no second one.
func TestSweepRescuesRequestsOfCancelledAndDiscardedJobs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t)
	cancelled, discarded, waiting := h.customer(t, "cancelled"), h.customer(t, "discarded"), h.customer(t, "waiting")
	var jobIDs []int64
	for _, cust := range []int64{cancelled, discarded, waiting} {
		up := h.upload(t, cust, "claims.csv", driftingClaims("Aetna"))
		jobIDs = append(jobIDs, *up.JobID)
	}
	if _, err := h.inserter.JobCancel(ctx, jobIDs[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := h.pool.Exec(ctx, `UPDATE river_job SET state = 'discarded', finalized_at = now() WHERE id = $1`, jobIDs[1]); err != nil {
		t.Fatal(err)
	}
	swept, err := jobs.SweepDriftRequests(ctx, h.pool, h.inserter)
	if err != nil || swept != 2 {
		t.Fatalf("swept %d (%v), want the cancelled and the discarded customers' requests", swept, err)
	}
	if again, err := jobs.SweepDriftRequests(ctx, h.pool, h.inserter); err != nil || again != 0 {
		t.Fatalf("a second sweep inserted %d (%v), want 0: their jobs are queued", again, err)
	}
	h.startClient(t, 2, nil)
	h.waitIdle(t)
	for _, cust := range []int64{cancelled, discarded, waiting} {
		if n := h.count(t, `SELECT count(*) FROM report_runs WHERE customer_id = $1 AND run_type = 'upload' AND status = 'success'`, cust); n != 1 {
			t.Errorf("customer %d has %d upload runs, want 1", cust, n)
		}
	}
	if n := h.count(t, `SELECT count(*) FROM drift_requests`); n != 0 {
		t.Fatalf("%d drift requests left", n)
	}
}
