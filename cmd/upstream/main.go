// Command upstream detects payer drift in claim outcomes: it ingests claim
// CSV uploads, runs drift computations as River jobs and serves the results.
// See README.md for the commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/alecthomas/kong"

	"github.com/upstream-rcm/upstream/internal/ingest"
	"github.com/upstream-rcm/upstream/internal/secrets"
	"github.com/upstream-rcm/upstream/jobs"
)

// CLI is the command line: global flags and one struct per command.
type CLI struct {
	DatabaseURL string           `name:"database-url" env:"DATABASE_URL" help:"PostgreSQL URL. Empty: the private local cluster (see 'upstream db')."`
	PGData      string           `name:"pgdata" env:"UPSTREAM_PGDATA" help:"Data directory of the private cluster (default: /var/lib/upstream/pgdata as root, else ~/.local/share/upstream/pgdata)."`
	PGPort      int              `name:"pgport" env:"UPSTREAM_PGPORT" default:"54329" help:"Loopback port of the private cluster."`
	LogLevel    slog.Level       `name:"log-level" env:"UPSTREAM_LOG_LEVEL" default:"info" help:"Log level: debug, info, warn, error."`
	LogFormat   string           `name:"log-format" env:"UPSTREAM_LOG_FORMAT" default:"text" enum:"text,json" help:"Log format: text or json."`
	Version     kong.VersionFlag `name:"version" help:"Print the version and exit."`
	// Webhook delivery happens in any process that works jobs.
	AllowPrivateWebhooks bool   `name:"allow-private-webhooks" env:"UPSTREAM_ALLOW_PRIVATE_WEBHOOKS" help:"Allow webhook endpoints on loopback, private and link-local addresses (tests, on-premise receivers). Refused by default."`
	PublicURL            string `name:"public-url" env:"UPSTREAM_PUBLIC_URL" help:"Base URL of the drift page, for links in notifications (e.g. https://upstream.example.com)."`

	Demo     DemoCmd     `cmd:"" help:"Create a demo customer with synthetic claims and planted drift, run the pipeline, print the drift table."`
	Migrate  MigrateCmd  `cmd:"" help:"Apply the schema (River's and upstream's migrations) idempotently."`
	DB       DBCmd       `cmd:"" name:"db" help:"Manage the private local PostgreSQL cluster."`
	Customer CustomerCmd `cmd:"" help:"Manage customers."`
	APIKey   APIKeyCmd   `cmd:"" name:"apikey" help:"Manage customer API keys."`
	Mappings MappingsCmd `cmd:"" help:"Manage payer and CPT group mappings."`
	Upload   UploadCmd   `cmd:"" help:"Upload a claims CSV file: upstream upload --customer NAME FILE [--json] (flags: upload --customer NAME FILE --help). Also: upload list, upload delete."`
	Drift    DriftCmd    `cmd:"" help:"Run and inspect drift computations."`
	Serve    ServeCmd    `cmd:"" help:"HTTP API, drift page and River UI, job workers and the weekly schedule, until SIGINT/SIGTERM."`
	Worker   WorkerCmd   `cmd:"" help:"Work jobs (drift computations) until SIGINT/SIGTERM; run several to scale out."`
	Weekly   WeeklyCmd   `cmd:"" help:"Run the weekly fan-out now, exactly as the schedule would."`
	Jobs     JobsCmd     `cmd:"" help:"Show River job counts; 'jobs wait' waits for the queue to drain."`
	Webhook  WebhookCmd  `cmd:"" help:"Manage a customer's webhook endpoints and see their deliveries."`
	Alerts   AlertsCmd   `cmd:"" help:"List and acknowledge, snooze or resolve a customer's alerts."`
	Secrets  SecretsCmd  `cmd:"" help:"Server key for webhook secrets at rest: 'secrets reencrypt' after adding a new key to UPSTREAM_SECRET_KEY."`
}

// env carries what every command needs.
type env struct {
	cli    *CLI
	logger *slog.Logger
	// keys is loaded once, on first need, and shared by copies of env.
	keys *lazyKeyring
}

type lazyKeyring struct {
	once sync.Once
	kr   *secrets.Keyring
	err  error
}

// Exit codes.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitInterrupted = 130 // 128 + SIGINT, as shells report it
)

func main() { os.Exit(run(os.Args[1:])) }

// run parses args, runs the command and returns the exit code.
func run(args []string) int {
	var cli CLI
	parser, err := kong.New(&cli,
		kong.Name("upstream"),
		kong.Description("Payer-drift detection for healthcare revenue-cycle teams."),
		kong.Help(helpAsWritten),
		// Defaults that live in the domain packages, written once.
		kong.Vars{
			"weekly_schedule":  jobs.DefaultWeeklySchedule,
			"max_upload_bytes": strconv.FormatInt(ingest.DefaultMaxBytes, 10),
			"version":          version(),
			"job_timeout":      jobs.DefaultJobTimeout.String(),
			"drift_workers":    strconv.Itoa(jobs.DefaultDriftWorkers),
			"webhook_workers":  strconv.Itoa(jobs.DefaultWebhookWorkers),
		},
	)
	if err != nil {
		fmt.Fprintf(os.Stderr, "upstream: %v\n", err)
		return exitFailure
	}
	kctx, err := parser.Parse(args)
	if err != nil {
		// The message and where to look, not 40 lines of help.
		fmt.Fprintf(os.Stderr, "upstream: %v\nRun 'upstream --help' (or 'upstream COMMAND --help') for usage.\n", err)
		return exitUsage
	}
	var handler slog.Handler = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cli.LogLevel})
	if cli.LogFormat == "json" {
		handler = slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cli.LogLevel})
	}
	logger := slog.New(handler)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	kctx.BindTo(ctx, (*context.Context)(nil))
	err = kctx.Run(&env{cli: &cli, logger: logger, keys: &lazyKeyring{}})
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, new(usageError)):
		fmt.Fprintf(os.Stderr, "upstream: %v\nRun 'upstream %s --help' for usage.\n", err, kctx.Command())
		return exitUsage
	case ctx.Err() != nil:
		fmt.Fprintf(os.Stderr, "upstream: interrupted: %v\n", err)
		return exitInterrupted
	default:
		fmt.Fprintf(os.Stderr, "upstream: %v\n", err)
		return exitFailure
	}
}

// helpAsWritten prints kong's help with the default upload command spelled
// as people write it: `upload --customer NAME FILE`, not `upload file`.
func helpAsWritten(options kong.HelpOptions, ctx *kong.Context) error {
	var b strings.Builder
	out := ctx.Stdout
	ctx.Stdout = &b
	err := kong.DefaultHelpPrinter(options, ctx)
	ctx.Stdout = out
	_, _ = io.WriteString(out, strings.ReplaceAll(b.String(), "upstream upload file ", "upstream upload "))
	return err
}

// usageError is a flag with a value the command cannot use: exit 2, like
// the parser's own usage errors.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

// usage marks err (if any) as a usage error.
func usage(err error) error {
	if err == nil {
		return nil
	}
	return usageError{err}
}

// parseDateFlag reads a YYYY-MM-DD flag value; empty is def.
func parseDateFlag(flag, value string, def time.Time) (time.Time, error) {
	if value == "" {
		return def, nil
	}
	t, err := time.Parse(time.DateOnly, value)
	if err != nil || t.Year() < 1900 || t.Year() > 9000 {
		return time.Time{}, usage(fmt.Errorf("%s %q: use YYYY-MM-DD", flag, value))
	}
	return t, nil
}

// count says n things with the noun in the right number: count(1, "job")
// is "1 job", count(2, "job") "2 jobs"; nouns with other plurals give both.
func count(n int, noun string, plural ...string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", noun)
	}
	if len(plural) > 0 {
		return fmt.Sprintf("%d %s", n, plural[0])
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// version is the module version and VCS revision the binary was built from.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v += " " + s.Value[:min(12, len(s.Value))]
		case "vcs.modified":
			if s.Value == "true" {
				v += " (modified)"
			}
		}
	}
	return "upstream " + v + " " + info.GoVersion
}
