package jobs_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/store"
	"github.com/upstream-rcm/upstream/internal/testdb"
	"github.com/upstream-rcm/upstream/jobs"
)

type noopArgs struct {
	N int `json:"n"`
}

func (noopArgs) Kind() string { return "bench_noop" }

func (noopArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: noopQueue} }

const noopQueue = "bench_noop"

// noopAtItsBest runs n no-op jobs on a River client configured for
// throughput, as River's own benchmark does (many workers, a 1 ms fetch
// cooldown), on its own pool: the queue's ceiling on this machine, not a
// variant of our configuration. With 8 workers and a 10 ms cooldown a
// fetch brings at most 8 jobs, so such a client tops out at 800 jobs/s
// whatever the database can do; that was the earlier baseline's limit.
func noopAtItsBest(b *testing.B, dsn string, n int) time.Duration {
	ctx := context.Background()
	pool := testdb.NewPool(b, dsn)
	workers := river.NewWorkers()
	river.AddWorker(workers, noopWorker{})
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Queues: map[string]river.QueueConfig{noopQueue: {MaxWorkers: 500}}, Workers: workers,
		FetchCooldown: time.Millisecond, FetchPollInterval: 20 * time.Millisecond, Logger: nil,
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_ = client.Stop(stopCtx)
	}()
	params := make([]river.InsertManyParams, n)
	for i := range params {
		params[i] = river.InsertManyParams{Args: noopArgs{N: i}}
	}
	start := time.Now()
	if _, err := client.InsertManyFast(ctx, params); err != nil {
		b.Fatal(err)
	}
	if err := jobs.WaitIdle(ctx, pool, 10*time.Millisecond); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

type noopWorker struct{ river.WorkerDefaults[noopArgs] }

func (noopWorker) Work(context.Context, *river.Job[noopArgs]) error { return nil }

// BenchmarkWeeklyFanOut measures, for UPSTREAM_BENCH_CUSTOMERS customers
// (default 10,000) with small data, the weekly fan-out until every result
// is committed by one process in the production configuration (serve's and
// worker's: DefaultWorkers and River's fetch settings, untouched), next to
// the throughput of as many no-op River jobs at River's best on the same
// database in the same run: the queue's own ceiling.
// UPSTREAM_BENCH_DRIFT_WORKERS measures another --drift-workers.
func BenchmarkWeeklyFanOut(b *testing.B) {
	customers := 10_000
	if s := os.Getenv("UPSTREAM_BENCH_CUSTOMERS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		customers = n
	}
	workers := jobs.DefaultWorkers()
	if s := os.Getenv("UPSTREAM_BENCH_DRIFT_WORKERS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		workers[jobs.QueueDrift] = n
	}
	ctx := context.Background()
	for range b.N {
		dsn := testdb.URL(b)
		pool := testdb.NewPool(b, dsn)
		// Small data: 20 claims per customer, with their day statistics.
		if _, err := pool.Exec(ctx, `INSERT INTO customers (name) SELECT 'customer-' || i FROM generate_series(1, $1::int) i`, customers); err != nil {
			b.Fatal(err)
		}
		_, err := pool.Exec(ctx, `
			INSERT INTO uploads (customer_id, filename) SELECT id, 'seed.csv' FROM customers;
			INSERT INTO claim_records (customer_id, upload_id, source_row, payer, cpt, cpt_group, submitted_date, decided_date, outcome)
			SELECT u.customer_id, u.id, k, 'Payer ' || (k % 3), '99213', 'E&M', date '2026-11-22' - (k * 5), date '2026-11-22' - (k * 5) + k % 9,
			       CASE WHEN k % 4 = 0 THEN 'DENIED' ELSE 'PAID' END
			FROM uploads u, generate_series(1, 20) k;
			ANALYZE`)
		if err != nil {
			b.Fatal(err)
		}
		// Their statistics, as uploads store them past the in-memory bound.
		rows, err := pool.Query(ctx, `SELECT customer_id, id FROM uploads`)
		if err != nil {
			b.Fatal(err)
		}
		type upload struct{ CustomerID, ID int64 }
		uploads, err := pgx.CollectRows(rows, pgx.RowToStructByPos[upload])
		if err != nil {
			b.Fatal(err)
		}
		q := store.New(pool)
		for _, u := range uploads {
			if err := q.ClaimStatsAddOf(ctx, db.ClaimStatsAddOfParams{CustomerID: u.CustomerID, UploadID: u.ID,
				VersionUploadIds: []int64{}, VersionSourceRows: []int32{}}); err != nil {
				b.Fatal(err)
			}
		}
		deps := &jobs.Deps{Pool: pool}
		cfg := jobs.Config(deps, workers)
		client, err := river.NewClient(riverpgxv5.New(pool), cfg)
		if err != nil {
			b.Fatal(err)
		}
		if err := client.Start(ctx); err != nil {
			b.Fatal(err)
		}
		wait := func() {
			if err := jobs.WaitIdle(ctx, pool, 20*time.Millisecond); err != nil {
				b.Fatal(err)
			}
		}

		b.StartTimer()
		noop := noopAtItsBest(b, dsn, customers)

		start := time.Now()
		res, err := jobs.FanOut(ctx, pool, client, time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC))
		if err != nil {
			b.Fatal(err)
		}
		wait()
		fanout := time.Since(start)
		b.StopTimer()

		var runs int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM report_runs WHERE run_type = 'weekly' AND status = 'success'`).Scan(&runs); err != nil {
			b.Fatal(err)
		}
		if res.Enqueued != customers || runs != customers {
			b.Fatalf("fan-out enqueued %d, %d successful weekly runs; want %d", res.Enqueued, runs, customers)
		}
		if err := jobs.StopGracefully(client, 10*time.Second, nil); err != nil {
			b.Fatal(err)
		}
		fanoutRate := float64(customers) / fanout.Seconds()
		noopRate := float64(customers) / noop.Seconds()
		b.ReportMetric(fanoutRate, "weekly_jobs/s")
		b.ReportMetric(noopRate, "noop_jobs/s")
		b.Logf("BENCHTABLE|weekly fan-out to results, %d customers, one process as in production (%d drift workers, %s fetch cooldown), jobs/s|%.0f (%.0f s; 10k customers in %.1f min)|no-op River jobs at River's best (500 workers, 1 ms cooldown) %.0f/s|%.2fx of it",
			customers, workers[jobs.QueueDrift], cooldown(cfg), fanoutRate, fanout.Seconds(), 10_000/fanoutRate/60, noopRate, fanoutRate/noopRate)
	}
}

// cooldown is the fetch cooldown a configuration runs with.
func cooldown(cfg *river.Config) time.Duration {
	if cfg.FetchCooldown == 0 {
		return river.FetchCooldownDefault
	}
	return cfg.FetchCooldown
}
