package drift_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/ingest"
	"github.com/upstream-rcm/upstream/internal/store"
	"github.com/upstream-rcm/upstream/internal/testdb"
	"github.com/upstream-rcm/upstream/internal/testfactory"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// claimsOn returns n claims of payer and cpt submitted on day
// (YYYY-MM-DD) and decided decisionDays later, the first denied of them
// DENIED and the rest PAID, or all with outcome when it is set.
func claimsOn(day string, n int, payer, cpt string, decisionDays, denied int, outcome string) []testfactory.Claim {
	sub, err := time.Parse(time.DateOnly, day)
	if err != nil {
		panic(err)
	}
	return testfactory.Batch(n, testfactory.Claim{Payer: payer, CPT: cpt, Submitted: sub, DecisionDays: decisionDays, Outcome: outcome}, denied)
}

// (f) A dataset with planted drift, computed by hand, matches event by event.
func TestComputeMatchesHandComputedExpectation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	uploader := testfactory.Uploader(t, pool)
	custID := testfactory.Customer(t, pool, "acme")
	if _, err := ingest.ReplaceMappings(ctx, pool, custID,
		strings.NewReader("raw_name,normalized_name\nAETNA INC,Aetna\naetna,Aetna\n"),
		strings.NewReader("cpt,cpt_group\n99213,E&M\n")); err != nil {
		t.Fatal(err)
	}
	// as_of 2026-11-23: baseline [2026-08-11, 2026-11-09), current [2026-11-09, 2026-11-23).
	var claims []testfactory.Claim
	// Aetna (two raw spellings) / E&M. Baseline: 40 claims, 4 denied,
	// 20 decided in 10 days and 20 in 12 (median of 40 = (10+12)/2 = 11),
	// including both baseline edge days.
	claims = append(claims, claimsOn("2026-08-11", 4, "AETNA INC", "99213", 10, 4, "")...)
	claims = append(claims, claimsOn("2026-09-15", 16, " aetna ", "99213", 10, 0, "")...)
	claims = append(claims, claimsOn("2026-10-20", 19, "Aetna Inc", "99213", 12, 0, "")...)
	claims = append(claims, claimsOn("2026-11-08", 1, "aetna", "99213", 12, 0, "")...)
	// Current: exactly min_volume 30 claims, 12 denied, all in 15 days,
	// one on baseline_end (it belongs to the current window).
	claims = append(claims, claimsOn("2026-11-09", 1, "aetna", "99213", 15, 1, "")...)
	claims = append(claims, claimsOn("2026-11-15", 29, "AETNA INC", "99213", 15, 11, "")...)
	// Not counted: OTHER outcomes, a claim on as_of, one the day before the
	// baseline starts.
	claims = append(claims, claimsOn("2026-11-15", 5, "aetna", "99213", 2, 0, "pending review")...)
	claims = append(claims, claimsOn("2026-11-23", 3, "aetna", "99213", 1, 3, "")...)
	claims = append(claims, claimsOn("2026-08-10", 2, "aetna", "99213", 1, 2, "")...)
	// Cigna / unmapped CPT -> OTHER: denial rate improves 50% -> 10%,
	// decision time steady at 8 days.
	claims = append(claims, claimsOn("2026-10-01", 30, "Cigna", "0001U", 8, 15, "")...)
	claims = append(claims, claimsOn("2026-11-20", 30, "Cigna", "0001U", 8, 3, "")...)
	// Humana / E&M: baseline one claim below min_volume: not considered.
	claims = append(claims, claimsOn("2026-10-01", 29, "Humana", "99213", 5, 0, "")...)
	claims = append(claims, claimsOn("2026-11-20", 50, "Humana", "99213", 30, 50, "")...)

	testfactory.Upload(t, uploader, custID, claims...)

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
	got, err := store.New(pool).DriftEventListByRun(ctx, db.DriftEventListByRunParams{CustomerID: custID, ReportRunID: run.ID})
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

// A run's events list alerts first, the most dollars at stake first, the
// alerts without amounts after them by severity, then the other events by
// severity.
func TestEventsListAlertsByDollarsThenSeverity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	cust := testfactory.Customer(t, pool, "acme")
	ev := func(payer string, sev float64, alert bool) drift.Event {
		e := drift.Event{Payer: payer, CPTGroup: "OTHER", Type: drift.TypeDenialRate, Severity: sev, Alert: alert, SeedRule: !alert,
			BaselineValue: 0.1, CurrentValue: 0.1 + sev/2, BaselineSampleSize: 100, CurrentSampleSize: 100}
		if alert {
			e.Evidence = &drift.Evidence{Type: drift.TypeDenialRate, Method: drift.MethodDenialRate, P: 1e-4, Q: 1e-3}
		}
		return e
	}
	run := testfactory.ReportRun(t, pool, cust, nil, ev("Seed", 0.9, false), ev("Small", 0.8, true), ev("Big", 0.2, true),
		ev("NoAmounts", 0.5, true), ev("Medium", 0.3, true))
	for payer, dollars := range map[string]float64{"Small": 1200, "Big": 98000, "Medium": 45000} {
		if _, err := pool.Exec(ctx, `UPDATE drift_events SET dollars_at_stake = $1 WHERE report_run_id = $2 AND payer = $3`, dollars, run.ID, payer); err != nil {
			t.Fatal(err)
		}
	}
	loaded, err := drift.LoadRun(ctx, store.New(pool), cust, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, e := range loaded.Events {
		order = append(order, e.Payer)
	}
	if want := []string{"Big", "Medium", "Small", "NoAmounts", "Seed"}; !slices.Equal(order, want) {
		t.Fatalf("events in order %q, want %q", order, want)
	}
}
