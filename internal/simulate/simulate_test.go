package simulate_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/simulate"
)

var asOf = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)

// stationaryCells draws n cells that never change, with realistic spreads
// of volume, denial rate and (skewed) days to decision.
func stationaryCells(rng *rand.Rand, n int, minDays, maxDays float64) []simulate.Cell {
	cells := make([]simulate.Cell, n)
	for i := range cells {
		cells[i] = simulate.Cell{Payer: fmt.Sprintf("Payer %02d", i/10), CPTGroup: fmt.Sprintf("G%d", i%10),
			DailyVolume: 1 + rng.Float64()*49, DenialRate: 0.03 + rng.Float64()*0.27,
			MedianDays: minDays + rng.Float64()*(maxDays-minDays), Spread: 0.4 + rng.Float64()*0.5}
	}
	return cells
}

type tally struct{ tests, alerts, seedEvents, seedChecks int }

func evaluate(groups []drift.Group) tally {
	p := drift.DefaultParams(asOf)
	res := drift.Evaluate(p, groups)
	t := tally{tests: res.TestsRun, alerts: res.Alerts, seedChecks: 2 * res.GroupsConsidered}
	for _, e := range res.Events {
		if e.SeedRule {
			t.seedEvents++
		}
	}
	return t
}

// On stationary claims, exported as real systems export them and checked
// weekly, alerts stay within their bound (at most 1 per 100 cell-metric
// weeks) across many seeds, while the seed rule fires far more often.
func TestAlertsStayWithinBoundOnStationaryData(t *testing.T) {
	t.Parallel()
	var total tally
	for seed := range uint64(10) {
		rng := rand.New(rand.NewPCG(seed, 11))
		claims := simulate.Generate(rng, stationaryCells(rng, 50, 5, 45), asOf.AddDate(0, 0, -250), asOf)
		for week := range 8 {
			got := evaluate(simulate.Groups(claims, drift.DefaultParams(asOf.AddDate(0, 0, -7*week))))
			total.tests += got.tests
			total.alerts += got.alerts
			total.seedEvents += got.seedEvents
			total.seedChecks += got.seedChecks
		}
	}
	alertRate := float64(total.alerts) / float64(total.tests)
	seedRate := float64(total.seedEvents) / float64(total.seedChecks)
	t.Logf("%d alerts in %d tests (%.2f%%); seed rule: %d events in %d checks (%.1f%%)",
		total.alerts, total.tests, 100*alertRate, total.seedEvents, total.seedChecks, 100*seedRate)
	if total.tests < 4000 {
		t.Fatalf("only %d tests ran; the simulation is too small to say anything", total.tests)
	}
	if alertRate > 0.01 {
		t.Fatalf("false alert rate %.2f%% on stationary data, want at most 1%%", 100*alertRate)
	}
	if seedRate < 5*alertRate || seedRate < 0.02 {
		t.Fatalf("seed rule rate %.1f%%: the simulation does not reproduce the seed rule's noise", 100*seedRate)
	}
}

// Slow payers, stationary, exported on the as-of date: the claims
// submitted in the current window are there only if decided quickly, so
// comparing by submission date finds decisions "faster". Comparing the
// claims decided in each window does not.
func TestCensoringBiasesSubmissionWindowsButNotDecisionWindows(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(5, 5))
	claims := simulate.Generate(rng, stationaryCells(rng, 40, 20, 40), asOf.AddDate(0, 0, -270), asOf)
	groups := simulate.Groups(claims, drift.DefaultParams(asOf))

	decisionTimeAlerts := func(groups []drift.Group) (alerts, faster int) {
		res := drift.Evaluate(drift.DefaultParams(asOf), groups)
		for _, e := range res.Events {
			if e.Alert && e.Type == drift.TypeDecisionTime {
				alerts++
				if e.Evidence.CurrentValue < e.Evidence.BaselineValue {
					faster++
				}
			}
		}
		return alerts, faster
	}
	if alerts, _ := decisionTimeAlerts(groups); alerts != 0 {
		t.Fatalf("%d decision-time alerts comparing claims decided in each window on stationary data, want 0", alerts)
	}
	// The same test on the claims submitted in each window.
	bySubmission := make([]drift.Group, len(groups))
	for i, g := range groups {
		g.DecidedBaseline, g.DecidedCurrent = g.Baseline, g.Current
		bySubmission[i] = g
	}
	alerts, faster := decisionTimeAlerts(bySubmission)
	if alerts < len(groups)/2 || faster != alerts {
		t.Fatalf("by submission date: %d of %d groups alert, %d of them faster; want most groups to look faster (the bias this comparison avoids)",
			alerts, len(groups), faster)
	}
}

// Cells whose history starts 120 days back, beside one old cell (whose
// stray old claims switched a customer-wide age limit off): a late cell's
// decision-date baseline lacks the slow claims submitted before it began,
// so untreated the current window looks slower, and when slow claims are
// denied more often its denial rate looks lower. Comparing each late cell
// on the ages and weeks its history can hold (drift.Compare) removes both.
func TestLateStartingCellsDoNotLookSlowerOrBetter(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(8, 8))
	p := drift.DefaultParams(asOf)
	first := asOf.AddDate(0, 0, -120)
	cells := stationaryCells(rng, 40, 15, 40)
	for i := range cells {
		cells[i].DeniedDaysFactor = 1.6 // medical review: denials take longer
	}
	claims := simulate.Generate(rng, cells, first, asOf)
	claims = append(claims, simulate.Generate(rng, []simulate.Cell{{Payer: "Old", CPTGroup: "G0", DailyVolume: 5, DenialRate: 0.1,
		MedianDays: 10, Spread: 0.5}}, asOf.AddDate(0, 0, -400), asOf)...)
	biased := func(groups []drift.Group, rule drift.Rule) (slower, fewerDenials int) {
		for _, e := range drift.EvaluateRule(p, groups, rule).Events {
			switch {
			case !e.Alert:
			case e.Type == drift.TypeDecisionTime && e.Evidence.CurrentValue > e.Evidence.BaselineValue:
				slower++
			case e.Type == drift.TypeDenialRate && e.Evidence.CurrentValue < e.Evidence.BaselineValue:
				fewerDenials++
			}
		}
		return slower, fewerDenials
	}
	groups := simulate.Groups(claims, p)
	if slower, _ := biased(groups, drift.RulePointNull); slower < 5 {
		t.Fatalf("untreated, %d of 40 late groups alert slower; the simulation does not show the late-start bias", slower)
	}
	if slower, fewer := biased(groups, drift.RuleIntervalNull); slower != 0 || fewer != 0 {
		t.Fatalf("compared per cell, %d late groups alert slower and %d with fewer denials, want 0", slower, fewer)
	}
}
