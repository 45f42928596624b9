package drift_test

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/upstream-rcm/upstream/internal/claimstats"
	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/store"
	"github.com/upstream-rcm/upstream/internal/testdb"
	"github.com/upstream-rcm/upstream/internal/testfactory"
)

// A DENIAL_RATE alert's drivers are what counting the uploaded claims by
// hand gives: each code's denials over the window's claims decided, the
// codes that moved with the alert, largest change first. Over all codes
// the changes add up to the alert's change.
func TestAlertDriversMatchClaimsCountedByHand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	cust := testfactory.Customer(t, pool, "acme")
	asOf := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	p := drift.DefaultParams(asOf)
	w := drift.WindowsFor(p)

	rng := rand.New(rand.NewPCG(5, 5))
	reasons := []string{"", "CO-16", "CO-50", "CO-97", "PR-204", "CO-18", "CO-4"}
	var claims []testfactory.Claim
	for range 6000 {
		c := testfactory.Claim{Payer: "Aetna", CPT: []string{"99213", "99214", "99215", "G0439"}[rng.IntN(4)],
			Submitted: asOf.AddDate(0, 0, -1-rng.IntN(140)), DecisionDays: rng.IntN(20)}
		decided := c.Submitted.AddDate(0, 0, c.DecisionDays)
		if !decided.Before(asOf) {
			continue
		}
		rate := 0.12
		if !decided.Before(w.CurrentStart) {
			rate = 0.30 // the rise: mostly CO-50 on 99214
		}
		if r := rng.Float64(); r < rate {
			c.Outcome, c.ReasonCode = "DENIED", reasons[rng.IntN(len(reasons))]
			if r >= 0.12 {
				c.ReasonCode = "CO-50"
				if rng.IntN(3) > 0 {
					c.CPT = "99214"
				}
			}
		}
		if n := len(claims); n%5 != 0 { // every fifth claim without an amount
			c.AllowedAmount = fmt.Sprintf("%d.%02d", 50+n%400, n%100)
		}
		if c.ReasonCode != "" { // the customer's words, two spellings, one more frequent
			c.ReasonText = []string{"Denied as not medically necessary", "Medical necessity", "Denied as not medically necessary"}[len(claims)%3]
			if c.ReasonCode != "CO-50" {
				c.ReasonText = "Reason " + c.ReasonCode
			}
		}
		claims = append(claims, c)
	}
	tx, out, alert := uploadAndCompute(t, pool, cust, p, claims, drift.TypeDenialRate)
	if alert == nil || alert.Drivers == nil {
		t.Fatalf("no DENIAL_RATE alert with drivers in %+v", out.Events)
	}

	// By hand, from the claims as written to the file, on the windows the
	// alert compared: a current window ending with the run's, and the
	// baseline's whole weeks before a guard band.
	bs, be, cs := alert.Evidence.BaselineStart, alert.Evidence.BaselineEnd, alert.Evidence.CurrentStart
	if span := int(w.CurrentStart.Sub(cs).Hours() / (24 * 7)); !slices.Contains(drift.SpanWeeks, span) || !cs.Equal(w.CurrentStart.AddDate(0, 0, -7*span)) {
		t.Fatalf("compared current window from %s, want the run's (%s) extended by one of %v weeks", cs, w.CurrentStart, drift.SpanWeeks)
	}
	var stored struct {
		bs, be, cs time.Time
		windows    int16
	}
	if err := tx.QueryRow(ctx, `SELECT baseline_start, baseline_end, current_start, windows_tested FROM drift_events
		WHERE customer_id = $1 AND payer = 'Aetna' AND cpt_group = 'OTHER' AND drift_type = 'DENIAL_RATE' AND alert`, cust).
		Scan(&stored.bs, &stored.be, &stored.cs, &stored.windows); err != nil {
		t.Fatal(err)
	}
	if !stored.bs.Equal(bs) || !stored.be.Equal(be) || !stored.cs.Equal(cs) || int(stored.windows) != alert.Evidence.Windows {
		t.Fatalf("stored windows [%s, %s) and from %s over %d tests, want the evidence's [%s, %s) and from %s over %d",
			stored.bs, stored.be, stored.cs, stored.windows, bs, be, cs, alert.Evidence.Windows)
	}
	if want := cs.AddDate(0, 0, -7*drift.GuardWeeks); !be.Equal(want) || !bs.Equal(want.AddDate(0, 0, -7*(p.BaselineDays/7))) {
		t.Fatalf("compared baseline [%s, %s), want the %d whole weeks before the guard band", bs, be, p.BaselineDays/7)
	}
	type counts struct{ baseline, current int64 }
	denied := map[[2]string]*counts{}
	cptClaims := map[string]*counts{}
	var total counts
	for _, c := range claims {
		decided := c.Submitted.AddDate(0, 0, c.DecisionDays)
		cur := !decided.Before(cs) && decided.Before(w.CurrentEnd)
		if !cur && (decided.Before(bs) || !decided.Before(be)) {
			continue
		}
		bump := func(n *counts) {
			if cur {
				n.current++
			} else {
				n.baseline++
			}
		}
		bump(&total)
		if cptClaims[c.CPT] == nil {
			cptClaims[c.CPT] = &counts{}
		}
		bump(cptClaims[c.CPT])
		if c.Outcome == "DENIED" {
			for _, k := range [][2]string{{"reason", c.ReasonCode}, {"cpt", c.CPT}} {
				if denied[k] == nil {
					denied[k] = &counts{}
				}
				bump(denied[k])
			}
		}
	}
	want := func(kind string) []drift.Driver {
		var ds []drift.Driver
		for k, n := range denied {
			if k[0] != kind {
				continue
			}
			d := drift.Driver{Code: k[1], BaselineDenied: n.baseline, CurrentDenied: n.current,
				BaselineShare: float64(n.baseline) / float64(total.baseline), CurrentShare: float64(n.current) / float64(total.current)}
			d.Change = d.CurrentShare - d.BaselineShare
			if kind == "cpt" {
				d.BaselineClaims, d.CurrentClaims = cptClaims[k[1]].baseline, cptClaims[k[1]].current
			}
			if d.Change > 0 {
				ds = append(ds, d)
			}
		}
		slices.SortFunc(ds, func(a, b drift.Driver) int { return cmp.Compare(b.Change, a.Change) })
		return ds[:min(len(ds), drift.MaxDrivers)]
	}
	withoutTexts := func(ds []drift.Driver) []drift.Driver { // the texts are checked below
		out := slices.Clone(ds)
		for i := range out {
			out[i].Text = ""
		}
		return out
	}
	if got, w := withoutTexts(alert.Drivers.DenialReasons), want("reason"); !slices.Equal(got, w) || got[0].Code != "CO-50" {
		t.Errorf("denial reasons:\n got %+v\nwant %+v (CO-50 first)", got, w)
	}
	if got, w := alert.Drivers.CPTCodes, want("cpt"); !slices.Equal(got, w) || got[0].Code != "99214" {
		t.Errorf("CPT codes:\n got %+v\nwant %+v (99214 first)", got, w)
	}

	// Each reason code's text is the customer's own, the most frequent.
	texts := map[string]map[string]int{}
	for _, c := range claims {
		if c.ReasonCode != "" {
			if texts[c.ReasonCode] == nil {
				texts[c.ReasonCode] = map[string]int{}
			}
			texts[c.ReasonCode][c.ReasonText]++
		}
	}
	for _, d := range alert.Drivers.DenialReasons {
		best, bestN := "", 0
		for text, n := range texts[d.Code] {
			if n > bestN || n == bestN && text < best {
				best, bestN = text, n
			}
		}
		if d.Text != best {
			t.Fatalf("reason %s reads %q, want the customer's most frequent text %q", d.Code, d.Text, best)
		}
	}
	if alert.Drivers.DenialReasons[0].Text != "Denied as not medically necessary" {
		t.Fatalf("CO-50 reads %q", alert.Drivers.DenialReasons[0].Text)
	}

	// Dollars at stake: the rate's change x the current window's claims x
	// their mean amount (over the claims that have one), by hand.
	var amountClaims, amountCents int64
	for _, c := range claims {
		if d := c.Submitted.AddDate(0, 0, c.DecisionDays); !d.Before(cs) && d.Before(w.CurrentEnd) && c.AllowedAmount != "" {
			var dollars, cents int64
			fmt.Sscanf(c.AllowedAmount, "%d.%d", &dollars, &cents)
			amountClaims, amountCents = amountClaims+1, amountCents+100*dollars+cents
		}
	}
	ev := alert.Evidence
	perClaim := float64(total.current) * float64(amountCents) / float64(amountClaims) / 100
	if d := alert.Dollars; d == nil || !d.HasInterval || math.Abs(d.AtStake-(ev.CurrentValue-ev.BaselineValue)*perClaim) > 0.006 ||
		math.Abs(d.Low-ev.DeltaLow*perClaim) > 0.006 || math.Abs(d.High-ev.DeltaHigh*perClaim) > 0.006 || d.AtStake <= 0 {
		t.Fatalf("dollars %+v, want %.2f (%.2f to %.2f): the change x %d claims x their mean amount", d,
			(ev.CurrentValue-ev.BaselineValue)*perClaim, ev.DeltaLow*perClaim, ev.DeltaHigh*perClaim, total.current)
	}
	var storedDollars float64
	if err := tx.QueryRow(ctx, `SELECT dollars_at_stake FROM drift_events WHERE customer_id = $1 AND alert AND drift_type = 'DENIAL_RATE'`, cust).
		Scan(&storedDollars); err != nil || storedDollars != alert.Dollars.AtStake {
		t.Fatalf("stored dollars %v (%v), want %v", storedDollars, err, alert.Dollars.AtStake)
	}

	// Every code, both kinds: the parts add up to the evidence's change.
	cell := claimstats.Cell{Payer: "Aetna", CPTGroup: "OTHER"}
	all, err := claimstats.Drivers(ctx, store.New(tx), cust, []claimstats.CellWindows{{Cell: cell, BaselineStart: bs, BaselineEnd: be, CurrentStart: cs}}, w.CurrentEnd)
	if err != nil {
		t.Fatal(err)
	}
	full := drift.Explain(all[cell], true)
	change := alert.Evidence.CurrentValue - alert.Evidence.BaselineValue
	for kind, ds := range map[string][]drift.Driver{"reasons": full.DenialReasons, "cpt": full.CPTCodes} {
		var sum float64
		for _, d := range ds {
			sum += d.Change
		}
		if math.Abs(sum-change) > 1e-12 {
			t.Errorf("%s: changes add up to %v, the alert's change is %v", kind, sum, change)
		}
	}
}

// A DECISION_TIME alert's "why" is what counting the uploaded claims by
// hand gives: the threshold is the compared baseline's 75th percentile of
// days, each window's share of claims decided later, each CPT code's late
// claims over the window's claims (adding up to the change), and the
// current window's claims by submission week, which the statistics count
// and the codes, read from the claims, must agree with.
func TestSlowdownDriversMatchClaimsCountedByHand(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	cust := testfactory.Customer(t, pool, "acme")
	asOf := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	p := drift.DefaultParams(asOf)
	w := drift.WindowsFor(p)
	rng := rand.New(rand.NewPCG(9, 9))
	var claims []testfactory.Claim
	for range 5000 {
		c := testfactory.Claim{Payer: "Humana", CPT: []string{"29881", "27447", "99213"}[rng.IntN(3)],
			Submitted: asOf.AddDate(0, 0, -1-rng.IntN(200)), DecisionDays: 6 + rng.IntN(9)}
		if extra := 8 + rng.IntN(8); !c.Submitted.Before(w.CurrentStart.AddDate(0, 0, -25)) && c.CPT != "99213" {
			c.DecisionDays += extra // the slowdown: recent claims take longer, but not office visits
		}
		if c.Submitted.AddDate(0, 0, c.DecisionDays).Before(asOf) {
			if n := len(claims); n%4 != 0 {
				c.AllowedAmount = fmt.Sprintf("%d.%02d", 100+n%900, n%100)
			}
			claims = append(claims, c)
		}
	}
	_, out, alert := uploadAndCompute(t, pool, cust, p, claims, drift.TypeDecisionTime)
	if alert == nil || alert.Drivers == nil || alert.Drivers.Late == nil {
		t.Fatalf("no DECISION_TIME alert with its why in %+v", out.Events)
	}
	l, ev := alert.Drivers.Late, alert.Evidence

	// By hand.
	decided := func(c testfactory.Claim) time.Time { return c.Submitted.AddDate(0, 0, c.DecisionDays) }
	in := func(c testfactory.Claim, from, to time.Time) bool {
		return !decided(c).Before(from) && decided(c).Before(to)
	}
	var baseline claimstats.Histogram
	for _, c := range claims {
		if in(c, ev.BaselineStart, ev.BaselineEnd) {
			baseline = append(baseline, claimstats.Bin{Days: int32(c.DecisionDays), Claims: 1})
		}
	}
	slices.SortFunc(baseline, func(a, b claimstats.Bin) int { return cmp.Compare(a.Days, b.Days) })
	// The 75th percentile as an order statistic: the smallest value with
	// at least 75% of the claims at or below it.
	threshold := float64(baseline[int(math.Ceil(0.75*float64(len(baseline))))-1].Days)
	if l.ThresholdDays != threshold {
		t.Fatalf("threshold %v days, want the baseline's 75th percentile %v", l.ThresholdDays, threshold)
	}
	type count struct{ claims, late int64 }
	var windows [2]count
	codes := map[string]*[2]count{}
	weeks := map[string]*count{}
	for _, c := range claims {
		win := -1
		switch {
		case in(c, ev.BaselineStart, ev.BaselineEnd):
			win = 0
		case in(c, ev.CurrentStart, w.CurrentEnd):
			win = 1
		}
		if win < 0 {
			continue
		}
		late := int64(0)
		if float64(c.DecisionDays) > threshold {
			late = 1
		}
		windows[win].claims++
		windows[win].late += late
		if codes[c.CPT] == nil {
			codes[c.CPT] = &[2]count{}
		}
		codes[c.CPT][win].claims++
		codes[c.CPT][win].late += late
		if win == 1 {
			monday := c.Submitted.AddDate(0, 0, -((int(c.Submitted.Weekday()) + 6) % 7)).Format(time.DateOnly)
			if weeks[monday] == nil {
				weeks[monday] = &count{}
			}
			weeks[monday].claims++
			weeks[monday].late += late
		}
	}
	frac := func(n, of int64) float64 { return float64(n) / float64(of) }
	if l.BaselineClaims != windows[0].claims || l.CurrentClaims != windows[1].claims ||
		math.Abs(l.BaselineShare-frac(windows[0].late, windows[0].claims)) > 1e-12 || math.Abs(l.CurrentShare-frac(windows[1].late, windows[1].claims)) > 1e-12 {
		t.Fatalf("late shares %v of %d -> %v of %d, want %v -> %v", l.BaselineShare, l.BaselineClaims, l.CurrentShare, l.CurrentClaims,
			windows[0], windows[1])
	}
	// The codes that slowed (29881 and 27447, not 99213), each as counted,
	// the larger change first; their changes and 99213's add up.
	if len(l.CPTCodes) != 2 || l.CPTCodes[0].Change < l.CPTCodes[1].Change {
		t.Fatalf("codes %+v, want the two that slowed, largest change first", l.CPTCodes)
	}
	total := 0.0
	for code, n := range codes {
		change := frac(n[1].late, windows[1].claims) - frac(n[0].late, windows[0].claims)
		total += change
		for _, c := range l.CPTCodes {
			if c.Code == code && (c.CurrentLate != n[1].late || c.BaselineLate != n[0].late || math.Abs(c.Change-change) > 1e-12) {
				t.Fatalf("code %s: %+v, want %d -> %d late, change %v", code, c, n[0].late, n[1].late, change)
			}
		}
	}
	if math.Abs(total-(l.CurrentShare-l.BaselineShare)) > 1e-12 {
		t.Fatalf("the codes' changes add up to %v, the late share moved %v", total, l.CurrentShare-l.BaselineShare)
	}
	// The dollars delayed: the amounts of the current window's claims
	// decided later than the baseline's median (the middle value, or the
	// mean of the two middle ones).
	n := len(baseline)
	median := float64(baseline[(n-1)/2].Days+baseline[n/2].Days) / 2
	var delayedCents int64
	for _, c := range claims {
		if in(c, ev.CurrentStart, w.CurrentEnd) && float64(c.DecisionDays) > median && c.AllowedAmount != "" {
			var dollars, cents int64
			fmt.Sscanf(c.AllowedAmount, "%d.%d", &dollars, &cents)
			delayedCents += 100*dollars + cents
		}
	}
	if d := alert.Dollars; d == nil || d.HasInterval || d.AtStake != float64(delayedCents)/100 || delayedCents == 0 {
		t.Fatalf("dollars delayed %+v, want %.2f with no interval", d, float64(delayedCents)/100)
	}
	// The weeks, from the statistics, are the claims' submission weeks.
	if len(l.SubmissionWeeks) == 0 {
		t.Fatal("no submission week named")
	}
	for _, wk := range l.SubmissionWeeks {
		n := weeks[wk.Week]
		if n == nil || wk.Claims != n.claims || wk.Late != n.late || wk.Excess <= 0 {
			t.Fatalf("week %+v, want %+v counted by hand with late claims beyond the baseline's share", wk, n)
		}
	}
}

// uploadAndCompute uploads claims and computes as of p in a transaction
// left open for the test's queries (rolled back when it ends), and returns
// the run's alert of type typ (nil if none).
func uploadAndCompute(t *testing.T, pool *pgxpool.Pool, cust int64, p drift.Params, claims []testfactory.Claim, typ drift.Type) (pgx.Tx, *drift.Outcome, *drift.Event) {
	t.Helper()
	ctx := context.Background()
	testfactory.Upload(t, testfactory.Uploader(t, pool), cust, claims...)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback(ctx) })
	out, err := drift.Compute(ctx, tx, drift.Request{CustomerID: cust, RunType: drift.RunManual, Params: p})
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range out.Events {
		if e.Alert && e.Type == typ {
			return tx, out, &out.Events[i]
		}
	}
	return tx, out, nil
}
