package trends_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/store"
	"github.com/upstream-rcm/upstream/internal/testdb"
	"github.com/upstream-rcm/upstream/internal/testfactory"
	"github.com/upstream-rcm/upstream/internal/trends"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// Every week of the series equals what the claim rows decided that week
// say, and the weeks whose runs raised alerts are marked.
func TestWeeklySeriesEqualsTheClaimRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	cust := testfactory.Customer(t, pool, "acme")
	asOf := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(4, 4))
	var claims []testfactory.Claim
	for range 3000 {
		c := testfactory.Claim{Payer: []string{"Aetna", "Cigna"}[rng.IntN(2)], CPT: "99213",
			Submitted: asOf.AddDate(0, 0, -rng.IntN(220)), DecisionDays: rng.IntN(40)}
		if rng.IntN(5) == 0 {
			c.Outcome = "DENIED"
		}
		claims = append(claims, c)
	}
	testfactory.Upload(t, testfactory.Uploader(t, pool), cust, claims...)
	// Alerts of runs as of a mid-series day and as of the series' end (a
	// run as of D compares windows ending the day before D, so both are in
	// the series, in the week holding D - 1).
	alert := drift.Event{Payer: "Aetna", CPTGroup: "OTHER", Type: drift.TypeDenialRate, Alert: true, SeedRule: true, Severity: 0.3, Confidence: 1,
		Evidence: &drift.Evidence{Method: drift.MethodDenialRate, P: 0.001, Q: 0.01}}
	var lastDays []string
	for _, runAsOf := range []time.Time{asOf.AddDate(0, 0, -10), asOf} {
		testfactory.ReportRun(t, pool, cust, &testfactory.RunOpts{AsOf: runAsOf}, alert)
		lastDays = append(lastDays, runAsOf.AddDate(0, 0, -1).Format(time.DateOnly))
	}

	s, err := trends.WeeklySeries(ctx, store.New(pool), cust, "Aetna", "OTHER", asOf, 26)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Weeks) != 26 || s.Weeks[25].End != "2026-11-23" {
		t.Fatalf("series has %d weeks ending %s", len(s.Weeks), s.Weeks[len(s.Weeks)-1].End)
	}
	for _, w := range s.Weeks {
		var volume, denied int
		var median *float64
		if err := pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE outcome = 'DENIED'),
				percentile_cont(0.5) WITHIN GROUP (ORDER BY decided_date - submitted_date)
			FROM claim_records WHERE customer_id = $1 AND payer = 'Aetna' AND outcome IN ('PAID', 'DENIED')
			  AND decided_date >= $2::date AND decided_date < $3::date`, cust, w.Start, w.End).Scan(&volume, &denied, &median); err != nil {
			t.Fatal(err)
		}
		if w.Volume != volume || w.Denied != denied || (median == nil) != (w.MedianDays == nil) || (median != nil && *median != *w.MedianDays) {
			t.Fatalf("week %s: %+v, claim rows say volume %d denied %d median %v", w.Start, w, volume, denied, median)
		}
		if w.Volume > 0 && !(w.RateLow <= w.DenialRate && w.DenialRate <= w.RateHigh) {
			t.Fatalf("week %s: interval [%v, %v] does not hold %v", w.Start, w.RateLow, w.RateHigh, w.DenialRate)
		}
		alerted := slices.ContainsFunc(lastDays, func(d string) bool { return w.Start <= d && d < w.End })
		if alerted != slices.Contains(w.Alerts, drift.TypeDenialRate) {
			t.Fatalf("week %s alerts %v; runs whose windows end on %v raised one", w.Start, w.Alerts, lastDays)
		}
	}
	if _, err := trends.WeeklySeries(ctx, store.New(pool), cust, "Aetna", "OTHER", asOf, 1000); err == nil {
		t.Fatal("1000 weeks were accepted")
	}
}

// A week's overturns are the claims initially denied that week whose final
// outcome is PAID, counted here by hand from the versions uploaded.
func TestWeeklySeriesCountsOverturnsByInitialDecision(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	cust := testfactory.Customer(t, pool, "acme")
	uploader := testfactory.Uploader(t, pool)
	const header = "claim_id,payer,cpt,submitted_date,decided_date,outcome\n"
	// Week of 2026-11-02: A1 and A2 denied, A3 paid. A1 is paid on appeal
	// three weeks later; A4, paid, is later taken back (denied): neither
	// an overturn nor a denial of that week.
	first := header + "A1,Aetna,99213,2026-10-20,2026-11-03,DENIED\nA2,Aetna,99213,2026-10-21,2026-11-04,DENIED\n" +
		"A3,Aetna,99213,2026-10-22,2026-11-05,PAID\nA4,Aetna,99213,2026-10-22,2026-11-05,PAID\n"
	second := header + "A1,Aetna,99213,2026-10-20,2026-11-24,PAID\nA2,Aetna,99213,2026-10-21,2026-11-04,DENIED\n" +
		"A4,Aetna,99213,2026-10-22,2026-11-25,DENIED\n"
	for i, f := range []string{first, second} {
		if _, err := uploader.Upload(ctx, cust, fmt.Sprintf("export%d.csv", i), strings.NewReader(f), nil); err != nil {
			t.Fatal(err)
		}
	}
	s, err := trends.WeeklySeries(ctx, store.New(pool), cust, "aetna", "other", time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC), 4)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range s.Weeks {
		want := [2]int{}
		if w.Start == "2026-11-02" {
			want = [2]int{2, 1}
		}
		if got := [2]int{w.InitiallyDenied, w.Overturned}; got != want {
			t.Errorf("week %s: %d initially denied, %d overturned; want %v", w.Start, got[0], got[1], want)
		}
		if w.Start == "2026-11-02" && (w.OverturnRate == nil || *w.OverturnRate != 0.5 || w.Volume != 4 || w.Denied != 2) {
			t.Errorf("week %s: overturn rate %v, %d claims, %d denied; want 0.5 of the 4 claims decided first that week, 2 denied", w.Start, w.OverturnRate, w.Volume, w.Denied)
		}
	}
}
