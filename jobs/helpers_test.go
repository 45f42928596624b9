package jobs_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/upstream-rcm/upstream/internal/ingest"
	"github.com/upstream-rcm/upstream/internal/secrets"
	"github.com/upstream-rcm/upstream/internal/testdb"
	"github.com/upstream-rcm/upstream/internal/testfactory"
	"github.com/upstream-rcm/upstream/internal/webhooks"
	"github.com/upstream-rcm/upstream/jobs"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// asOf is the Monday the tests compute as of; upload-triggered runs use it
// through a fixed clock.
var asOf = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)

type harness struct {
	inserter *river.Client[pgx.Tx] // inserts jobs, works none
	dsn      string
	pool     *pgxpool.Pool
	deps     *jobs.Deps
	uploader *ingest.Uploader
	keyring  *secrets.Keyring // seals the endpoints' secrets
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	dsn := testdb.URL(t)
	pool := testdb.NewPool(t, dsn)
	kr := testfactory.Keyring(t)
	deps := &jobs.Deps{Pool: pool, Now: func() time.Time { return asOf }, Keyring: kr}
	inserter := testfactory.InsertOnlyClient(t, pool)
	return &harness{inserter: inserter, dsn: dsn, pool: pool, deps: deps,
		uploader: jobs.NewUploader(pool, inserter), keyring: kr}
}

// immediateRetry retries failed jobs at once, so retry tests run fast.
type immediateRetry struct{}

func (immediateRetry) NextRetry(*rivertype.JobRow) time.Time { return time.Now() }

// testSender delivers webhooks to the tests' local receivers, with a short
// timeout.
var testSender = webhooks.NewSender(webhooks.Guard{AllowPrivate: true}, 500*time.Millisecond)

// startClient starts a River client working drift jobs and webhook
// deliveries on a pool of its own, as a separate process would. before, if
// set, becomes the workers' BeforeComplete hook. The client stops when the
// test ends.
func (h *harness) startClient(t *testing.T, workers int, before func(ctx context.Context, tx pgx.Tx, job *rivertype.JobRow) error) *river.Client[pgx.Tx] {
	t.Helper()
	return h.startClientWith(t, workers, &jobs.Deps{Now: h.deps.Now, BeforeComplete: before})
}

// startClientWith is startClient with deps of the test's own (its Pool is
// set here).
func (h *harness) startClientWith(t *testing.T, workers int, deps *jobs.Deps) *river.Client[pgx.Tx] {
	t.Helper()
	pool := testdb.NewPool(t, h.dsn)
	deps.Pool = pool
	if deps.Sender == nil {
		deps.Sender = testSender
	}
	if deps.Keyring == nil {
		deps.Keyring = h.keyring
	}
	cfg := jobs.Config(deps, jobs.Workers{jobs.QueueDrift: workers, jobs.QueueWebhooks: 2})
	cfg.FetchCooldown = 5 * time.Millisecond
	cfg.FetchPollInterval = 20 * time.Millisecond
	cfg.RetryPolicy = immediateRetry{}
	cfg.TestOnly = true
	client, err := river.NewClient(riverpgxv5.New(pool), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := client.Stop(ctx); err != nil {
			t.Errorf("stop River client: %v", err)
		}
	})
	return client
}

func (h *harness) customer(t *testing.T, name string) int64 {
	t.Helper()
	return testfactory.Customer(t, h.pool, name)
}

// claim is a claim submitted submittedDaysAgo days before asOf.
func claim(payer string, submittedDaysAgo, decisionDays int, outcome string) testfactory.Claim {
	return testfactory.Claim{Payer: payer, CPT: "99213", Submitted: asOf.AddDate(0, 0, -submittedDaysAgo),
		DecisionDays: decisionDays, Outcome: outcome}
}

// alertingClaims makes one payer's denial rate jump from 10% to 60% in a
// way the evidence sees: 60 claims decided in the baseline window and 60
// decided in the current one.
func alertingClaims(payer string) []testfactory.Claim {
	var out []testfactory.Claim
	for i := range 60 {
		outcome := "PAID"
		if i%10 == 0 {
			outcome = "DENIED"
		}
		out = append(out, claim(payer, 30+i, 5, outcome))
	}
	for i := range 60 {
		outcome := "PAID"
		if i%10 < 6 {
			outcome = "DENIED"
		}
		out = append(out, claim(payer, 10+i%4, 3+i%6, outcome))
	}
	return out
}

// driftingClaims plants drift for one payer: baseline 40 claims, 10%
// denied, decided in 10 days; current 40 claims, 50% denied, in 20 days.
func driftingClaims(payer string) []testfactory.Claim {
	var out []testfactory.Claim
	for i := range 40 {
		outcome := "PAID"
		if i%10 == 0 {
			outcome = "DENIED"
		}
		out = append(out, claim(payer, 20+i, 10, outcome))
	}
	for i := range 40 {
		outcome := "PAID"
		if i%2 == 0 {
			outcome = "DENIED"
		}
		out = append(out, claim(payer, 1+i%13, 20, outcome))
	}
	return out
}

func (h *harness) upload(t *testing.T, cust int64, name string, claims []testfactory.Claim) *ingest.Upload {
	t.Helper()
	up, err := h.uploader.Upload(context.Background(), cust, name, strings.NewReader(testfactory.ClaimsCSV(claims...)), testfactory.DifferentClaims)
	if err != nil {
		t.Fatalf("upload %s: %v", name, err)
	}
	return up
}

// waitIdle waits until no job is waiting, running or retrying.
func (h *harness) waitIdle(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := jobs.WaitIdle(ctx, h.pool, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
}

// eventKeys lists a customer's events as "run/payer/group/type".
func (h *harness) eventKeys(t *testing.T, cust int64) []string {
	t.Helper()
	rows, err := h.pool.Query(context.Background(), `SELECT report_run_id || '/' || payer || '/' || cpt_group || '/' || drift_type
		FROM drift_events WHERE customer_id = $1 ORDER BY 1`, cust)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func (h *harness) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := h.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}
