package drift_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/store"
	"github.com/upstream-rcm/upstream/internal/testdb"
)

// benchSizes are the claim counts of the drift benchmark
// (UPSTREAM_BENCH_DRIFT_SIZES, comma-separated).
func benchSizes(b *testing.B) []int {
	spec := os.Getenv("UPSTREAM_BENCH_DRIFT_SIZES")
	if spec == "" {
		spec = "10000,100000,1000000"
	}
	var sizes []int
	for _, s := range strings.Split(spec, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			b.Fatalf("UPSTREAM_BENCH_DRIFT_SIZES: %v", err)
		}
		sizes = append(sizes, n)
	}
	return sizes
}

// seedClaims stores n claims for a new customer shaped like a real
// customer's export: 30 payers x 12 CPT groups, submitted over the 365 days
// before asOf, days to decision skewed over 0-90 (90 u^2), only claims
// decided before asOf (the export date), 5% OTHER outcomes; with the
// statistics an upload would have written.
func seedClaims(b *testing.B, ctx context.Context, pool *pgxpool.Pool, name string, n int, asOf time.Time) int64 {
	b.Helper()
	var cust, upload int64
	if err := pool.QueryRow(ctx, `INSERT INTO customers (name) VALUES ($1) RETURNING id`, name).Scan(&cust); err != nil {
		b.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `INSERT INTO uploads (customer_id, filename) VALUES ($1, 'seed.csv') RETURNING id`, cust).Scan(&upload); err != nil {
		b.Fatal(err)
	}
	_, err := pool.Exec(ctx, `
		INSERT INTO claim_records (customer_id, upload_id, source_row, payer, cpt, cpt_group, submitted_date, decided_date, outcome)
		SELECT $1, $2, i + 1, 'Payer ' || (h % 30), '9921' || (h % 6), 'G' || ((h / 30) % 12), d, d + days,
		       CASE WHEN h % 20 = 0 THEN 'OTHER' WHEN h % 20 < 5 THEN 'DENIED' ELSE 'PAID' END
		FROM (SELECT i, h, $3::date - 1 - (i % 365)::int AS d, floor(90 * power(((h / 360) % 1000) / 1000.0, 2))::int AS days
		      FROM (SELECT i, (i * 2654435761) % 4294967296 AS h FROM generate_series(0, $4::bigint * 2) i) g) c
		WHERE d + days < $3::date
		LIMIT $4`,
		cust, upload, asOf, n)
	if err != nil {
		b.Fatal(err)
	}
	if err := store.New(pool).ClaimStatsAddOf(ctx, db.ClaimStatsAddOfParams{CustomerID: cust, UploadID: upload,
		VersionUploadIds: []int64{}, VersionSourceRows: []int32{}}); err != nil {
		b.Fatal(err)
	}
	// What autovacuum would do soon after a large upload: set hint bits and
	// the visibility map, refresh planner statistics.
	for _, table := range []string{"claim_records", "claim_stats"} {
		if _, err := pool.Exec(ctx, "VACUUM ANALYZE "+table); err != nil {
			b.Fatal(err)
		}
	}
	return cust
}

// clientSideAggregate is the old system's approach: read every counted claim
// of the windows out and group them in the client.
func clientSideAggregate(ctx context.Context, pool *pgxpool.Pool, customerID int64, w drift.Windows) ([]drift.Group, error) {
	rows, err := pool.Query(ctx, `SELECT payer, cpt_group, submitted_date, decided_date, outcome FROM claim_records
		WHERE customer_id = $1 AND submitted_date >= $2 AND submitted_date < $3 AND outcome IN ('PAID', 'DENIED')`,
		customerID, w.BaselineStart, w.CurrentEnd)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	type acc struct {
		volume, denied [2]int
		days           [2][]int
	}
	groups := map[[2]string]*acc{}
	var payer, group, outcome string
	var sub, dec time.Time
	for rows.Next() {
		if err := rows.Scan(&payer, &group, &sub, &dec, &outcome); err != nil {
			return nil, err
		}
		k := [2]string{payer, group}
		a := groups[k]
		if a == nil {
			a = &acc{}
			groups[k] = a
		}
		win := 0
		if !sub.Before(w.CurrentStart) {
			win = 1
		}
		a.volume[win]++
		if outcome == "DENIED" {
			a.denied[win]++
		}
		a.days[win] = append(a.days[win], int(dec.Sub(sub).Hours()/24))
	}
	out := make([]drift.Group, 0, len(groups))
	for k, a := range groups {
		out = append(out, drift.Group{Payer: k[0], CPTGroup: k[1],
			Baseline: drift.WindowStats{Volume: a.volume[0], Denied: a.denied[0], MedianDays: drift.Median(a.days[0])},
			Current:  drift.WindowStats{Volume: a.volume[1], Denied: a.denied[1], MedianDays: drift.Median(a.days[1])}})
	}
	return out, rows.Err()
}

// medianDuration runs f once to warm caches, then runs times, and returns
// the median duration.
func medianDuration(b *testing.B, runs int, f func() error) time.Duration {
	b.Helper()
	if err := f(); err != nil {
		b.Fatal(err)
	}
	var ds []time.Duration
	for range runs {
		start := time.Now()
		if err := f(); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(start))
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// BenchmarkDriftComputation times, per claim count, one drift aggregation
// from the day statistics against, in the same run and database, the same
// result from one GROUP BY with percentile_cont over the raw claims and from
// reading the claims out and grouping them in Go.
func BenchmarkDriftComputation(b *testing.B) {
	ctx := context.Background()
	asOf := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	w := drift.WindowsFor(drift.DefaultParams(asOf))
	pool := testdb.New(b)
	// A neighbour with as many claims, so the index really has to select.
	for _, n := range benchSizes(b) {
		cust := seedClaims(b, ctx, pool, fmt.Sprintf("bench-%d", n), n, asOf)
		seedClaims(b, ctx, pool, fmt.Sprintf("neighbour-%d", n), n, asOf)
		b.Run(fmt.Sprintf("claims=%d", n), func(b *testing.B) {
			q := store.New(pool)
			var inWindows int64
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM claim_records WHERE customer_id = $1 AND submitted_date >= $2 AND submitted_date < $3`,
				cust, w.BaselineStart, w.CurrentEnd).Scan(&inWindows); err != nil {
				b.Fatal(err)
			}
			for range b.N {
				stats := medianDuration(b, 7, func() error { _, err := drift.Aggregate(ctx, pool, cust, w); return err })
				compute := medianDuration(b, 5, func() error {
					tx, err := pool.Begin(ctx)
					if err != nil {
						return err
					}
					defer tx.Rollback(ctx)
					_, err = drift.Compute(ctx, tx, drift.Request{CustomerID: cust, RunType: drift.RunManual, Params: drift.DefaultParams(asOf)})
					return err
				})
				raw := medianDuration(b, 3, func() error { _, err := drift.AggregateRawClaims(ctx, q, cust, w); return err })
				client := medianDuration(b, 1, func() error { _, err := clientSideAggregate(ctx, pool, cust, w); return err })
				ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
				b.ReportMetric(ms(stats), "stats_ms")
				b.ReportMetric(ms(compute), "compute_ms")
				b.ReportMetric(ms(raw), "raw_groupby_ms")
				b.ReportMetric(ms(client), "client_ms")
				b.Logf("BENCHTABLE|drift aggregation, %d claims (%d in windows), ms|%.1f|raw GROUP BY percentile_cont %.1f|%s", n, inWindows, ms(stats), ms(raw), speed(ms(stats), ms(raw)))
				b.Logf("BENCHTABLE|drift aggregation, %d claims, ms|%.1f|client-side grouping %.1f|%s", n, ms(stats), ms(client), speed(ms(stats), ms(client)))
				b.Logf("BENCHTABLE|whole computation (lock, run, seed rule, tests, FDR, events), %d claims, ms|%.1f|target 100|-", n, ms(compute))
				var statRows int64
				if err := pool.QueryRow(ctx, `SELECT count(*) FROM claim_stats WHERE customer_id = $1`, cust).Scan(&statRows); err != nil {
					b.Fatal(err)
				}
				b.Logf("BENCHTABLE|statistics rows per claim, %d claims (30 payers x 12 groups), %%|%.1f|target 5|-", n, 100*float64(statRows)/float64(n))
			}
		})
	}
}

// speed says how our time compares with the baseline's, honestly: "2.5x
// faster" or "1.4x slower", never "0.7x faster".
func speed(ours, baseline float64) string {
	if ours <= baseline {
		return fmt.Sprintf("%.1fx faster", baseline/ours)
	}
	return fmt.Sprintf("%.1fx slower", ours/baseline)
}

func TestSpeedSaysFasterOrSlowerHonestly(t *testing.T) {
	for _, tc := range []struct {
		ours, baseline float64
		want           string
	}{{10, 25, "2.5x faster"}, {10, 7, "1.4x slower"}, {5, 5, "1.0x faster"}} {
		if got := speed(tc.ours, tc.baseline); got != tc.want {
			t.Errorf("speed(%v, %v) = %q, want %q", tc.ours, tc.baseline, got, tc.want)
		}
	}
}
