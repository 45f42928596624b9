// Command upstream detects payer drift in claim outcomes: it ingests claim
// CSV uploads, runs drift computations as River jobs and serves the results.
// See README.md for the commands.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/alecthomas/kong"

	"github.com/upstream-rcm/upstream/internal/ingest"
	"github.com/upstream-rcm/upstream/jobs"
)

// CLI is the command line: global flags and one struct per command.
type CLI struct {
	DatabaseURL string     `name:"database-url" env:"DATABASE_URL" help:"PostgreSQL URL. Empty: the private local cluster (see 'upstream db')."`
	PGData      string     `name:"pgdata" env:"UPSTREAM_PGDATA" help:"Data directory of the private cluster (default: /var/lib/upstream/pgdata as root, else ~/.local/share/upstream/pgdata)."`
	PGPort      int        `name:"pgport" env:"UPSTREAM_PGPORT" default:"54329" help:"Loopback port of the private cluster."`
	LogLevel    slog.Level `name:"log-level" env:"UPSTREAM_LOG_LEVEL" default:"info" help:"Log level: debug, info, warn, error."`
	// Webhook delivery happens in any process that works jobs.
	AllowPrivateWebhooks bool   `name:"allow-private-webhooks" env:"UPSTREAM_ALLOW_PRIVATE_WEBHOOKS" help:"Allow webhook endpoints on loopback, private and link-local addresses (tests, on-premise receivers). Refused by default."`
	PublicURL            string `name:"public-url" env:"UPSTREAM_PUBLIC_URL" help:"Base URL of the drift page, for links in notifications (e.g. https://upstream.example.com)."`

	Demo     DemoCmd     `cmd:"" help:"Create a demo customer with synthetic claims and planted drift, run the pipeline, print the drift table."`
	Migrate  MigrateCmd  `cmd:"" help:"Apply the schema (River's and upstream's migrations) idempotently."`
	DB       DBCmd       `cmd:"" name:"db" help:"Manage the private local PostgreSQL cluster."`
	Customer CustomerCmd `cmd:"" help:"Manage customers."`
	APIKey   APIKeyCmd   `cmd:"" name:"apikey" help:"Manage customer API keys."`
	Mappings MappingsCmd `cmd:"" help:"Manage payer and CPT group mappings."`
	Upload   UploadCmd   `cmd:"" help:"Upload a claims CSV file for a customer."`
	Drift    DriftCmd    `cmd:"" help:"Run and inspect drift computations."`
	Serve    ServeCmd    `cmd:"" help:"HTTP API, drift page and River UI, job workers and the weekly schedule, until SIGINT/SIGTERM."`
	Worker   WorkerCmd   `cmd:"" help:"Work jobs (drift computations) until SIGINT/SIGTERM; run several to scale out."`
	Weekly   WeeklyCmd   `cmd:"" help:"Run the weekly fan-out now, exactly as the schedule would."`
	Jobs     JobsCmd     `cmd:"" help:"Show River job counts; 'jobs wait' waits for the queue to drain."`
	Webhook  WebhookCmd  `cmd:"" help:"Manage a customer's webhook endpoints and see their deliveries."`
	Alerts   AlertsCmd   `cmd:"" help:"List and acknowledge, snooze or resolve a customer's alerts."`
}

// env carries what every command needs.
type env struct {
	cli    *CLI
	logger *slog.Logger
}

func main() {
	var cli CLI
	kctx := kong.Parse(&cli,
		kong.Name("upstream"),
		kong.Description("Payer-drift detection for healthcare revenue-cycle teams."),
		kong.UsageOnError(),
		// Defaults that live in the domain packages, written once.
		kong.Vars{
			"weekly_schedule":  jobs.DefaultWeeklySchedule,
			"max_upload_bytes": strconv.FormatInt(ingest.DefaultMaxBytes, 10),
		},
	)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cli.LogLevel}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	kctx.BindTo(ctx, (*context.Context)(nil))
	err := kctx.Run(&env{cli: &cli, logger: logger})
	if err != nil {
		fmt.Fprintf(os.Stderr, "upstream: %v\n", err)
		os.Exit(1)
	}
}
