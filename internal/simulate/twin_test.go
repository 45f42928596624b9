package simulate_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/simulate"
	"github.com/upstream-rcm/upstream/internal/testdb"
	"github.com/upstream-rcm/upstream/internal/testfactory"
)

// The benchmark and the property tests trust simulate.Groups to aggregate
// claims as the product does. Upload a simulated customer with every
// structure (weekdays, batch releases, overdispersion, slower denials, a
// late start, a planted change) through the real upload path, and compare
// drift.Aggregate's groups with the twin's, week by week and bin by bin.
func TestGroupsIsTheTwinOfTheUploadedStatistics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	rng := rand.New(rand.NewPCG(7, 21))
	start := asOf.AddDate(0, 0, -7*40)
	cells := []simulate.Cell{
		{Payer: "Daily", DailyVolume: 12, DenialRate: 0.1, MedianDays: 12, Spread: 0.6},
		{Payer: "MonthEnd", DailyVolume: 9, DenialRate: 0.2, MedianDays: 20, Spread: 0.5, Weekdays: true,
			Release: simulate.ReleaseMonthEnd, BatchShare: 0.8, DeniedDaysFactor: 1.5},
		{Payer: "Biweekly", DailyVolume: 6, DenialRate: 0.15, MedianDays: 8, Spread: 0.7, Weekdays: true,
			Release: simulate.ReleaseBiweekly, BatchShare: 0.8, Overdispersion: 0.03},
		{Payer: "Late", DailyVolume: 10, DenialRate: 0.05, MedianDays: 15, Spread: 0.4, Start: asOf.AddDate(0, 0, -100)},
		{Payer: "Changed", DailyVolume: 15, DenialRate: 0.1, MedianDays: 10, Spread: 0.5,
			Change: &simulate.Change{Start: asOf.AddDate(0, 0, -30), Type: drift.TypeDenialRate, DenialRate: 0.1, Days: 3}},
	}
	for i := range cells {
		cells[i].CPTGroup = "OTHER" // no mappings: every CPT falls to OTHER
	}
	all := simulate.Generate(rng, cells, start, asOf.AddDate(0, 0, 3))
	// Two exports, each compared on its own date: a Monday, and a Thursday
	// (windows that do not start on a week's first day).
	for _, export := range []time.Time{asOf, asOf.AddDate(0, 0, 3)} {
		claims := simulate.DecidedBetween(all, start, export)
		cust := testfactory.Customer(t, pool, "twin "+export.Format(time.DateOnly))
		if _, err := testfactory.Uploader(t, pool).Upload(ctx, cust, "export.csv", bytes.NewReader(simulate.CSV(claims)), testfactory.DifferentClaims); err != nil {
			t.Fatal(err)
		}
		p := drift.DefaultParams(export)
		got, err := drift.Aggregate(ctx, pool, cust, drift.WindowsFor(p))
		if err != nil {
			t.Fatal(err)
		}
		want := simulate.Groups(claims, p)
		byPayer := func(a, b drift.Group) int { return strings.Compare(a.Payer, b.Payer) }
		slices.SortFunc(got, byPayer)
		slices.SortFunc(want, byPayer)
		if len(got) != len(want) {
			t.Fatalf("as of %s: %d groups from the statistics, %d from the twin", p.AsOf.Format(time.DateOnly), len(got), len(want))
		}
		for i := range want {
			g, w := got[i], want[i]
			where := p.AsOf.Format(time.DateOnly) + " " + w.Payer
			if g.Payer != w.Payer || g.CPTGroup != w.CPTGroup || !g.FirstSubmitted.Equal(w.FirstSubmitted) {
				t.Errorf("%s: cell %s/%s first %s, twin %s/%s first %s", where, g.Payer, g.CPTGroup, g.FirstSubmitted, w.Payer, w.CPTGroup, w.FirstSubmitted)
			}
			sameWindow(t, where+" baseline", g.Baseline, w.Baseline)
			sameWindow(t, where+" current", g.Current, w.Current)
			sameWindow(t, where+" decided baseline", g.DecidedBaseline, w.DecidedBaseline)
			sameWindow(t, where+" decided current", g.DecidedCurrent, w.DecidedCurrent)
			if len(g.Weeks) != len(w.Weeks) {
				t.Fatalf("%s: %d weeks, twin %d", where, len(g.Weeks), len(w.Weeks))
			}
			for k := range w.Weeks {
				sameWindow(t, fmt.Sprintf("%s week %d", where, k), g.Weeks[k], w.Weeks[k])
			}
		}
	}
}

func sameWindow(t *testing.T, where string, got, want drift.WindowStats) {
	t.Helper()
	if got.Volume != want.Volume || got.Denied != want.Denied || got.MedianDays != want.MedianDays ||
		!slices.Equal(got.Days, want.Days) && (len(got.Days)+len(want.Days) > 0) {
		t.Errorf("%s: %d claims, %d denied, median %v, days %v; twin %d, %d, %v, %v", where,
			got.Volume, got.Denied, got.MedianDays, got.Days, want.Volume, want.Denied, want.MedianDays, want.Days)
	}
}
