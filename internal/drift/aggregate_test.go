package drift_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for goose
	"github.com/pressly/goose/v3"

	"github.com/upstream-rcm/upstream/internal/claimstats"
	"github.com/upstream-rcm/upstream/internal/customers"
	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/ingest"
	"github.com/upstream-rcm/upstream/internal/store"
	"github.com/upstream-rcm/upstream/internal/testdb"
	"github.com/upstream-rcm/upstream/internal/testfactory"
	"github.com/upstream-rcm/upstream/schema"
)

// differentClaims uploads files without claim ids that overlap the
// customer's earlier ones as the different claims they are (random claims).
var differentClaims = &ingest.UploadOptions{Overlap: ingest.OverlapAppend}

func randomClaims(rng *rand.Rand, n int, origin time.Time) string {
	var b strings.Builder
	b.WriteString("payer,cpt,submitted_date,decided_date,outcome,denial_reason_code,allowed_amount,charge_amount\n")
	for range n {
		sub := origin.AddDate(0, 0, -rng.IntN(200))
		outcome := []string{"PAID", "DENIED", "denied", "approved", "pending", "PAID"}[rng.IntN(6)]
		// Amounts: none, allowed only, charged only, or both (the charge
		// counts), with cents that round.
		amount := func() string {
			if rng.IntN(3) == 0 {
				return ""
			}
			return fmt.Sprintf("%d.%03d", rng.IntN(5000), rng.IntN(1000))
		}
		fmt.Fprintf(&b, "%s,%s,%s,%s,%s,%s,%s,%s\n", []string{"Aetna", "AETNA INC", "Cigna", "Humana"}[rng.IntN(4)],
			[]string{"99213", "99214", "70553", "0001U"}[rng.IntN(4)], sub.Format(time.DateOnly),
			sub.AddDate(0, 0, rng.IntN(rng.IntN(60)+1)).Format(time.DateOnly), outcome,
			[]string{"", "", "CO-16", "CO-50", "co-50", "PR-1"}[rng.IntN(6)], amount(), amount())
	}
	return b.String()
}

// The day statistics give exactly the raw-row aggregation (percentile_cont
// medians, float64 equality) on randomized data, across several uploads,
// rolled-back and duplicate uploads, several customers and a deletion.
func TestStatisticsAggregateEqualsRawClaims(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	uploader := testfactory.Uploader(t, pool)
	// Past MaxStatRows the statistics come from the stored claims instead
	// of memory; both paths must agree with the raw rows.
	overflowing := &ingest.UploadOptions{MaxStatRows: 10, Overlap: ingest.OverlapAppend}
	origin := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)

	var ids []int64
	for c := range 3 {
		id := testfactory.Customer(t, pool, fmt.Sprintf("customer-%d", c))
		ids = append(ids, id)
		if _, err := ingest.ReplaceMappings(ctx, pool, id, strings.NewReader("raw_name,normalized_name\nAETNA INC,Aetna\n"),
			strings.NewReader("cpt,cpt_group\n99213,E&M\n99214,E&M\n70553,Imaging\n")); err != nil {
			t.Fatal(err)
		}
	}
	for seed := range uint64(6) {
		rng := rand.New(rand.NewPCG(seed, 7))
		cust := ids[rng.IntN(len(ids))]
		body := randomClaims(rng, 200+rng.IntN(2000), origin)
		opts := differentClaims
		if seed%2 == 1 {
			opts = overflowing
		}
		if _, err := uploader.Upload(ctx, cust, fmt.Sprintf("u%d.csv", seed), strings.NewReader(body), opts); err != nil {
			t.Fatal(err)
		}
		// A duplicate and a cancelled upload change nothing.
		if _, err := uploader.Upload(ctx, cust, "dup.csv", strings.NewReader(body), differentClaims); err == nil {
			t.Fatal("duplicate accepted")
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := uploader.Upload(cctx, cust, "cancelled.csv", strings.NewReader(randomClaims(rng, 500, origin)), differentClaims); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled upload: %v", err)
		}
		for range 5 {
			asOf := origin.AddDate(0, 0, -rng.IntN(60))
			p := drift.Params{AsOf: asOf, BaselineDays: 1 + rng.IntN(120), CurrentDays: 1 + rng.IntN(30), MinVolume: 1}
			for _, id := range ids {
				assertSameAggregate(t, ctx, pool, id, drift.WindowsFor(p))
			}
		}
	}
	if err := customers.Delete(ctx, store.New(pool), ids[0]); err != nil {
		t.Fatal(err)
	}
	var left int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM claim_stats WHERE customer_id = $1`, ids[0]).Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d statistics rows left for a deleted customer (%v)", left, err)
	}
	assertSameAggregate(t, ctx, pool, ids[1], drift.WindowsFor(drift.DefaultParams(origin)))
}

// initialVersions is the customer's ($1) claims, each once at its initial
// version (earliest decided; ties: the later upload, then the later row),
// found by sorting every stored version: the reference the statistics,
// kept through the claims table, must equal.
const initialVersions = `(SELECT DISTINCT ON (coalesce(v.claim_id, v.upload_id || ':' || v.source_row)) v.*
	FROM claim_records v WHERE v.customer_id = $1
	ORDER BY coalesce(v.claim_id, v.upload_id || ':' || v.source_row), v.decided_date, v.upload_id DESC, v.source_row DESC) AS initial`

func assertSameAggregate(t *testing.T, ctx context.Context, pool *pgxpool.Pool, customerID int64, w drift.Windows) {
	t.Helper()
	assertDriversEqualClaims(t, ctx, pool, customerID)
	q := store.New(pool)
	fromStats, err := drift.Aggregate(ctx, pool, customerID, w)
	if err != nil {
		t.Fatal(err)
	}
	fromRows, err := drift.AggregateRawClaims(ctx, q, customerID, w)
	if err != nil {
		t.Fatal(err)
	}
	if len(fromStats) == 0 && len(fromRows) == 0 {
		return
	}
	// Volumes, denials and histograms on both bases, brute force from the
	// claim rows.
	// Amounts on the decision basis: the charge, else the allowed amount,
	// in cents.
	rows, err := pool.Query(ctx, `SELECT payer, cpt_group, basis, day >= $3, decided_date - submitted_date, count(*), count(*) FILTER (WHERE outcome = 'DENIED'),
		    count(amount) FILTER (WHERE basis = 'decided'), coalesce(sum(amount) FILTER (WHERE basis = 'decided'), 0)::bigint,
		    coalesce(sum(amount) FILTER (WHERE basis = 'decided' AND outcome = 'DENIED'), 0)::bigint
		FROM (SELECT *, CASE basis WHEN 'submitted' THEN submitted_date ELSE decided_date END AS day,
		             round(100 * coalesce(charge_amount, allowed_amount)) AS amount
		      FROM `+initialVersions+`, (VALUES ('submitted'), ('decided')) b(basis)
		      WHERE outcome IN ('PAID', 'DENIED')) c
		WHERE day >= $2 AND day < $4
		GROUP BY 1, 2, 3, 4, 5 ORDER BY 5`, customerID, w.BaselineStart, w.CurrentStart, w.CurrentEnd)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]*drift.WindowStats{}
	var payer, group, basis string
	var current bool
	var bin claimstats.Bin
	var denied int
	var amounts claimstats.Amounts
	if _, err := pgx.ForEachRow(rows, []any{&payer, &group, &basis, &current, &bin.Days, &bin.Claims, &denied,
		&amounts.Claims, &amounts.Cents, &amounts.DeniedCents}, func() error {
		k := fmt.Sprint(payer, "/", group, "/", basis, "/", current)
		if want[k] == nil {
			want[k] = &drift.WindowStats{}
		}
		want[k].Volume += int(bin.Claims)
		want[k].Denied += denied
		want[k].Days = append(want[k].Days, bin)
		want[k].Amounts = want[k].Amounts.Add(amounts)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	seen := 0
	var submittedGroups []drift.Group
	for _, g := range fromStats {
		for _, win := range []struct {
			basis   string
			current bool
			stats   drift.WindowStats
		}{{"submitted", false, g.Baseline}, {"submitted", true, g.Current}, {"decided", false, g.DecidedBaseline}, {"decided", true, g.DecidedCurrent}} {
			k := fmt.Sprint(g.Payer, "/", g.CPTGroup, "/", win.basis, "/", win.current)
			exp := drift.WindowStats{}
			if want[k] != nil {
				exp = *want[k]
				seen++
			}
			exp.MedianDays = exp.Days.Median()
			if !reflect.DeepEqual(win.stats, exp) && !(win.stats.Volume == 0 && exp.Volume == 0) {
				t.Fatalf("customer %d, %s: from statistics %+v, from claims %+v", customerID, k, win.stats, exp)
			}
		}
		if g.Baseline.Volume+g.Current.Volume > 0 {
			g.Baseline.Days, g.Current.Days = nil, nil // the raw reference has medians only
			g.DecidedBaseline, g.DecidedCurrent = drift.WindowStats{}, drift.WindowStats{}
			g.Weeks, g.FirstSubmitted = nil, time.Time{}
			submittedGroups = append(submittedGroups, g)
		}
	}
	if seen != len(want) {
		t.Fatalf("customer %d: the statistics have %d of the %d windows with claims", customerID, seen, len(want))
	}
	assertSameHistory(t, ctx, pool, customerID, w, fromStats)
	// Medians on the submission basis as percentile_cont computes them.
	if !reflect.DeepEqual(submittedGroups, fromRows) {
		t.Fatalf("customer %d, windows %v:\nstatistics %+v\nraw claims %+v", customerID, w, submittedGroups, fromRows)
	}
}

// assertSameHistory checks each group's weeks of decisions and first
// submission against the claim rows.
func assertSameHistory(t *testing.T, ctx context.Context, pool *pgxpool.Pool, customerID int64, w drift.Windows, groups []drift.Group) {
	t.Helper()
	rows, err := pool.Query(ctx, `SELECT payer, cpt_group, ($3::date - decided_date - 1) / 7, decided_date - submitted_date, count(*), count(*) FILTER (WHERE outcome = 'DENIED'),
		    count(amount), coalesce(sum(amount), 0)::bigint, coalesce(sum(amount) FILTER (WHERE outcome = 'DENIED'), 0)::bigint
		FROM (SELECT *, round(100 * coalesce(charge_amount, allowed_amount)) AS amount FROM `+initialVersions+`) AS c
		WHERE outcome IN ('PAID', 'DENIED') AND decided_date >= $2 AND decided_date < $3
		GROUP BY 1, 2, 3, 4 ORDER BY 4`, customerID, w.HistoryStart, w.CurrentStart)
	if err != nil {
		t.Fatal(err)
	}
	weeks := int(w.CurrentStart.Sub(w.HistoryStart).Hours() / (24 * 7))
	want := map[[2]string][]drift.WindowStats{}
	var payer, group string
	var week, denied int
	var bin claimstats.Bin
	var amounts claimstats.Amounts
	if _, err := pgx.ForEachRow(rows, []any{&payer, &group, &week, &bin.Days, &bin.Claims, &denied, &amounts.Claims, &amounts.Cents, &amounts.DeniedCents}, func() error {
		k := [2]string{payer, group}
		if want[k] == nil {
			want[k] = make([]drift.WindowStats, weeks)
		}
		ws := &want[k][week]
		ws.Volume += int(bin.Claims)
		ws.Denied += denied
		ws.Days = append(ws.Days, bin)
		ws.Amounts = ws.Amounts.Add(amounts)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	firsts := map[[2]string]time.Time{}
	rows, err = pool.Query(ctx, `SELECT payer, cpt_group, min(submitted_date) FROM `+initialVersions+`
		WHERE outcome IN ('PAID', 'DENIED') AND (submitted_date >= $2 AND submitted_date < $3 OR decided_date >= $2 AND decided_date < $3)
		GROUP BY 1, 2`, customerID, w.HistoryStart, w.CurrentEnd)
	if err != nil {
		t.Fatal(err)
	}
	var first time.Time
	if _, err := pgx.ForEachRow(rows, []any{&payer, &group, &first}, func() error {
		firsts[[2]string{payer, group}] = first
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		k := [2]string{g.Payer, g.CPTGroup}
		if !g.FirstSubmitted.Equal(firsts[k]) {
			t.Fatalf("customer %d, %v: first submission %s, from claims %s", customerID, k, g.FirstSubmitted, firsts[k])
		}
		if len(g.Weeks) != weeks {
			t.Fatalf("customer %d, %v: %d weeks, want %d", customerID, k, len(g.Weeks), weeks)
		}
		for i, got := range g.Weeks {
			var exp drift.WindowStats
			if want[k] != nil {
				exp = want[k][i]
			}
			if got.Volume != exp.Volume || got.Denied != exp.Denied || !slices.Equal(got.Days, exp.Days) || got.MedianDays != exp.Days.Median() ||
				got.Amounts != exp.Amounts {
				t.Fatalf("customer %d, %v, week %d: from statistics %+v, from claims %+v", customerID, k, i, got, exp)
			}
		}
		delete(want, k)
	}
	if len(want) > 0 {
		t.Fatalf("customer %d: cells %v have decided weeks the statistics lack", customerID, want)
	}
}

// Dates centuries apart (beyond time.Duration's 292 years, within the
// accepted years 1900-2200) still give the same statistics as the raw rows.
func TestStatisticsHandleDistantDates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	uploader := testfactory.Uploader(t, pool)
	custID := testfactory.Customer(t, pool, "acme")
	body := "payer,cpt,submitted_date,decided_date,outcome\n" +
		"A,1,1900-01-02,2199-12-30,PAID\nA,1,2026-11-02,2026-11-05,DENIED\nA,1,1900-01-01,2026-11-03,PAID\n"
	if _, err := uploader.Upload(ctx, custID, "far.csv", strings.NewReader(body), nil); err != nil {
		t.Fatal(err)
	}
	assertSameAggregate(t, ctx, pool, custID, drift.WindowsFor(drift.DefaultParams(time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC))))
	assertSameAggregate(t, ctx, pool, custID, drift.WindowsFor(drift.Params{AsOf: time.Date(1900, 1, 10, 0, 0, 0, 0, time.UTC), BaselineDays: 5, CurrentDays: 5, MinVolume: 1}))
}

// Concurrent uploads of one customer whose statistics keys overlap, through
// both statistics paths, all commit (no deadlock) and sum up exactly.
func TestConcurrentUploadsKeepStatisticsExact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	uploader := testfactory.Uploader(t, pool)
	custID := testfactory.Customer(t, pool, "acme")
	origin := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	errs := make(chan error, 12)
	for i := range 12 {
		wg.Go(func() {
			opts := &ingest.UploadOptions{Overlap: ingest.OverlapAppend}
			if i%2 == 1 {
				opts.MaxStatRows = 5 // the read-back path
			}
			// Few payers, groups and days: most keys are shared.
			body := randomClaims(rand.New(rand.NewPCG(uint64(i), 99)), 800, origin)
			if _, err := uploader.Upload(ctx, custID, fmt.Sprintf("u%d.csv", i), strings.NewReader(body), opts); err != nil {
				errs <- fmt.Errorf("upload %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	assertSameAggregate(t, ctx, pool, custID, drift.WindowsFor(drift.DefaultParams(origin)))
	assertSameAggregate(t, ctx, pool, custID, drift.WindowsFor(drift.Params{AsOf: origin, BaselineDays: 150, CurrentDays: 40, MinVolume: 1}))
}

// Migration 0009 builds claim_stats from the stored claims of databases
// that had claims before it: rolled back to 0008 and applied again, it
// gives exactly the statistics the uploads wrote.
func TestStatisticsBackfillEqualsUploadedStatistics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := testdb.URL(t)
	pool := testdb.NewPool(t, dsn)
	uploader := testfactory.Uploader(t, pool)
	custID := testfactory.Customer(t, pool, "acme")
	origin := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	for seed := range uint64(3) {
		rng := rand.New(rand.NewPCG(seed, 9))
		// Without charges: rolling back to 8 drops charge_amount (0019's
		// down), which no backfill can bring back; allowed amounts stay.
		lines := strings.Split(randomClaims(rng, 1500, origin), "\n")
		for i, l := range lines[1:] {
			if j := strings.LastIndexByte(l, ','); j >= 0 {
				lines[i+1] = l[:j+1]
			}
		}
		if _, err := uploader.Upload(ctx, custID, fmt.Sprintf("u%d.csv", seed), strings.NewReader(strings.Join(lines, "\n")), differentClaims); err != nil {
			t.Fatal(err)
		}
	}
	w := drift.WindowsFor(drift.DefaultParams(origin))
	before, err := drift.Aggregate(ctx, pool, custID, w)
	if err != nil {
		t.Fatal(err)
	}

	sqlDB, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer sqlDB.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, sqlDB, schema.Migrations, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := provider.DownTo(ctx, 8); err != nil {
		t.Fatalf("migrate down to 8: %v", err)
	}
	if _, err := provider.UpTo(ctx, 9); err != nil {
		t.Fatalf("migrate up to 9: %v", err)
	}
	// And the later migrations, 0012's drivers backfill among them
	// (assertSameAggregate checks them against the claims).
	if _, err := provider.Up(ctx); err != nil {
		t.Fatalf("migrate up: %v", err)
	}
	after, err := drift.Aggregate(ctx, pool, custID, w)
	if err != nil {
		t.Fatal(err)
	}
	if len(before) == 0 || !reflect.DeepEqual(before, after) {
		t.Fatalf("statistics from the uploads:\n%+v\nrebuilt by the migration:\n%+v", before, after)
	}
	assertSameAggregate(t, ctx, pool, custID, w)
}

// assertDriversEqualClaims checks the statistics' codes one by one against a
// GROUP BY of the customer's claim rows.
func assertDriversEqualClaims(t *testing.T, ctx context.Context, pool *pgxpool.Pool, customerID int64) {
	t.Helper()
	const stored = `SELECT payer, cpt_group, day, 'cpt', code, n >> 32, n & 4294967295
		FROM claim_stats, unnest(cpt_codes, cpt_counts) u(code, n) WHERE customer_id = $1
		UNION ALL
		SELECT payer, cpt_group, day, 'reason', code, n >> 32, n & 4294967295
		FROM claim_stats, unnest(reason_codes, reason_counts) u(code, n) WHERE customer_id = $1`
	const raw = `SELECT payer, cpt_group, decided_date, k.kind, CASE k.kind WHEN 'cpt' THEN cpt ELSE coalesce(denial_reason_code, '') END,
		count(*), count(*) FILTER (WHERE outcome = 'DENIED')
		FROM ` + initialVersions + `, (VALUES ('cpt'), ('reason')) k(kind)
		WHERE outcome IN ('PAID', 'DENIED') GROUP BY 1, 2, 3, 4, 5`
	read := func(query string) map[string][2]int64 {
		rows, err := pool.Query(ctx, query, customerID)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][2]int64{}
		var payer, group, kind, code string
		var day time.Time
		var claims, denied int64
		if _, err := pgx.ForEachRow(rows, []any{&payer, &group, &day, &kind, &code, &claims, &denied}, func() error {
			out[fmt.Sprintf("%q/%q/%s/%s/%q", payer, group, day.Format(time.DateOnly), kind, code)] = [2]int64{claims, denied}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	got, want := read(stored), read(raw)
	if !reflect.DeepEqual(got, want) {
		for k, v := range want {
			if got[k] != v {
				t.Errorf("drivers %s = %v, claims give %v", k, got[k], v)
			}
		}
		for k, v := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("drivers %s = %v, not in the claims", k, v)
			}
		}
		t.FailNow()
	}
}

// Under a database collation that orders text differently from bytes
// (ICU en-US: "Aetna" < "AETNA INC" < "banana" < "Banana", where bytes give
// "AETNA INC" < "Aetna" < "Banana" < "banana"), concurrent uploads through
// both statistics paths still lock in one order (Go sorts bytewise, the SQL
// paths sort COLLATE "C"): none deadlocks and the statistics sum up exactly.
func TestStatisticsLockOrderUnderANonCCollation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.NewPool(t, testdb.CollatedURL(t, "en-US"))
	var differs bool
	if err := pool.QueryRow(ctx, `SELECT 'banana' < 'Banana' AND 'Aetna' < 'AETNA INC'`).Scan(&differs); err != nil || !differs {
		t.Fatalf("the database's collation orders like bytes (%v): the test would prove nothing", err)
	}
	uploader := testfactory.Uploader(t, pool)
	custID := testfactory.Customer(t, pool, "acme")
	origin := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	payers := []string{"Aetna", "AETNA INC", "aetna", "Banana", "banana", "Éclair", "eclair", "Zeta"}
	for round := range 3 {
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				opts := &ingest.UploadOptions{Overlap: ingest.OverlapAppend}
				if i%2 == 1 {
					opts.MaxStatRows = 5 // the read-back path, sorted in SQL
				}
				rng := rand.New(rand.NewPCG(uint64(round*8+i), 5))
				var b strings.Builder
				b.WriteString("payer,cpt,submitted_date,decided_date,outcome,denial_reason_code\n")
				for range 600 {
					sub := origin.AddDate(0, 0, -rng.IntN(30))
					fmt.Fprintf(&b, "%s,%s,%s,%s,%s,%s\n", payers[rng.IntN(len(payers))], []string{"a1", "A1", "b2"}[rng.IntN(3)],
						sub.Format(time.DateOnly), sub.AddDate(0, 0, rng.IntN(5)).Format(time.DateOnly),
						[]string{"PAID", "DENIED"}[rng.IntN(2)], []string{"", "co-50", "CO-50"}[rng.IntN(3)])
				}
				if _, err := uploader.Upload(ctx, custID, fmt.Sprintf("u%d-%d.csv", round, i), strings.NewReader(b.String()), opts); err != nil {
					t.Errorf("upload %d of round %d: %v", i, round, err)
				}
			})
		}
		wg.Wait()
	}
	assertSameAggregate(t, ctx, pool, custID, drift.WindowsFor(drift.Params{AsOf: origin, BaselineDays: 20, CurrentDays: 10, MinVolume: 1}))
}
