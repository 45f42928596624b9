package jobs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/upstream-rcm/upstream/internal/alerts"
	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/store"
	"github.com/upstream-rcm/upstream/internal/webhooks"
	"github.com/upstream-rcm/upstream/jobs"
)

// receiver is a webhook endpoint on a local test server that records every
// request and answers what respond says for the n-th (1-based).
type receiver struct {
	mu       sync.Mutex
	requests []received
	respond  func(n int) (status int, delay time.Duration)
	server   *httptest.Server
}

type received struct {
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T, respond func(n int) (int, time.Duration)) *receiver {
	r := &receiver{respond: respond}
	r.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.requests = append(r.requests, received{header: req.Header.Clone(), body: body})
		n := len(r.requests)
		r.mu.Unlock()
		status, delay := http.StatusOK, time.Duration(0)
		if r.respond != nil {
			status, delay = r.respond(n)
		}
		select {
		case <-time.After(delay):
		case <-req.Context().Done():
		}
		w.WriteHeader(status)
		fmt.Fprintf(w, "answer %d", n)
	}))
	t.Cleanup(r.server.Close)
	return r
}

func (r *receiver) received() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.requests)
}

// testEndpoint is a stored endpoint and its secret, as shown once.
type testEndpoint struct {
	db.WebhookEndpoint
	Secret string
}

func (h *harness) endpoint(t *testing.T, cust int64, url string) testEndpoint {
	t.Helper()
	return h.endpointWith(t, cust, webhooks.EndpointSpec{URL: url})
}

func (h *harness) endpointWith(t *testing.T, cust int64, spec webhooks.EndpointSpec) testEndpoint {
	t.Helper()
	ep, secret, err := webhooks.CreateEndpoint(context.Background(), store.New(h.pool), h.keyring, webhooks.Guard{AllowPrivate: true}, cust, spec)
	if err != nil {
		t.Fatal(err)
	}
	return testEndpoint{ep, secret}
}

// verify checks a delivery with the Standard Webhooks reference library,
// not with the sender's code.
func verify(t *testing.T, secret string, r received) {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(r.body, r.header); err != nil {
		t.Fatalf("reference verifier refused a delivery: %v (headers %v)", err, r.header)
	}
}

// A receiver that fails twice, then is too slow once, then accepts: the
// committed alert arrives, every attempt carries the same webhook-id and
// the same bytes, each verifiable, and every attempt is recorded.
func TestAlertIsDeliveredThroughFailuresWithStableIDAndPayload(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	rcv := newReceiver(t, func(n int) (int, time.Duration) {
		switch n {
		case 1, 2:
			return http.StatusInternalServerError, 0
		case 3:
			return http.StatusOK, 2 * time.Second // past the sender's 500 ms timeout
		}
		return http.StatusNoContent, 0
	})
	cust := h.customer(t, "acme")
	ep := h.endpoint(t, cust, rcv.server.URL+"/hooks?x=1")
	h.startClient(t, 2, nil)
	h.upload(t, cust, "claims.csv", alertingClaims("Aetna"))
	h.waitIdle(t)

	got := rcv.received()
	if len(got) != 4 {
		t.Fatalf("receiver got %d requests, want 4 (two 500s, one timeout, one success)", len(got))
	}
	for i, r := range got {
		verify(t, ep.Secret, r)
		if r.header.Get("webhook-id") != got[0].header.Get("webhook-id") || string(r.body) != string(got[0].body) {
			t.Fatalf("attempt %d: webhook-id %q, body differs: %v; want the first attempt's", i+1, r.header.Get("webhook-id"), string(r.body) != string(got[0].body))
		}
	}
	var payload webhooks.Payload
	if err := json.Unmarshal(got[0].body, &payload); err != nil {
		t.Fatal(err)
	}
	a, tr := payload.Data.Alert, payload.Data.Transition
	if payload.Type != webhooks.TypeAlertOpened || payload.Data.Customer.Name != "acme" || a == nil || tr == nil ||
		tr.Kind != alerts.KindOpened || tr.Payer != "Aetna" || tr.Seq != 1 || tr.Direction != "up" ||
		a.Payer != "Aetna" || a.DriftType != drift.TypeDenialRate || a.QValue == nil ||
		a.Drivers == nil || len(a.Drivers.DenialReasons) != 1 || len(a.Drivers.CPTCodes) != 1 {
		t.Fatalf("payload = %s, want the opening of Aetna's episode with its alert, evidence and drivers", got[0].body)
	}
	if want := webhooks.TransitionMessageID(ep.ID, tr.EpisodeID, 1); got[0].header.Get("webhook-id") != want {
		t.Fatalf("webhook-id %q, want %q derived from (endpoint, episode, transition)", got[0].header.Get("webhook-id"), want)
	}
	var status string
	var attempts int
	if err := h.pool.QueryRow(context.Background(), `SELECT status, attempts FROM webhook_deliveries`).Scan(&status, &attempts); err != nil {
		t.Fatal(err)
	}
	rows, err := h.pool.Query(context.Background(), `SELECT coalesce(status_code, 0) FROM webhook_attempts WHERE state = 'done' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	codes, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		t.Fatal(err)
	}
	if status != "delivered" || attempts != 4 || !slices.Equal(codes, []int32{500, 500, 0, 204}) {
		t.Fatalf("delivery %s after %d attempts, attempt codes %v; want delivered after [500 500 timeout 204]", status, attempts, codes)
	}
}

// A computation killed after writing its events, before commit, notifies
// nobody; its retry delivers exactly once.
func TestRolledBackComputationNotifiesNobodyAndItsRetryOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	rcv := newReceiver(t, nil)
	cust := h.customer(t, "acme")
	h.endpoint(t, cust, rcv.server.URL)
	var killed sync.Once
	h.startClient(t, 1, func(ctx context.Context, tx pgx.Tx, job *rivertype.JobRow) error {
		var deliveries int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM webhook_deliveries`).Scan(&deliveries); err != nil {
			return err
		}
		err := error(nil)
		killed.Do(func() { err = fmt.Errorf("killed with %d deliveries written", deliveries) })
		return err
	})
	h.upload(t, cust, "claims.csv", alertingClaims("Aetna"))
	h.waitIdle(t)
	if got := rcv.received(); len(got) != 1 {
		t.Fatalf("receiver got %d deliveries, want exactly 1 (from the retry)", len(got))
	}
	if n := h.count(t, `SELECT count(*) FROM webhook_deliveries`); n != 1 {
		t.Fatalf("%d deliveries stored, want 1", n)
	}
	if n := h.count(t, `SELECT count(*) FROM report_runs WHERE status = 'failed'`); n != 1 {
		t.Fatalf("%d failed runs, want the killed one", n)
	}
}

// Three clients fan out the weekly runs of 100 customers with one endpoint
// each, whose uploads opened an alert each: the weekly runs alert again,
// which is no transition, so each customer's endpoint has exactly the one
// delivery of its opening, and the receiver gets each once.
func TestWeeklyFanOutDeliversOncePerRunAndEndpoint(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	rcv := newReceiver(t, nil)
	const customers = 100
	for i := range customers {
		cust := h.customer(t, fmt.Sprintf("customer-%03d", i))
		h.endpoint(t, cust, rcv.server.URL)
		h.upload(t, cust, "claims.csv", alertingClaims("Aetna"))
	}
	var clients []*river.Client[pgx.Tx]
	for range 3 {
		clients = append(clients, h.startClient(t, 3, nil))
	}
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() {
			if _, err := jobs.FanOut(context.Background(), h.pool, c, asOf); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	h.waitIdle(t)

	runsWithAlerts := h.count(t, `SELECT count(*) FROM report_runs WHERE status = 'success' AND alerts_created > 0`)
	weekly := h.count(t, `SELECT count(*) FROM report_runs WHERE status = 'success' AND run_type = 'weekly' AND alerts_created > 0`)
	if weekly != customers {
		t.Fatalf("%d weekly runs with alerts, want %d", weekly, customers)
	}
	if runsWithAlerts < 2*customers {
		t.Fatalf("%d runs with alerts, want the uploads' and the weekly ones (%d)", runsWithAlerts, 2*customers)
	}
	if n := h.count(t, `SELECT count(*) FROM webhook_deliveries`); n != customers {
		t.Fatalf("%d deliveries for %d runs with alerts of %d episodes, want one per episode", n, runsWithAlerts, customers)
	}
	ids := map[string]int{}
	for _, r := range rcv.received() {
		ids[r.header.Get("webhook-id")]++
	}
	if len(ids) != customers {
		t.Fatalf("receiver got %d distinct deliveries, want %d", len(ids), customers)
	}
	for id, n := range ids {
		if n != 1 {
			t.Fatalf("delivery %s arrived %d times", id, n)
		}
	}
}

// Acknowledged and snoozed subjects record their alerts, suppressed, and
// deliver nothing; resolving by hand is delivered and re-arms them, and a
// snooze's expiry re-opens the subject.
func TestAcknowledgedAndSnoozedSubjectsAreNotDelivered(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	rcv := newReceiver(t, nil)
	cust := h.customer(t, "acme")
	h.endpoint(t, cust, rcv.server.URL)
	h.upload(t, cust, "claims.csv", alertingClaims("Aetna"))
	today := asOf
	h.startClientWith(t, 1, &jobs.Deps{Now: func() time.Time { return today }})
	h.waitIdle(t)
	subject := alerts.Subject{Payer: "Aetna", CPTGroup: "OTHER", DriftType: drift.TypeDenialRate}
	change := func(c alerts.Change) {
		t.Helper()
		tx, err := h.pool.Begin(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(context.Background())
		_, ts, err := alerts.Apply(context.Background(), tx, cust, subject, c, today)
		if err != nil {
			t.Fatal(err)
		}
		if err := webhooks.Notifier(jobs.NewEnqueuer(h.inserter), cust, "", today)(context.Background(), tx, ts); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	run := func() {
		t.Helper()
		if _, err := h.inserter.Insert(context.Background(), jobs.ManualDrift(cust, drift.DefaultParams(asOf)), nil); err != nil {
			t.Fatal(err)
		}
		h.waitIdle(t)
	}
	delivered := func() int { return len(rcv.received()) }
	if delivered() != 1 {
		t.Fatalf("%d deliveries after the first alert, want 1", delivered())
	}
	change(alerts.Change{To: alerts.Acknowledged, Note: "payer contacted", Actor: "admin"})
	run()
	if delivered() != 1 || h.count(t, `SELECT count(*) FROM drift_events WHERE alert AND suppressed`) != 1 {
		t.Fatalf("acknowledged: %d deliveries, want still 1 and the new alert suppressed", delivered())
	}
	change(alerts.Change{To: alerts.Resolved, Actor: "admin"})
	h.waitIdle(t)
	if delivered() != 2 {
		t.Fatalf("resolved by hand: %d deliveries, want 2 (the resolution)", delivered())
	}
	run()
	if delivered() != 3 {
		t.Fatalf("resolved then alerting again: %d deliveries, want 3 (re-opened)", delivered())
	}
	change(alerts.Change{To: alerts.Snoozed, Until: asOf.AddDate(0, 0, 2), Actor: "upk_abc123"})
	run()
	if delivered() != 3 {
		t.Fatalf("snoozed: %d deliveries, want still 3", delivered())
	}
	today = asOf.AddDate(0, 0, 2) // the snooze has expired
	run()
	if delivered() != 4 {
		t.Fatalf("snooze expired: %d deliveries, want 4", delivered())
	}
	var types []string
	for _, r := range rcv.received() {
		var p webhooks.Payload
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatal(err)
		}
		types = append(types, p.Type+"/"+string(p.Data.Transition.Kind)+" by "+p.Data.Transition.Actor)
	}
	if want := []string{"drift.alert.opened/opened by system", "drift.alert.resolved/resolved by admin",
		"drift.alert.opened/reopened by system", "drift.alert.opened/reopened by system"}; !slices.Equal(types, want) {
		t.Fatalf("messages %q, want %q", types, want)
	}
	var actors []string
	rows, err := h.pool.Query(context.Background(), `SELECT coalesce(from_state, '-') || '>' || to_state || ' by ' || actor FROM alert_subject_changes ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	if actors, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	want := []string{"->open by system", "open>acknowledged by admin", "acknowledged>resolved by admin", "resolved>open by system",
		"open>snoozed by upk_abc123", "snoozed>open by system"}
	if !slices.Equal(actors, want) {
		t.Fatalf("subject history = %q, want %q", actors, want)
	}
}

// A delivery to a disabled endpoint is cancelled, not retried.
func TestDisabledEndpointCancelsItsDeliveries(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	rcv := newReceiver(t, nil)
	cust := h.customer(t, "acme")
	ep := h.endpoint(t, cust, rcv.server.URL)
	if _, err := webhooks.SetEnabled(context.Background(), store.New(h.pool), cust, ep.ID, false); err != nil {
		t.Fatal(err)
	}
	// Disabled endpoints get no delivery at all; one created before the
	// endpoint was disabled is cancelled when it runs.
	id, err := webhooks.CreateTestDelivery(context.Background(), store.New(h.pool), db.Customer{ID: cust, Name: "acme"}, ep.WebhookEndpoint, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	res, err := h.inserter.Insert(context.Background(), jobs.WebhookDeliveryArgs{DeliveryID: id}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.startClient(t, 1, nil)
	h.upload(t, cust, "claims.csv", alertingClaims("Aetna"))
	h.waitIdle(t)
	var state string
	if err := h.pool.QueryRow(context.Background(), `SELECT state FROM river_job WHERE id = $1`, res.Job.ID).Scan(&state); err != nil {
		t.Fatal(err)
	}
	if state != string(rivertype.JobStateCancelled) || len(rcv.received()) != 0 || h.count(t, `SELECT count(*) FROM webhook_deliveries`) != 1 {
		t.Fatalf("job %s, %d requests received; want cancelled, nothing sent, no delivery for the disabled endpoint's alert", state, len(rcv.received()))
	}
	// The delivery ends too: cancelled, with why, never pending forever.
	var status, reason string
	if err := h.pool.QueryRow(context.Background(), `SELECT status, coalesce(status_reason, '') FROM webhook_deliveries WHERE id = $1`, id).
		Scan(&status, &reason); err != nil {
		t.Fatal(err)
	}
	if status != "cancelled" || reason != fmt.Sprintf("endpoint %d is disabled", ep.ID) {
		t.Fatalf("delivery %s (%q), want cancelled because the endpoint is disabled", status, reason)
	}
}

// River's default retry policy spreads a delivery's 20 attempts over more
// than a day, as the delivery contract asks.
func TestWebhookRetriesSpanMoreThanADay(t *testing.T) {
	t.Parallel()
	opts := jobs.WebhookDeliveryArgs{}.InsertOpts()
	policy := &river.DefaultClientRetryPolicy{}
	var total time.Duration
	now := time.Now()
	var failed rivertype.JobRow // the policy counts the errors recorded so far
	for attempt := 1; attempt < opts.MaxAttempts; attempt++ {
		failed.Attempt = attempt
		total += policy.NextRetry(&failed).Sub(now)
		failed.Errors = append(failed.Errors, rivertype.AttemptError{Attempt: attempt})
	}
	if total < 24*time.Hour {
		t.Fatalf("%d attempts span %s, want more than 24h", opts.MaxAttempts, total)
	}
	t.Logf("%d attempts span %s", opts.MaxAttempts, total.Round(time.Hour))
}

// Every process that works jobs (drift run --wait, weekly --wait, demo)
// gets the drift job timeout, not River's one-minute default.
func TestConfigUsesTheDriftJobTimeout(t *testing.T) {
	t.Parallel()
	for _, workers := range []jobs.Workers{nil, {jobs.QueueDrift: 2}} {
		if got := jobs.Config(&jobs.Deps{}, workers).JobTimeout; got != jobs.DefaultJobTimeout {
			t.Errorf("workers %v: job timeout %s, want %s", workers, got, jobs.DefaultJobTimeout)
		}
	}
}
