package simulate_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/ingest"
	"github.com/upstream-rcm/upstream/internal/simulate"
	"github.com/upstream-rcm/upstream/internal/testdb"
	"github.com/upstream-rcm/upstream/internal/testfactory"
)

// BenchmarkDetectionQuality measures what an analyst gets from the seed
// rule and from alerts, side by side, through the real engine: a customer
// whose 300 cells (30 payers x 10 CPT groups) follow realistic processes
// uploads, every week, an export of the claims decided that week, and a
// weekly drift computation runs on the real statistics. 200 cells get a
// planted change at a known date (denial rate +5 or +10 points, days to
// decision +5 or +10); 100 stay stationary.
func BenchmarkDetectionQuality(b *testing.B) {
	for range b.N {
		runDetectionQuality(b)
	}
}

type plantedKind struct {
	name string
	typ  drift.Type
	rate float64
	days float64
}

var plantedKinds = []plantedKind{
	{"denial rate +5 pts", drift.TypeDenialRate, 0.05, 0},
	{"denial rate +10 pts", drift.TypeDenialRate, 0.10, 0},
	{"decision time +5 d", drift.TypeDecisionTime, 0, 5},
	{"decision time +10 d", drift.TypeDecisionTime, 0, 10},
}

func runDetectionQuality(b *testing.B) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(2026, 11))
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC) // a Monday
	change := start.AddDate(0, 0, 210)                   // a Monday
	const weeksAfter = 10
	end := change.AddDate(0, 0, 7*weeksAfter+1)

	var cells []simulate.Cell
	kindOf := map[[2]string]int{} // cell -> index in plantedKinds, absent when stationary
	for i := range 300 {
		c := simulate.Cell{Payer: fmt.Sprintf("Payer %02d", i/10), CPTGroup: fmt.Sprintf("G%d", i%10),
			// Log-uniform from 1 to 50 claims a day: many small cells.
			DailyVolume: math.Exp(rng.Float64() * math.Log(50)), DenialRate: 0.03 + rng.Float64()*0.27,
			MedianDays: 5 + rng.Float64()*35, Spread: 0.4 + rng.Float64()*0.4}
		if i%3 != 0 {
			k := (i / 3) % len(plantedKinds)
			kindOf[[2]string{c.Payer, c.CPTGroup}] = k
			c.Change = &simulate.Change{Start: change, Type: plantedKinds[k].typ, DenialRate: plantedKinds[k].rate, Days: plantedKinds[k].days}
		}
		cells = append(cells, c)
	}
	claims := simulate.Generate(rng, cells, start, end)

	pool := testdb.New(b)
	uploader := testfactory.Uploader(b, pool)
	cust := testfactory.Customer(b, pool, "simulated")
	// The simulated CPT codes are the groups' names.
	groups := "cpt,cpt_group\n"
	for g := range 10 {
		groups += fmt.Sprintf("G%d,G%d\n", g, g)
	}
	if _, err := ingest.ReplaceMappings(ctx, pool, cust, nil, strings.NewReader(groups)); err != nil {
		b.Fatal(err)
	}
	upload := func(from, to time.Time) {
		body := simulate.CSV(simulate.DecidedBetween(claims, from, to))
		if _, err := uploader.Upload(ctx, cust, "export-"+to.Format(time.DateOnly)+".csv", bytes.NewReader(body), nil); err != nil {
			b.Fatal(err)
		}
	}
	firstRun := change.AddDate(0, 0, -7*10) // ten stationary weeks before the change
	upload(start.AddDate(0, 0, -400), firstRun)

	type detection struct{ seed, alert time.Time } // first week after the change, zero if never
	detected := map[[3]string]*detection{}
	var stationaryChecks, seedFalse, alertFalse int
	for asOf := firstRun; !asOf.After(change.AddDate(0, 0, 7*weeksAfter)); asOf = asOf.AddDate(0, 0, 7) {
		if asOf.After(firstRun) {
			upload(asOf.AddDate(0, 0, -7), asOf)
		}
		tx, err := pool.Begin(ctx)
		if err != nil {
			b.Fatal(err)
		}
		out, err := drift.Compute(ctx, tx, drift.Request{CustomerID: cust, RunType: drift.RunWeekly, Params: drift.DefaultParams(asOf)})
		if err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			b.Fatal(err)
		}
		for _, c := range cells {
			if _, planted := kindOf[[2]string{c.Payer, c.CPTGroup}]; !planted {
				stationaryChecks += len(drift.Types)
			}
		}
		for _, e := range out.Events {
			k, planted := kindOf[[2]string{e.Payer, e.CPTGroup}]
			if !planted {
				if e.SeedRule {
					seedFalse++
				}
				if e.Alert {
					alertFalse++
				}
				continue
			}
			if e.Type != plantedKinds[k].typ || asOf.Before(change) {
				continue // changes planted on the other metric, or before they began
			}
			key := [3]string{e.Payer, e.CPTGroup, string(e.Type)}
			d := detected[key]
			if d == nil {
				d = &detection{}
				detected[key] = d
			}
			// Detected means flagged in the planted direction (worse).
			if e.SeedRule && e.CurrentValue > e.BaselineValue && d.seed.IsZero() {
				d.seed = asOf
			}
			if e.Alert && e.Evidence.CurrentValue > e.Evidence.BaselineValue && d.alert.IsZero() {
				d.alert = asOf
			}
		}
	}

	per100 := func(n int) float64 { return 100 * float64(n) / float64(stationaryChecks) }
	benchRow("detection: false alarms per 100 stationary cell-metric-weeks (%d), alerts|%.2f|seed rule %.2f|%s",
		stationaryChecks, per100(alertFalse), per100(seedFalse), times(per100(seedFalse), per100(alertFalse), "fewer"))
	var allSeed, allAlert, allN int
	var seedLags, alertLags []float64
	for k, kind := range plantedKinds {
		for _, small := range []bool{true, false} {
			var n, seed, alert int
			for _, c := range cells {
				if c.Change == nil || kindOf[[2]string{c.Payer, c.CPTGroup}] != k || (c.DailyVolume < 10) != small {
					continue
				}
				n++
				if d := detected[[3]string{c.Payer, c.CPTGroup, string(kind.typ)}]; d != nil {
					if !d.seed.IsZero() {
						seed++
						seedLags = append(seedLags, d.seed.Sub(change).Hours()/24)
					}
					if !d.alert.IsZero() {
						alert++
						alertLags = append(alertLags, d.alert.Sub(change).Hours()/24)
					}
				}
			}
			allSeed, allAlert, allN = allSeed+seed, allAlert+alert, allN+n
			volume := map[bool]string{true: "< 10", false: ">= 10"}[small]
			benchRow("detection: %s, %s claims/day, detected in %d weeks, %% of %d cells, alerts|%.0f|seed rule %.0f|%s",
				kind.name, volume, weeksAfter, n, pct(alert, n), pct(seed, n), times(pct(alert, n), pct(seed, n), "more"))
		}
	}
	benchRow("detection: all planted changes detected, %% of %d, alerts|%.0f|seed rule %.0f|%s",
		allN, pct(allAlert, allN), pct(allSeed, allN), times(pct(allAlert, allN), pct(allSeed, allN), "more"))
	benchRow("detection: median lag from change to first detection, days, alerts|%.0f|seed rule %.0f|-", median(alertLags), median(seedLags))
	b.ReportMetric(per100(alertFalse), "alert_false_per_100")
	b.ReportMetric(per100(seedFalse), "seed_false_per_100")
	b.ReportMetric(pct(allAlert, allN), "alert_detected_pct")
	b.ReportMetric(pct(allSeed, allN), "seed_detected_pct")
}

// benchRow prints a row of `task bench`'s table on stdout: go test keeps
// only the first lines of a benchmark's log.
func benchRow(format string, args ...any) {
	fmt.Printf("BENCHTABLE|"+format+"\n", args...)
}

func pct(k, n int) float64 {
	if n == 0 {
		return 0
	}
	return 100 * float64(k) / float64(n)
}

// times formats a/b as "2.0x more" (or fewer), "-" when b is 0.
func times(a, b float64, word string) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fx %s", a/b, word)
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	slices.Sort(xs)
	if len(xs)%2 == 1 {
		return xs[len(xs)/2]
	}
	return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
}
