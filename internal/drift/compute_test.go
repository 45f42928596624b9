package drift_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/upstream-rcm/upstream/internal/customers"
	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/ingest"
	"github.com/upstream-rcm/upstream/internal/testdb"
	"github.com/upstream-rcm/upstream/jobs"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// newUploader returns a fresh database and an uploader whose drift jobs are
// inserted (as an upload must) but not worked: these tests compute directly.
func newUploader(t *testing.T) (*pgxpool.Pool, *ingest.Uploader) {
	t.Helper()
	pool := testdb.New(t)
	inserter, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return pool, &ingest.Uploader{Pool: pool, EnqueueDrift: jobs.DriftEnqueuer(inserter)}
}

// newCustomer creates a customer.
func newCustomer(t *testing.T, pool *pgxpool.Pool, name string) int64 {
	t.Helper()
	cust, err := customers.Create(context.Background(), db.New(pool), name)
	if err != nil {
		t.Fatal(err)
	}
	return cust.ID
}

// rows appends n claims submitted on day, decided days later, with the
// first denied of them DENIED and the rest PAID (or all `outcome` if set).
func rows(b *strings.Builder, n int, payer, cpt, day string, decisionDays, denied int, outcome string) {
	sub, err := time.Parse(time.DateOnly, day)
	if err != nil {
		panic(err)
	}
	for i := range n {
		o := outcome
		if o == "" {
			o = "PAID"
			if i < denied {
				o = "DENIED"
			}
		}
		fmt.Fprintf(b, "%s,%s,%s,%s,%s\n", payer, cpt, day, sub.AddDate(0, 0, decisionDays).Format(time.DateOnly), o)
	}
}

// (f) A dataset with planted drift, computed by hand, matches event by event.
func TestComputeMatchesHandComputedExpectation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, uploader := newUploader(t)
	custID := newCustomer(t, pool, "acme")
	if _, err := ingest.ReplaceMappings(ctx, pool, custID,
		strings.NewReader("raw_name,normalized_name\nAETNA INC,Aetna\naetna,Aetna\n"),
		strings.NewReader("cpt,cpt_group\n99213,E&M\n")); err != nil {
		t.Fatal(err)
	}
	// as_of 2026-11-23: baseline [2026-08-11, 2026-11-09), current [2026-11-09, 2026-11-23).
	var b strings.Builder
	b.WriteString("payer,cpt,submitted_date,decided_date,outcome\n")
	// Aetna (two raw spellings) / E&M. Baseline: 40 claims, 4 denied,
	// 20 decided in 10 days and 20 in 12 (median of 40 = (10+12)/2 = 11),
	// including both baseline edge days.
	rows(&b, 4, "AETNA INC", "99213", "2026-08-11", 10, 4, "")
	rows(&b, 16, " aetna ", "99213", "2026-09-15", 10, 0, "")
	rows(&b, 19, "Aetna Inc", "99213", "2026-10-20", 12, 0, "")
	rows(&b, 1, "aetna", "99213", "2026-11-08", 12, 0, "")
	// Current: exactly min_volume 30 claims, 12 denied, all in 15 days,
	// one on baseline_end (it belongs to the current window).
	rows(&b, 1, "aetna", "99213", "2026-11-09", 15, 1, "")
	rows(&b, 29, "AETNA INC", "99213", "2026-11-15", 15, 11, "")
	// Not counted: OTHER outcomes, a claim on as_of, one the day before the
	// baseline starts.
	rows(&b, 5, "aetna", "99213", "2026-11-15", 2, 0, "pending review")
	rows(&b, 3, "aetna", "99213", "2026-11-23", 1, 3, "")
	rows(&b, 2, "aetna", "99213", "2026-08-10", 1, 2, "")
	// Cigna / unmapped CPT -> OTHER: denial rate improves 50% -> 10%,
	// decision time steady at 8 days.
	rows(&b, 30, "Cigna", "0001U", "2026-10-01", 8, 15, "")
	rows(&b, 30, "Cigna", "0001U", "2026-11-20", 8, 3, "")
	// Humana / E&M: baseline one claim below min_volume: not considered.
	rows(&b, 29, "Humana", "99213", "2026-10-01", 5, 0, "")
	rows(&b, 50, "Humana", "99213", "2026-11-20", 30, 50, "")

	if _, err := uploader.Upload(ctx, custID, "planted.csv", strings.NewReader(b.String())); err != nil {
		t.Fatal(err)
	}

	asOf := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	out, err := drift.Compute(ctx, tx, drift.Request{CustomerID: custID, RunType: drift.RunManual, Params: drift.DefaultParams(asOf)})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	run := out.Run
	if run.Status != "success" || *run.GroupsConsidered != 2 || *run.EventsCreated != 3 || *run.ClaimsRead != 40+30+30+30+29+50 {
		t.Fatalf("run: status %s, groups %d, events %d, claims read %d; want success, 2, 3, 209",
			run.Status, *run.GroupsConsidered, *run.EventsCreated, *run.ClaimsRead)
	}

	aetnaConfidence := float64(40+30) / 120
	// Runtime float64 arithmetic, as the product computes it (Go would
	// evaluate constant expressions exactly): 0.4 - 0.1 = 0.30000000000000004.
	aetnaBaselineRate, aetnaCurrentRate := 4.0/40, 12.0/30
	aetnaDelta := aetnaCurrentRate - aetnaBaselineRate
	cignaBaselineRate, cignaCurrentRate := 15.0/30, 3.0/30
	want := []db.DriftEvent{
		{Payer: "Cigna", CPTGroup: "OTHER", DriftType: "DENIAL_RATE", BaselineValue: 0.5, CurrentValue: 0.1, DeltaValue: cignaCurrentRate - cignaBaselineRate,
			Severity: 0.8, Confidence: 0.5, BaselineSampleSize: 30, CurrentSampleSize: 30},
		{Payer: "Aetna", CPTGroup: "E&M", DriftType: "DENIAL_RATE", BaselineValue: 0.1, CurrentValue: 0.4, DeltaValue: aetnaDelta,
			Severity: aetnaDelta * 2, Confidence: aetnaConfidence, BaselineSampleSize: 40, CurrentSampleSize: 30},
		{Payer: "Aetna", CPTGroup: "E&M", DriftType: "DECISION_TIME", BaselineValue: 11, CurrentValue: 15, DeltaValue: 4,
			Severity: 0.4, Confidence: aetnaConfidence, BaselineSampleSize: 40, CurrentSampleSize: 30},
	}
	got, err := db.New(pool).DriftEventListByRun(ctx, db.DriftEventListByRunParams{CustomerID: custID, ReportRunID: run.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Payer != w.Payer || g.CPTGroup != w.CPTGroup || g.DriftType != w.DriftType ||
			g.BaselineValue != w.BaselineValue || g.CurrentValue != w.CurrentValue || g.DeltaValue != w.DeltaValue ||
			g.Severity != w.Severity || g.Confidence != w.Confidence ||
			g.BaselineSampleSize != w.BaselineSampleSize || g.CurrentSampleSize != w.CurrentSampleSize {
			t.Errorf("event %d:\n got %s/%s/%s b=%v c=%v d=%v sev=%v conf=%v n=%d/%d\nwant %s/%s/%s b=%v c=%v d=%v sev=%v conf=%v n=%d/%d", i,
				g.Payer, g.CPTGroup, g.DriftType, g.BaselineValue, g.CurrentValue, g.DeltaValue, g.Severity, g.Confidence, g.BaselineSampleSize, g.CurrentSampleSize,
				w.Payer, w.CPTGroup, w.DriftType, w.BaselineValue, w.CurrentValue, w.DeltaValue, w.Severity, w.Confidence, w.BaselineSampleSize, w.CurrentSampleSize)
		}
		if g.BaselineStart.Format(time.DateOnly) != "2026-08-11" || g.BaselineEnd.Format(time.DateOnly) != "2026-11-09" ||
			g.CurrentStart.Format(time.DateOnly) != "2026-11-09" || g.CurrentEnd.Format(time.DateOnly) != "2026-11-23" {
			t.Errorf("event %d windows = %v %v %v %v", i, g.BaselineStart, g.BaselineEnd, g.CurrentStart, g.CurrentEnd)
		}
	}
}
