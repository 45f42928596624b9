package trends_test

import (
	"context"
	"math/rand/v2"
	"os"
	"slices"
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
