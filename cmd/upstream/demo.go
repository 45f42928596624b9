package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/upstream-rcm/upstream/internal/customers"
	"github.com/upstream-rcm/upstream/internal/demo"
	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/ingest"
	"github.com/upstream-rcm/upstream/internal/store"
	"github.com/upstream-rcm/upstream/internal/webhooks"
	"github.com/upstream-rcm/upstream/jobs"
)

// DemoCmd runs the whole pipeline on synthetic data.
type DemoCmd struct {
	Seed    uint64        `default:"42" help:"Seed of the synthetic data."`
	Timeout time.Duration `default:"5m" help:"How long to wait for the drift job."`
	Webhook string        `help:"Also deliver the alerts to this URL as a signed webhook (a local receiver is allowed) and show the delivery."`
	Format  string        `default:"csv" enum:"csv,x12" help:"Write the exports as CSV files or as X12 835 remittances (x12)."`
}

// Run resets the demo customer, uploads six months of synthetic claims
// through the real upload path, lets River run the drift job and prints the
// events.
func (c *DemoCmd) Run(ctx context.Context, e *env) error {
	pool, err := e.openPool(ctx, 8)
	if err != nil {
		return err
	}
	defer pool.Close()
	q := store.New(pool)

	existing, err := customers.ByName(ctx, q, demo.CustomerName)
	switch {
	case err == nil:
		fmt.Printf("Resetting customer %q (id %d): deleting its previous demo data.\n", demo.CustomerName, existing.ID)
		if err := customers.Delete(ctx, store.New(pool), existing.ID); err != nil {
			return err
		}
	case !errors.Is(err, customers.ErrNotFound):
		return err
	}
	cust, err := customers.Create(ctx, pool, demo.CustomerName)
	if err != nil {
		return err
	}
	fmt.Printf("Created customer %q (id %d).\n", cust.Name, cust.ID)
	counts, err := ingest.ReplaceMappings(ctx, pool, cust.ID, strings.NewReader(demo.PayerMappings), strings.NewReader(demo.CPTGroupMappings))
	if err != nil {
		return err
	}
	fmt.Printf("Loaded %d payer and %d CPT group mappings.\n", *counts.Payers, *counts.CPTGroups)
	if c.Webhook != "" {
		// The user named this receiver: a local one is fine here.
		kr, err := e.keyring()
		if err != nil {
			return err
		}
		ep, secret, err := webhooks.CreateEndpoint(ctx, q, kr, webhooks.Guard{AllowPrivate: true}, cust.ID, webhooks.EndpointSpec{URL: c.Webhook})
		if err != nil {
			return fmt.Errorf("--webhook %s: %w", c.Webhook, err)
		}
		e.cli.AllowPrivateWebhooks = true
		fmt.Printf("Webhook endpoint %d: %s, signing secret %s\n", ep.ID, ep.URL, secret)
	}

	client, err := e.riverClient(pool, nil)
	if err != nil {
		return err
	}
	// Two overlapping exports of one billing system, as a customer gets
	// them: the second repeats most recent claims of the first and brings
	// some of its denials back PAID on appeal.
	asOf := drift.Date(time.Now())
	var first, second bytes.Buffer
	exports, ext := demo.Exports, "csv"
	if c.Format == "x12" { // the same claims as a payer's 835 remittances say them
		exports, ext = demo.ExportsX12, "835"
	}
	if err := exports(&first, &second, asOf, c.Seed); err != nil {
		return err
	}
	uploader := jobs.NewUploader(pool, client)
	firstUp, err := uploader.Upload(ctx, cust.ID, "export-2-weeks-ago."+ext, &first, nil)
	if err != nil {
		return fmt.Errorf("upload demo claims: %w", err)
	}
	fmt.Printf("Uploaded %s (every claim decided by %s): %s, %s.\n", firstUp.Filename,
		asOf.AddDate(0, 0, -demo.FirstExportAge).Format(time.DateOnly), count(firstUp.Accepted, "row"), count(firstUp.New, "new claim"))
	up, err := uploader.Upload(ctx, cust.ID, "export-today."+ext, &second, nil)
	if err != nil {
		return fmt.Errorf("upload demo claims: %w", err)
	}
	fmt.Printf("Uploaded %s (the last %d days of decisions): %s, %d accepted, %d rejected, %s (unusual outcomes stored as OTHER).\n",
		up.Filename, demo.ExportDays, count(up.Rows, "row"), up.Accepted, up.Rejected, count(up.Warnings, "warning"))
	fmt.Printf("  claims: %d new, %d unchanged (repeated from the first export: counted once), %d revised (denials overturned on appeal: a final outcome, not a new claim)\n",
		up.New, up.Unchanged, up.Revised)
	printRowErrors(os.Stdout, up.Errors, up.Rejected)

	fmt.Printf("Working drift job %d with River...\n", *up.JobID)
	// The demo prints its own story; workers log only warnings unless asked.
	quiet := *e
	quiet.logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: max(e.cli.LogLevel, slog.LevelWarn)}))
	workers := jobs.Workers{jobs.QueueDrift: 2, jobs.QueueWebhooks: 2}
	states, err := quiet.workUntilFinalized(ctx, pool, workers, c.Timeout, *up.JobID)
	if err != nil {
		return err
	}
	run, err := drift.LoadRun(ctx, q, cust.ID, 0)
	if err != nil {
		return fmt.Errorf("drift job %d ended %s without a successful run: %w (see `upstream drift runs --customer %s`)", *up.JobID, states[0], err, cust.Name)
	}
	fmt.Println()
	if err := printRun(run, runOutput{}); err != nil {
		return err
	}
	if c.Webhook != "" {
		if err := quiet.showDemoDelivery(ctx, pool, workers, c.Timeout, run.ReportRun.ID); err != nil {
			return err
		}
	}
	fmt.Printf(`
The two exports overlap by %[3]d days: each claim is counted once, at its
first decision, so the run equals one upload of every claim; the appeals show
as overturns (claims initially denied, finally paid), not as fewer denials.
Planted %[2]d days ago: UnitedHealthcare imaging denials up, Humana surgery
decisions slower, Cigna E&M denials down (an improvement). Those three are the
alerts above, and nothing else is. The export, like a real one, holds only
claims decided by today, so the seed rule (claims submitted in each window)
sees recent claims decide "faster" and misses the slowdown; the evidence
compares claims decided in each window, which the export does not bias.
The new UnitedHealthcare denials were planted as MRIs (70553) denied for
missing prior authorization (CO-197): what "why" names first.
Explore further:
  go run ./cmd/upstream drift trend  --customer %[1]s --payer UnitedHealthcare --cpt-group Imaging
  go run ./cmd/upstream drift runs   --customer %[1]s
  go run ./cmd/upstream drift events --customer %[1]s --json
  go run ./cmd/upstream drift run    --customer %[1]s --current-days 28 --wait
In the browser, with charts and River UI:
  UPSTREAM_ADMIN_KEY=pick-a-long-secret-key go run ./cmd/upstream serve
  then open http://127.0.0.1:8080/ and log in with that key.
`, cust.Name, demo.ChangeDays, demo.ExportDays-demo.FirstExportAge)
	return nil
}

// showDemoDelivery works the run's webhook deliveries to the end and says
// how each went.
func (e *env) showDemoDelivery(ctx context.Context, pool *pgxpool.Pool, workers jobs.Workers, timeout time.Duration, runID int64) error {
	rows, err := pool.Query(ctx, `SELECT j.id FROM river_job j JOIN webhook_deliveries d ON d.id = (j.args->>'delivery_id')::bigint
		WHERE j.kind = $1 AND d.report_run_id = $2`, jobs.WebhookDeliveryArgs{}.Kind(), runID)
	if err != nil {
		return err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		fmt.Println("\nNo webhook delivery: this run has no deliverable alert.")
		return nil
	}
	states, err := e.workUntilFinalized(ctx, pool, workers, timeout, ids...)
	if err != nil {
		return fmt.Errorf("webhook delivery still retrying (see `upstream webhook deliveries`): %w", err)
	}
	// One message per transition: each alert that opened an episode.
	var delivered, all, attempts int
	if err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'delivered'), count(*), coalesce(sum(attempts), 0)::int
		FROM webhook_deliveries WHERE report_run_id = $1`, runID).Scan(&delivered, &all, &attempts); err != nil {
		return err
	}
	fmt.Printf("\nWebhook deliveries (one per alert opened): %d of %d delivered in %d attempt(s) (first job %s).\n", delivered, all, attempts, states[0])
	return nil
}
