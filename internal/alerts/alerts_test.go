package alerts_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/upstream-rcm/upstream/internal/alerts"
	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/store"
	"github.com/upstream-rcm/upstream/internal/testdb"
	"github.com/upstream-rcm/upstream/internal/testfactory"
)

var day0 = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)

type lifecycle struct {
	t    *testing.T
	db   *pgxpool.Pool
	cust int64
	run  func(day int, withdrawn bool, tested []string, alerting map[string]float64) []string
}

// newLifecycle runs computations against a real database: each step is a
// report run as of day0 + day whose alerts (payer -> signed severity) and
// tested payers (DENIAL_RATE of group OTHER) are given, reconciled in its
// own transaction; it returns the transitions to deliver as
// "kind payer #seq".
func newLifecycle(t *testing.T) *lifecycle {
	pool := testdb.New(t)
	cust := testfactory.Customer(t, pool, "acme")
	l := &lifecycle{t: t, db: pool, cust: cust}
	l.run = func(day int, withdrawn bool, tested []string, alerting map[string]float64) []string {
		t.Helper()
		ctx := context.Background()
		asOf := day0.AddDate(0, 0, day)
		run := testfactory.ReportRun(t, pool, cust, &testfactory.RunOpts{AsOf: asOf})
		c := alerts.Computation{RunID: run.ID, AsOf: asOf, Withdrawn: withdrawn, Today: asOf}
		for _, p := range tested {
			c.Tested = append(c.Tested, drift.Tested{Payer: p, CPTGroup: "OTHER", Type: drift.TypeDenialRate})
		}
		for p, sev := range alerting {
			delta := sev / 2
			if sev < 0 {
				sev = -sev
			}
			c.Events = append(c.Events, drift.EventView{Payer: p, CPTGroup: "OTHER", DriftType: drift.TypeDenialRate,
				Severity: sev, DeltaValue: delta, Alert: true})
			c.Tested = append(c.Tested, drift.Tested{Payer: p, CPTGroup: "OTHER", Type: drift.TypeDenialRate})
		}
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		ts, err := alerts.Reconcile(ctx, tx, cust, c)
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		out := []string{}
		for _, tr := range ts {
			out = append(out, fmt.Sprintf("%s %s #%d", tr.Kind, tr.Payer, tr.Seq))
		}
		slices.Sort(out)
		return out
	}
	return l
}

// The episode rules, step by step: only transitions are delivered; an
// escalation is +0.25 from the last severity notified or a flip; quiet
// runs count only when tested, 7 days apart and after the last alert; a
// withdrawal resolves at once; an untested subject stays open.
func TestEpisodesNotifyOnTransitionsOnly(t *testing.T) {
	t.Parallel()
	l := newLifecycle(t)
	steps := []struct {
		day       int
		withdrawn bool
		tested    []string
		alerting  map[string]float64
		want      []string
	}{
		{0, false, nil, map[string]float64{"Aetna": 0.30, "Cigna": 0.5}, []string{"opened Aetna #1", "opened Cigna #1"}},
		{0, false, nil, map[string]float64{"Aetna": 0.30, "Cigna": 0.5}, []string{}},        // a re-run
		{1, false, nil, map[string]float64{"Aetna": 0.50}, []string{}},                      // +0.20: not yet
		{2, false, nil, map[string]float64{"Aetna": 0.55}, []string{"escalated Aetna #2"}},  // +0.25 from 0.30
		{3, false, nil, map[string]float64{"Aetna": -0.40}, []string{"escalated Aetna #3"}}, // the direction flips
		{4, false, []string{"Aetna"}, nil, []string{}},                                      // quiet 1
		{8, false, []string{"Aetna"}, nil, []string{}},                                      // 4 days later: not counted
		{9, false, nil, map[string]float64{"Aetna": -0.40}, []string{}},                     // alerting again resets the count
		{10, false, []string{"Aetna"}, nil, []string{}},                                     // quiet 1
		{17, false, []string{"Aetna"}, nil, []string{"resolved Aetna #4"}},                  // quiet 2, 7 days later
		{18, false, []string{"Aetna"}, nil, []string{}},                                     // resolved stays resolved
		{25, false, nil, map[string]float64{"Aetna": 0.30}, []string{"reopened Aetna #1"}},  // a new episode
		{26, true, nil, nil, []string{"resolved Aetna #2", "resolved Cigna #2"}},            // data withdrawn
		{27, false, nil, map[string]float64{"Cigna": 0.5}, []string{"reopened Cigna #1"}},   // Cigna again
		{40, false, []string{"Aetna"}, nil, []string{}},                                     // Cigna untested: stays open
		{60, false, []string{"Aetna"}, nil, []string{}},
	}
	for _, s := range steps {
		if got := l.run(s.day, s.withdrawn, s.tested, s.alerting); !slices.Equal(got, s.want) {
			t.Fatalf("day %d: delivered %q, want %q", s.day, got, s.want)
		}
	}
}

// People's changes are history on the episode: acknowledging mutes the
// episode's escalations; resolving by hand is a transition delivered; a
// snooze mutes even a new episode until it expires, and its expiry
// re-opens the subject.
func TestPeoplesChangesAreEpisodeHistory(t *testing.T) {
	t.Parallel()
	l := newLifecycle(t)
	subject := alerts.Subject{Payer: "Aetna", CPTGroup: "OTHER", DriftType: drift.TypeDenialRate}
	change := func(c alerts.Change, day int) []string {
		t.Helper()
		ctx := context.Background()
		tx, err := l.db.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		_, ts, err := alerts.Apply(ctx, tx, l.cust, subject, c, day0.AddDate(0, 0, day))
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		out := []string{}
		for _, tr := range ts {
			out = append(out, fmt.Sprintf("%s %s #%d by %s", tr.Kind, tr.Payer, tr.Seq, tr.Actor))
		}
		return out
	}
	alert := func(sev float64) map[string]float64 { return map[string]float64{"Aetna": sev} }
	check := func(what string, got, want []string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Fatalf("%s: delivered %q, want %q", what, got, want)
		}
	}
	check("first alert", l.run(0, false, nil, alert(0.3)), []string{"opened Aetna #1"})
	check("acknowledge", change(alerts.Change{To: alerts.Acknowledged, Note: "payer called", Actor: "admin"}, 0), []string{})
	check("escalation while acknowledged", l.run(1, false, nil, alert(0.9)), []string{})
	check("resolve by hand", change(alerts.Change{To: alerts.Resolved, Actor: "admin"}, 1), []string{"resolved Aetna #4 by admin"})
	check("alerting after", l.run(2, false, nil, alert(0.3)), []string{"reopened Aetna #1"})
	check("snooze", change(alerts.Change{To: alerts.Snoozed, Until: day0.AddDate(0, 0, 10), Actor: "upk_1"}, 2), []string{})
	check("withdrawn while snoozed", l.run(3, true, nil, nil), []string{})
	check("new episode while snoozed", l.run(4, false, nil, alert(0.3)), []string{})
	check("snooze expired", l.run(10, false, nil, alert(0.3)), []string{"reopened Aetna #2"})

	var history []string
	rows, err := l.db.Query(context.Background(), `SELECT e.id, t.seq, t.kind, t.actor FROM alert_transitions t
		JOIN alert_episodes e ON e.id = t.episode_id ORDER BY e.id, t.seq`)
	if err != nil {
		t.Fatal(err)
	}
	episode := map[int64]int{}
	for rows.Next() {
		var id int64
		var seq int
		var kind, actor string
		if err := rows.Scan(&id, &seq, &kind, &actor); err != nil {
			t.Fatal(err)
		}
		if _, ok := episode[id]; !ok {
			episode[id] = len(episode) + 1
		}
		history = append(history, fmt.Sprintf("%d.%d %s by %s", episode[id], seq, kind, actor))
	}
	want := []string{"1.1 opened by system", "1.2 acknowledged by admin", "1.3 escalated by system", "1.4 resolved by admin",
		"2.1 reopened by system", "2.2 snoozed by upk_1", "2.3 resolved by system (data withdrawn)",
		"3.1 reopened by system", "3.2 reopened by system"}
	if !slices.Equal(history, want) {
		t.Fatalf("history %q, want %q", history, want)
	}
	// History shows the same, newest episode first, typed names matched.
	eps, next, err := alerts.History(context.Background(), store.New(l.db), l.cust, alerts.Subject{Payer: "aetna", CPTGroup: "other", DriftType: drift.TypeDenialRate}, 0)
	if err != nil || next != 0 {
		t.Fatalf("History: next page %d, %v; want one page", next, err)
	}
	var shown []string
	for i := range eps {
		ep := eps[len(eps)-1-i]
		for _, tr := range ep.Transitions {
			shown = append(shown, fmt.Sprintf("%d.%d %s by %s", i+1, tr.Seq, tr.Kind, tr.Actor))
		}
	}
	if !slices.Equal(shown, want) || eps[0].ResolvedAt != nil || eps[1].ResolvedBy == nil || *eps[1].ResolvedBy != "system (data withdrawn)" {
		t.Fatalf("History = %q (latest resolved %v), want %q, the latest open", shown, eps[0].ResolvedAt, want)
	}
	if _, _, err := alerts.History(context.Background(), store.New(l.db), l.cust, alerts.Subject{Payer: "Aetna", CPTGroup: "OTHER",
		DriftType: drift.TypeDecisionTime}, 0); !errors.Is(err, alerts.ErrSubjectNotFound) {
		t.Fatalf("History of a subject that never alerted: %v, want ErrSubjectNotFound", err)
	}
}
