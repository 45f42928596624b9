package jobs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/upstream-rcm/upstream/internal/alerts"
	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/testfactory"
	"github.com/upstream-rcm/upstream/internal/webhooks"
	"github.com/upstream-rcm/upstream/jobs"
)

// Two subjects open, then re-runs of the same computation, one-row
// uploads (each a recomputation) and three River clients race: each
// endpoint receives exactly one message per transition (the two openings),
// each with the webhook-id derived from (endpoint, episode, transition),
// and the database holds exactly those deliveries.
func TestTransitionsAreDeliveredOnceWhateverRerunsUploadsAndWorkersDo(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	rcv := newReceiver(t, nil)
	cust := h.customer(t, "acme")
	eps := []int64{h.endpoint(t, cust, rcv.server.URL+"/a").ID, h.endpoint(t, cust, rcv.server.URL+"/b").ID}
	for range 3 {
		h.startClient(t, 2, nil)
	}
	h.upload(t, cust, "claims.csv", append(alertingClaims("Aetna"), alertingClaims("Cigna")...))
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			if i%2 == 0 {
				if _, err := h.inserter.Insert(context.Background(), jobs.ManualDrift(cust, drift.DefaultParams(asOf)), nil); err != nil {
					t.Error(err)
				}
				return
			}
			one := testfactory.Synthetic(1, fmt.Sprint("small", i), asOf)
			if _, err := h.uploader.Upload(context.Background(), cust, "one.csv", strings.NewReader(testfactory.ClaimsCSV(one...)),
				testfactory.DifferentClaims); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	h.waitIdle(t)

	if runs := h.count(t, `SELECT count(*) FROM report_runs WHERE status = 'success' AND alerts_created = 2`); runs < 6 {
		t.Fatalf("%d runs alerting on both subjects, want the re-runs' and recomputations' too (>= 6)", runs)
	}
	if n := h.count(t, `SELECT count(*) FROM alert_transitions`); n != 2 {
		t.Fatalf("%d transitions, want the 2 openings", n)
	}
	want := map[string]bool{}
	rows, err := h.pool.Query(context.Background(), `SELECT episode_id, seq FROM alert_transitions`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var episode int64
		var seq int
		if err := rows.Scan(&episode, &seq); err != nil {
			t.Fatal(err)
		}
		for _, ep := range eps {
			want[webhooks.TransitionMessageID(ep, episode, seq)] = true
		}
	}
	if n := h.count(t, `SELECT count(*) FROM webhook_deliveries`); n != len(want) {
		t.Fatalf("%d deliveries, want %d (one per endpoint and transition)", n, len(want))
	}
	got := map[string]int{}
	for _, r := range rcv.received() {
		got[r.header.Get("webhook-id")]++
	}
	if len(got) != len(want) {
		t.Fatalf("receiver got %d distinct messages, want %d", len(got), len(want))
	}
	for id, n := range got {
		if !want[id] || n != 1 {
			t.Fatalf("message %s arrived %d times (derived from a transition: %v)", id, n, want[id])
		}
	}
}

// Deleting the upload an alert stood on re-evaluates its episode: the
// recomputation no longer alerts, so it resolves, and the endpoint hears
// of it once.
func TestDeletingTheUploadBehindAnAlertResolvesIt(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	rcv := newReceiver(t, nil)
	cust := h.customer(t, "acme")
	h.endpoint(t, cust, rcv.server.URL)
	h.startClient(t, 2, nil)
	up := h.upload(t, cust, "claims.csv", alertingClaims("Aetna"))
	h.waitIdle(t)
	if _, err := h.uploader.DeleteUpload(context.Background(), cust, up.ID); err != nil {
		t.Fatal(err)
	}
	h.waitIdle(t)
	var kinds []string
	for _, r := range rcv.received() {
		var p webhooks.Payload
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, p.Type+" by "+p.Data.Transition.Actor)
	}
	if strings.Join(kinds, ", ") != "drift.alert.opened by system, drift.alert.resolved by system (data withdrawn)" {
		t.Fatalf("messages: %q, want the opening and the resolution", kinds)
	}
	var state string
	if err := h.pool.QueryRow(context.Background(), `SELECT state FROM alert_subjects WHERE customer_id = $1`, cust).Scan(&state); err != nil {
		t.Fatal(err)
	}
	if state != string(alerts.Resolved) {
		t.Fatalf("subject %s, want resolved", state)
	}
}

// An attempt in flight when its worker died is in the log: recorded before
// the request left, it stays 'sending' until the next attempt marks it
// 'unknown' and is itself recorded.
func TestAttemptOfADeadWorkerStaysInTheLog(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	rcv := newReceiver(t, nil)
	cust := h.customer(t, "acme")
	h.endpoint(t, cust, rcv.server.URL)
	h.upload(t, cust, "claims.csv", alertingClaims("Aetna"))
	h.startClient(t, 1, nil)
	h.waitIdle(t)
	var delivery int64
	if err := h.pool.QueryRow(context.Background(), `SELECT id FROM webhook_deliveries`).Scan(&delivery); err != nil {
		t.Fatal(err)
	}
	states := func() string {
		rows, err := h.pool.Query(context.Background(), `SELECT state FROM webhook_attempts WHERE delivery_id = $1 ORDER BY id`, delivery)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		return strings.Join(out, ",")
	}
	if got := states(); got != "done" {
		t.Fatalf("attempts %q after delivery, want one done", got)
	}
	// A worker that died mid-request left its attempt 'sending' and its
	// job running, which River's rescuer makes retryable; the next attempt
	// of the delivery settles the dead one.
	for _, sql := range []string{`UPDATE webhook_attempts SET state = 'sending', status_code = NULL, latency_ms = NULL WHERE delivery_id = $1`,
		`UPDATE webhook_deliveries SET status = 'pending' WHERE id = $1`,
		`UPDATE river_job SET state = 'retryable', finalized_at = NULL, scheduled_at = now() WHERE kind = 'webhook_delivery' AND (args->>'delivery_id')::bigint = $1`} {
		if _, err := h.pool.Exec(context.Background(), sql, delivery); err != nil {
			t.Fatal(err)
		}
	}
	h.waitIdle(t)
	if got := states(); got != "unknown,done" || h.count(t, `SELECT attempts FROM webhook_deliveries WHERE id = $1`, delivery) != 2 {
		t.Fatalf("attempts %q, want the dead one unknown and the retry done, 2 counted", got)
	}
}

// People acknowledge, snooze and resolve while computations of the same
// customer run on several workers: both lock the customer's open episodes
// before the subject, so neither deadlocks nor fails, and every episode's
// transitions stay numbered without a gap.
func TestPeoplesChangesRaceComputations(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cust := h.customer(t, "acme")
	for range 2 {
		h.startClient(t, 2, nil)
	}
	h.upload(t, cust, "claims.csv", append(alertingClaims("Aetna"), alertingClaims("Cigna")...))
	h.waitIdle(t)
	notify := webhooks.Notifier(jobs.NewEnqueuer(h.inserter), cust, "", asOf)
	changes := []alerts.Change{{To: alerts.Acknowledged, Actor: "admin"}, {To: alerts.Resolved, Actor: "admin"},
		{To: alerts.Snoozed, Until: asOf.AddDate(0, 0, 3), Actor: "admin"}, {To: alerts.Resolved, Actor: "admin"}}
	var wg sync.WaitGroup
	for i := range 24 {
		wg.Go(func() {
			if i%3 == 0 {
				if _, err := h.inserter.Insert(context.Background(), jobs.ManualDrift(cust, drift.DefaultParams(asOf)), nil); err != nil {
					t.Error(err)
				}
				return
			}
			payer := []string{"Aetna", "Cigna"}[i%2]
			_, err := alerts.Update(context.Background(), h.pool, notify, cust,
				alerts.Subject{Payer: payer, CPTGroup: "OTHER", DriftType: drift.TypeDenialRate}, changes[i%len(changes)], asOf)
			if err != nil {
				t.Errorf("change %d of %s: %v", i, payer, err)
			}
		})
	}
	wg.Wait()
	h.waitIdle(t)
	if n := h.count(t, `SELECT count(*) FROM river_job WHERE state NOT IN ('completed')`); n != 0 {
		t.Fatalf("%d jobs did not complete", n)
	}
	if gaps := h.count(t, `SELECT count(*) FROM alert_episodes e WHERE e.transitions <> (SELECT count(*) FROM alert_transitions t WHERE t.episode_id = e.id)
		OR e.transitions <> (SELECT coalesce(max(seq), 0) FROM alert_transitions t WHERE t.episode_id = e.id)`); gaps != 0 {
		t.Fatalf("%d episodes whose transitions are not numbered 1..n", gaps)
	}
}

// An endpoint that asks to be reminded hears of an episode still open and
// unacknowledged again repeat_after_days after its last message of it (by
// the computations' as-of dates), once per reminder whatever re-runs do,
// and no more once it is acknowledged.
func TestRemindersWhileAnEpisodeStaysOpenAndUnacknowledged(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	rcv := newReceiver(t, nil)
	cust := h.customer(t, "acme")
	ep := h.endpointWith(t, cust, webhooks.EndpointSpec{URL: rcv.server.URL, RepeatAfterDays: 7})
	quiet := h.endpoint(t, cust, rcv.server.URL+"/no-reminders")
	h.startClient(t, 2, nil)
	h.upload(t, cust, "claims.csv", alertingClaims("Aetna"))
	h.waitIdle(t)
	run := func(days int) {
		t.Helper()
		if _, err := h.inserter.Insert(context.Background(), jobs.ManualDrift(cust, drift.DefaultParams(asOf.AddDate(0, 0, days))), nil); err != nil {
			t.Fatal(err)
		}
		h.waitIdle(t)
	}
	messages := func() []string {
		var out []string
		for _, r := range rcv.received() {
			var p webhooks.Payload
			if err := json.Unmarshal(r.body, &p); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%s %s #%d", r.header.Get("webhook-id")[:8], p.Type, p.Data.Transition.Seq))
		}
		return out
	}
	run(3) // 3 days after the opening: not yet
	run(7) // a week after: the first reminder
	run(7) // a re-run: no second one
	got := messages()
	var reminders, opened int
	for _, m := range got {
		switch {
		case strings.Contains(m, "drift.alert.reminder #1"):
			reminders++
		case strings.Contains(m, "drift.alert.opened #1"):
			opened++
		}
	}
	if opened != 2 || reminders != 1 || len(got) != 3 {
		t.Fatalf("messages %q, want the opening to both endpoints and one reminder to the one that asked", got)
	}
	if n := h.count(t, `SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1 AND reminder_seq IS NOT NULL`, quiet.ID); n != 0 {
		t.Fatalf("%d reminders to the endpoint that did not ask", n)
	}
	reminded := func() int {
		return h.count(t, `SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1 AND reminder_seq IS NOT NULL`, ep.ID)
	}
	run(14) // a week after the reminder (no claims decided since: the episode stays open)
	if n := reminded(); n != 2 || !strings.Contains(strings.Join(messages(), ","), "drift.alert.reminder #2") {
		t.Fatalf("%d reminders after two weeks (%q), want the second", n, messages())
	}
	tx, err := h.pool.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := alerts.Apply(context.Background(), tx, cust, alerts.Subject{Payer: "Aetna", CPTGroup: "OTHER", DriftType: drift.TypeDenialRate},
		alerts.Change{To: alerts.Acknowledged, Actor: "admin"}, asOf); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	run(21) // a third reminder would be due, but the episode is acknowledged
	if n := reminded(); n != 2 {
		t.Fatalf("%d reminders after the acknowledgement, want still 2", n)
	}
}

// An endpoint that takes a daily digest gets no message per transition but,
// once the day is over, one message listing the day's transitions, however
// often the digest job runs.
func TestDigestListsThePeriodsTransitionsOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	rcv := newReceiver(t, nil)
	cust := h.customer(t, "acme")
	digest := h.endpointWith(t, cust, webhooks.EndpointSpec{URL: rcv.server.URL + "/digest", Digest: webhooks.DigestDaily})
	h.endpoint(t, cust, rcv.server.URL+"/now")
	h.startClient(t, 2, nil)
	h.upload(t, cust, "claims.csv", append(alertingClaims("Aetna"), alertingClaims("Cigna")...))
	h.waitIdle(t)
	paths := func() map[string]int {
		out := map[string]int{}
		for _, r := range rcv.received() {
			var p struct{ Type string }
			if err := json.Unmarshal(r.body, &p); err != nil {
				t.Fatal(err)
			}
			out[p.Type]++
		}
		return out
	}
	if got := paths(); got[webhooks.TypeAlertOpened] != 2 || len(got) != 1 {
		t.Fatalf("messages %v before the digest, want the 2 openings to the immediate endpoint only", got)
	}
	tomorrow := time.Now().Add(24 * time.Hour)
	for range 3 { // the job runs hourly: one digest for the day
		if _, err := webhooks.DeliverDigests(context.Background(), h.pool, jobs.NewEnqueuer(h.inserter), tomorrow); err != nil {
			t.Fatal(err)
		}
	}
	h.waitIdle(t)
	var digests []webhooks.DigestData
	for _, r := range rcv.received() {
		var p struct {
			Type string
			Data webhooks.DigestData
		}
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatal(err)
		}
		if p.Type == webhooks.TypeAlertDigest {
			digests = append(digests, p.Data)
		}
	}
	if len(digests) != 1 || len(digests[0].Transitions) != 2 || digests[0].Frequency != "daily" ||
		digests[0].Start != time.Now().UTC().Format(time.DateOnly) {
		t.Fatalf("digests %+v, want one listing today's 2 openings", digests)
	}
	if n := h.count(t, `SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1`, digest.ID); n != 1 {
		t.Fatalf("%d deliveries to the digest endpoint, want its one digest", n)
	}
}
