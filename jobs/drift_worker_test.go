package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/ingest"
	"github.com/upstream-rcm/upstream/internal/store"
	"github.com/upstream-rcm/upstream/internal/testfactory"
	"github.com/upstream-rcm/upstream/jobs"
)

// (a) Eight goroutines computing the same customer and week at once leave
// exactly one successful weekly run and one event per group and type.
func TestConcurrentWeeklyComputationsLeaveOneRun(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for iteration := range 5 {
		cust := h.customer(t, fmt.Sprintf("acme-%d", iteration))
		h.upload(t, cust, "claims.csv", append(driftingClaims("Aetna"), driftingClaims("Cigna")...))
		req := drift.Request{CustomerID: cust, RunType: drift.RunWeekly, Params: drift.DefaultParams(asOf)}

		var wg sync.WaitGroup
		var computed, alreadyDone atomic.Int32
		start := make(chan struct{})
		errs := make(chan error, 8)
		for range 8 {
			wg.Go(func() {
				<-start
				ctx := context.Background()
				tx, err := h.pool.Begin(ctx)
				if err != nil {
					errs <- err
					return
				}
				defer tx.Rollback(ctx)
				out, err := drift.Compute(ctx, tx, req)
				if err != nil {
					errs <- err
					return
				}
				if err := tx.Commit(ctx); err != nil {
					errs <- err
					return
				}
				if out.AlreadyDone {
					alreadyDone.Add(1)
				} else {
					computed.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if computed.Load() != 1 || alreadyDone.Load() != 7 {
			t.Fatalf("iteration %d: %d computed, %d found it done; want 1 and 7", iteration, computed.Load(), alreadyDone.Load())
		}
		runs := h.count(t, `SELECT count(*) FROM report_runs WHERE customer_id = $1`, cust)
		keys := h.eventKeys(t, cust)
		if runs != 1 || len(keys) != 4 {
			t.Fatalf("iteration %d: %d runs, events %v; want 1 run with 4 events", iteration, runs, keys)
		}
	}
}

// weeklyWithoutUniqueness inserts weekly_drift jobs that River does not
// deduplicate: the situation after River prunes a completed job, or when
// two schedulers race. The report_runs constraint and the customer lock
// must still allow a single successful run.
type weeklyWithoutUniqueness jobs.WeeklyDriftArgs

func (weeklyWithoutUniqueness) Kind() string { return jobs.WeeklyDriftArgs{}.Kind() }
func (weeklyWithoutUniqueness) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: jobs.QueueDrift}
}

// (b) Two River clients ("processes") working 100 weekly jobs with the
// same key leave one successful weekly run and no duplicate event.
func TestTwoClientsWorkingDuplicateWeeklyJobsLeaveOneRun(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cust := h.customer(t, "acme")
	h.upload(t, cust, "claims.csv", append(driftingClaims("Aetna"), driftingClaims("Cigna")...))
	// The upload's own job would add an upload run; this test is about
	// weekly runs only.
	if _, err := h.pool.Exec(context.Background(), `DELETE FROM river_job`); err != nil {
		t.Fatal(err)
	}
	var params []river.InsertManyParams
	for range 100 {
		params = append(params, river.InsertManyParams{Args: weeklyWithoutUniqueness{CustomerID: cust, AsOf: asOf.Format(time.DateOnly)}})
	}
	client := h.startClient(t, 4, nil)
	h.startClient(t, 4, nil)
	if _, err := client.InsertMany(context.Background(), params); err != nil {
		t.Fatal(err)
	}
	h.waitIdle(t)

	completed := h.count(t, `SELECT count(*) FROM river_job WHERE kind = 'weekly_drift' AND state = 'completed'`)
	successes := h.count(t, `SELECT count(*) FROM report_runs WHERE customer_id = $1 AND run_type = 'weekly' AND status = 'success'`, cust)
	allRuns := h.count(t, `SELECT count(*) FROM report_runs WHERE customer_id = $1`, cust)
	keys := h.eventKeys(t, cust)
	if completed != 100 || successes != 1 || allRuns != 1 || len(keys) != 4 {
		t.Fatalf("%d jobs completed, %d successful weekly runs (%d runs in all), events %v; want 100, 1, 1 and 4 events",
			completed, successes, allRuns, keys)
	}
}

// (c) An upload commits while a drift computation for the same customer
// holds the customer lock, without waiting for it.
func TestUploadCommitsWhileDriftHoldsCustomerLock(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cust := h.customer(t, "acme")
	holding := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	h.startClient(t, 2, func(ctx context.Context, tx pgx.Tx, job *rivertype.JobRow) error {
		first := false
		once.Do(func() { first = true })
		if first {
			close(holding)
			<-release // the customer row stays locked FOR NO KEY UPDATE meanwhile
		}
		return nil
	})
	var releaseOnce sync.Once
	releaseComputation := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(releaseComputation) // runs before the client stops
	h.upload(t, cust, "first.csv", driftingClaims("Aetna"))
	select {
	case <-holding:
	case <-time.After(30 * time.Second):
		t.Fatal("drift computation never started")
	}

	// The computation holds the customer row FOR NO KEY UPDATE: a second
	// computation could not take it, while an upload's foreign-key check
	// (FOR KEY SHARE) can.
	probe := func(mode string) error {
		ctx := context.Background()
		tx, err := h.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		_, err = tx.Exec(ctx, `SELECT 1 FROM customers WHERE id = $1 FOR `+mode+` NOWAIT`, cust)
		return err
	}
	var pgErr *pgconn.PgError
	if err := probe("NO KEY UPDATE"); !errors.As(err, &pgErr) || pgErr.Code != pgerrcode.LockNotAvailable {
		t.Fatalf("second FOR NO KEY UPDATE: %v, want lock_not_available while the computation runs", err)
	}
	if err := probe("KEY SHARE"); err != nil {
		t.Fatalf("FOR KEY SHARE blocked by the computation's lock: %v", err)
	}

	uploaded := make(chan error, 1)
	go func() {
		_, err := h.uploader.Upload(context.Background(), cust, "second.csv", strings.NewReader(testfactory.ClaimsCSV(driftingClaims("Cigna")...)), testfactory.DifferentClaims)
		uploaded <- err
	}()
	select {
	case err := <-uploaded:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("upload waited for the drift computation's customer lock")
	}
	// The computation is still paused: the upload finished first.
	if n := h.count(t, `SELECT count(*) FROM report_runs WHERE status = 'success'`); n != 0 {
		t.Fatalf("%d successful runs before the computation was released", n)
	}
	releaseComputation()
	h.waitIdle(t)
	// The upload coalesced into the running job; the follow-up reflects it.
	runs, err := store.New(h.pool).ReportRunListByCustomer(context.Background(), db.ReportRunListByCustomerParams{CustomerID: cust, MaxRows: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || *runs[0].ClaimsRead != 160 || *runs[1].ClaimsRead != 80 {
		t.Fatalf("runs = %d (want 2: 80 claims, then a follow-up with all 160)", len(runs))
	}
}

// (d) No lost trigger: uploads race running drift jobs; once the queue
// drains, the latest successful run has read every claim in its windows.
func TestNoUploadIsLeftUnreflected(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	// Widen the two windows where a lost trigger would hide: between a
	// computation's end and its job's completion, and between an upload's
	// (possibly coalesced) job insert and its commit.
	h.startClient(t, 2, func(ctx context.Context, tx pgx.Tx, job *rivertype.JobRow) error {
		time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
		return nil
	})
	h.uploader.Jobs = slowCommitJobs{h.uploader.Jobs}
	// Rounds of racing customers; each round waits for the queue to drain.
	const rounds, perRound = 3, 80
	for round := range rounds {
		var wg sync.WaitGroup
		for i := range perRound {
			wg.Go(func() {
				cust := h.customer(t, fmt.Sprintf("customer-%d-%d", round, i))
				for u := range 2 + rand.IntN(5) {
					time.Sleep(time.Duration(rand.IntN(8)) * time.Millisecond)
					claims := []testfactory.Claim{}
					for range 5 + rand.IntN(10) {
						claims = append(claims, claim("Aetna", 1+rand.IntN(100), rand.IntN(20), []string{"PAID", "DENIED", "OTHER"}[rand.IntN(3)]))
					}
					h.upload(t, cust, fmt.Sprintf("u%d.csv", u), claims)
				}
			})
		}
		wg.Wait()
		h.waitIdle(t)
	}
	rows, err := h.pool.Query(context.Background(), `
		SELECT c.id, r.claims_read,
		       (SELECT count(*) FROM claim_records cr WHERE cr.customer_id = c.id AND cr.outcome IN ('PAID', 'DENIED')
		          AND cr.submitted_date >= r.baseline_start AND cr.submitted_date < r.current_end)
		FROM customers c
		JOIN LATERAL (SELECT * FROM report_runs r WHERE r.customer_id = c.id AND r.status = 'success'
		              ORDER BY r.id DESC LIMIT 1) r ON true`)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for rows.Next() {
		var id, read, inWindows int64
		if err := rows.Scan(&id, &read, &inWindows); err != nil {
			t.Fatal(err)
		}
		seen++
		if read != inWindows {
			t.Errorf("customer %d: latest run read %d claims, %d are in its windows", id, read, inWindows)
		}
	}
	if seen != rounds*perRound {
		t.Fatalf("%d customers have a successful run, want %d", seen, rounds*perRound)
	}
	if left := h.count(t, `SELECT count(*) FROM drift_requests`); left != 0 {
		t.Fatalf("%d drift requests left unconsumed", left)
	}
}

// (e) A burst of 20 uploads for one customer coalesces: while the job
// waits, every upload joins it (exactly one job, one computation, all the
// claims); with workers running, the burst makes at most one computation
// per upload and the last one reads every claim. How few depends on timing,
// so only the bounds that do not are asserted.
func TestUploadBurstCoalescesComputations(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cust := h.customer(t, "acme")
	burst := func(prefix string) {
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				h.upload(t, cust, fmt.Sprintf("%s%d.csv", prefix, i), driftingClaims(fmt.Sprintf("Payer%s%d", prefix, i)))
			})
		}
		wg.Wait()
	}
	burst("a")
	if jobs := h.count(t, `SELECT count(*) FROM river_job WHERE kind = 'customer_drift'`); jobs != 1 {
		t.Fatalf("%d drift jobs for 20 uploads while none ran, want the one they all joined", jobs)
	}
	h.startClient(t, 2, nil)
	h.waitIdle(t)
	if runs := h.count(t, `SELECT count(*) FROM report_runs WHERE customer_id = $1`, cust); runs != 1 {
		t.Fatalf("%d computations for 20 coalesced uploads, want 1", runs)
	}

	burst("b") // now racing the running workers
	h.waitIdle(t)
	runs := h.count(t, `SELECT count(*) FROM report_runs WHERE customer_id = $1`, cust) - 1
	if runs < 1 || runs > 20 {
		t.Fatalf("%d computations for a burst of 20 uploads with workers running, want 1 to 20", runs)
	}
	if read := h.count(t, `SELECT claims_read FROM report_runs WHERE customer_id = $1 ORDER BY id DESC LIMIT 1`, cust); read != 40*80 {
		t.Fatalf("last computation read %d claims, want all %d", read, 40*80)
	}
	t.Logf("20 uploads racing the workers -> %d computations", runs)
}

// (g) A computation killed at its most delicate point (events written, job
// not yet completed) leaves no events; the job is retried to success.
func TestKilledComputationLeavesNothingAndIsRetried(t *testing.T) {
	t.Parallel()
	kills := map[string]func(ctx context.Context, tx pgx.Tx, h *harness, job *rivertype.JobRow) error{
		"connection closed": func(ctx context.Context, tx pgx.Tx, h *harness, job *rivertype.JobRow) error {
			_, err := tx.Exec(ctx, `SELECT pg_terminate_backend(pg_backend_pid())`)
			return err
		},
		"context cancelled": func(ctx context.Context, tx pgx.Tx, h *harness, job *rivertype.JobRow) error {
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			_, err := tx.Exec(cctx, `SELECT 1`)
			return err
		},
		"rescued while running": func(ctx context.Context, tx pgx.Tx, h *harness, job *rivertype.JobRow) error {
			// What River's rescuer does to a job it believes is stuck.
			_, err := h.pool.Exec(ctx, `UPDATE river_job SET state = 'retryable', scheduled_at = now() WHERE id = $1`, job.ID)
			return err
		},
	}
	for name, kill := range kills {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			cust := h.customer(t, "acme")
			h.startClient(t, 1, func(ctx context.Context, tx pgx.Tx, job *rivertype.JobRow) error {
				if job.Attempt == 1 {
					return kill(ctx, tx, h, job)
				}
				return nil
			})
			up := h.upload(t, cust, "claims.csv", driftingClaims("Aetna"))
			h.waitIdle(t)
			runs, err := store.New(h.pool).ReportRunGetByJobMany(context.Background(), up.JobID)
			if err != nil {
				t.Fatal(err)
			}
			if len(runs) != 2 || runs[0].Status != "failed" || runs[0].Attempt != 1 || runs[0].Error == nil ||
				runs[1].Status != "success" || runs[1].Attempt != 2 {
				for _, r := range runs {
					t.Logf("run %d: %s attempt %d error %v", r.ID, r.Status, r.Attempt, deref(r.Error))
				}
				t.Fatalf("want a failed attempt 1 and a successful attempt 2")
			}
			if name == "rescued while running" && !strings.Contains(*runs[0].Error, "no longer running") {
				t.Fatalf("failed run error = %q", *runs[0].Error)
			}
			keys := h.eventKeys(t, cust)
			want := []string{fmt.Sprintf("%d/Aetna/OTHER/DECISION_TIME", runs[1].ID), fmt.Sprintf("%d/Aetna/OTHER/DENIAL_RATE", runs[1].ID)}
			if fmt.Sprint(keys) != fmt.Sprint(want) {
				t.Fatalf("events = %v, want only the successful attempt's %v", keys, want)
			}
			var state string
			if err := h.pool.QueryRow(context.Background(), `SELECT state FROM river_job WHERE id = $1`, *up.JobID).Scan(&state); err != nil || state != "completed" {
				t.Fatalf("job state = %q (%v), want completed", state, err)
			}
		})
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// A job that finds its customer locked by another computation waits a
// bounded time and then snoozes, freeing the worker, instead of holding it
// for the whole job timeout; it completes once the lock is free.
func TestJobWaitingForACustomerLockSnoozes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t)
	cust := h.customer(t, "acme")
	h.upload(t, cust, "claims.csv", driftingClaims("Aetna"))
	holder, err := h.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback(ctx)
	if _, err := holder.Exec(ctx, `SELECT 1 FROM customers WHERE id = $1 FOR NO KEY UPDATE`, cust); err != nil {
		t.Fatal(err)
	}
	h.startClientWith(t, 1, &jobs.Deps{Now: h.deps.Now, LockWait: 200 * time.Millisecond, BusySnooze: 500 * time.Millisecond})
	deadline := time.Now().Add(20 * time.Second)
	// River records snoozes in the job's metadata (a short snooze makes the
	// job available again at once rather than scheduled).
	for h.count(t, `SELECT count(*) FROM river_job WHERE kind = 'customer_drift' AND coalesce((metadata->>'snoozes')::int, 0) >= 2`) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the job never snoozed while the customer was locked")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := h.count(t, `SELECT count(*) FROM report_runs`); n != 0 {
		t.Fatalf("%d runs recorded while busy, want none (a busy customer is not a failure)", n)
	}
	if err := holder.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	h.waitIdle(t)
	if n := h.count(t, `SELECT count(*) FROM report_runs WHERE status = 'success'`); n != 1 {
		t.Fatalf("%d successful runs after the lock was released, want 1", n)
	}
}

// A job whose worker died mid-computation (kill -9: the row stays running)
// is rescued once its timeout plus RescueGrace has passed, and another
// client finishes it; with River's default (an hour past the timeout) this
// job would wait.
func TestJobOfADeadWorkerIsRescuedAndFinished(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t)
	cust := h.customer(t, "acme")
	up := h.upload(t, cust, "claims.csv", driftingClaims("Aetna"))
	// What a worker killed after fetching the job leaves behind.
	if _, err := h.pool.Exec(ctx, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now() - interval '15 minutes',
		attempted_by = ARRAY['killed-worker'] WHERE id = $1`, *up.JobID); err != nil {
		t.Fatal(err)
	}
	h.startClient(t, 1, nil) // job timeout 10 minutes: rescue after 11
	h.waitIdle(t)
	if n := h.count(t, `SELECT count(*) FROM report_runs WHERE status = 'success' AND job_id = $1`, *up.JobID); n != 1 {
		t.Fatalf("%d successful runs of the dead worker's job, want 1", n)
	}
}

// slowCommitJobs widens the window between an upload's (possibly
// coalesced) drift job insert and its commit.
type slowCommitJobs struct{ ingest.Jobs }

func (s slowCommitJobs) EnqueueDriftTx(ctx context.Context, tx pgx.Tx, customerID int64) (ingest.DriftJob, error) {
	job, err := s.Jobs.EnqueueDriftTx(ctx, tx, customerID)
	time.Sleep(time.Duration(rand.IntN(5000)) * time.Microsecond)
	return job, err
}
