package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/upstream-rcm/upstream/internal/customers"
	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/ingest"
	"github.com/upstream-rcm/upstream/internal/migrate"
	"github.com/upstream-rcm/upstream/internal/pgcluster"
	"github.com/upstream-rcm/upstream/internal/secrets"
	"github.com/upstream-rcm/upstream/internal/store"
	"github.com/upstream-rcm/upstream/internal/webhooks"
	"github.com/upstream-rcm/upstream/jobs"
)

func (e *env) cluster() (*pgcluster.Cluster, error) {
	dir := e.cli.PGData
	if dir == "" {
		dir = pgcluster.DefaultDataDir()
	}
	return pgcluster.New(dir, e.cli.PGPort)
}

// databaseURL returns DATABASE_URL or, when it is empty, the URL of the
// private cluster, which it starts if it is not running.
func (e *env) databaseURL(ctx context.Context) (string, bool, error) {
	if e.cli.DatabaseURL != "" {
		return e.cli.DatabaseURL, false, nil
	}
	c, err := e.cluster()
	if err != nil {
		return "", false, err
	}
	if err := c.Start(ctx); err != nil {
		return "", false, err
	}
	return c.URL(), true, nil
}

// openPool connects to the database. On the private cluster, whose schema
// this binary owns, it applies pending migrations first; with DATABASE_URL
// it refuses to run on an outdated schema and says how to fix it.
func (e *env) openPool(ctx context.Context, maxConns int32) (*pgxpool.Pool, error) {
	dsn, private, err := e.databaseURL(ctx)
	if err != nil {
		return nil, err
	}
	pool, err := newPool(ctx, dsn, maxConns)
	if err != nil {
		return nil, err
	}
	if private {
		res, err := migrate.Up(ctx, pool, e.logger)
		if err != nil {
			pool.Close()
			return nil, err
		}
		if n := len(res.RiverVersions) + len(res.AppVersions); n > 0 {
			e.logger.InfoContext(ctx, "migrated the private cluster", "migrations_applied", n,
				"river_version", res.RiverVersion, "upstream_version", res.AppVersion)
		}
		if err := e.sealPlaintextSecrets(ctx, pool); err != nil {
			pool.Close()
			return nil, err
		}
		return pool, nil
	}
	st, err := migrate.GetStatus(ctx, pool)
	if err != nil {
		pool.Close()
		return nil, err
	}
	if err := st.CheckNotNewer(); err != nil {
		pool.Close()
		return nil, err
	}
	if st.PendingMigrations {
		pool.Close()
		return nil, errors.New("the database schema is not current: run `upstream migrate` first")
	}
	if err := e.sealPlaintextSecrets(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// keyring returns the server key that seals webhook secrets:
// UPSTREAM_SECRET_KEY, else, on the private cluster, the key file beside
// its data directory (created on first use, mode 0600). With DATABASE_URL
// and no key it returns nil: commands that need a secret say so.
func (e *env) keyring() (*secrets.Keyring, error) {
	k := e.keys
	k.once.Do(func() {
		if spec := os.Getenv(secrets.EnvVar); spec != "" {
			k.kr, k.err = secrets.ParseKeyring(spec)
			return
		}
		if e.cli.DatabaseURL != "" {
			return
		}
		c, err := e.cluster()
		if err != nil {
			k.err = err
			return
		}
		k.kr, k.err = secrets.LoadOrCreateKeyFile(c.KeyFile())
	})
	return k.kr, k.err
}

// sealPlaintextSecrets seals the webhook secrets stored before they were
// sealed (schema 0023), so no command leaves plaintext behind once it has
// a key.
func (e *env) sealPlaintextSecrets(ctx context.Context, pool *pgxpool.Pool) error {
	kr, err := e.keyring()
	if err != nil {
		return err
	}
	if kr == nil {
		return nil
	}
	n, err := webhooks.SealSecrets(ctx, pool, kr, false)
	if err != nil {
		return fmt.Errorf("seal webhook secrets: %w", err)
	}
	if n > 0 {
		e.logger.InfoContext(ctx, "sealed webhook secrets stored in plaintext", "endpoints", n, "key_id", kr.CurrentID())
	}
	return nil
}

// openCustomer opens a pool and looks up the customer a command is about;
// the caller closes the pool.
func (e *env) openCustomer(ctx context.Context, name string, maxConns int32) (*pgxpool.Pool, db.Customer, error) {
	pool, err := e.openPool(ctx, maxConns)
	if err != nil {
		return nil, db.Customer{}, err
	}
	cust, err := customers.ByName(ctx, store.New(pool), name)
	if err != nil {
		pool.Close()
		return nil, db.Customer{}, err
	}
	return pool, cust, nil
}

// ingestFlows returns the upload, deletion and reclassification flows
// over pool, with an insert-only River client for their jobs.
func (e *env) ingestFlows(pool *pgxpool.Pool) (*ingest.Uploader, error) {
	client, err := e.riverClient(pool, nil)
	if err != nil {
		return nil, err
	}
	return jobs.NewUploader(pool, client), nil
}

func newPool(ctx context.Context, dsn string, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse database URL: %w", err)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to database %s: %w", dbAddress(cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database), err)
	}
	return pool, nil
}

// dbAddress names a database without its credentials, for error messages.
func dbAddress(host string, port uint16, database string) string {
	return fmt.Sprintf("%s:%d/%s", host, port, database)
}

// riverClient returns a River client working the given queues (nil:
// insert only). River's own logs are kept to warnings
// unless debugging: they describe River, not upstream's work.
func (e *env) riverClient(pool *pgxpool.Pool, workers jobs.Workers, configure ...func(*riverConfig)) (*river.Client[pgx.Tx], error) {
	kr, err := e.keyring()
	if err != nil {
		return nil, err
	}
	if kr == nil && workers[jobs.QueueWebhooks] > 0 {
		e.logger.Warn("no server key: webhook deliveries wait, retried, until this process has one", "set", secrets.EnvVar)
	}
	cfg := jobs.Config(&jobs.Deps{Pool: pool, Logger: e.logger, PublicURL: e.cli.PublicURL, Keyring: kr,
		Sender: webhooks.NewSender(e.webhookGuard(), jobs.WebhookTimeout)}, workers)
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: max(e.cli.LogLevel, slog.LevelWarn)}))
	for _, f := range configure {
		f(cfg)
	}
	client, err := river.NewClient(riverpgxv5.New(pool), cfg)
	if err != nil {
		return nil, fmt.Errorf("create River client: %w", err)
	}
	return client, nil
}

// workUntilFinalized works drift jobs in this process (alongside any other
// running workers) until every job in ids is completed, cancelled or
// discarded, or timeout passes, then stops gracefully. It returns each
// job's final state.
func (e *env) workUntilFinalized(ctx context.Context, pool *pgxpool.Pool, workers jobs.Workers, timeout time.Duration, ids ...int64) ([]rivertype.JobState, error) {
	client, err := e.riverClient(pool, workers)
	if err != nil {
		return nil, err
	}
	// Not ctx: cancelling the start context hard-stops River; shutdown goes
	// through StopGracefully instead.
	if err := client.Start(context.WithoutCancel(ctx)); err != nil {
		return nil, fmt.Errorf("start River client: %w", err)
	}
	defer func() {
		if err := jobs.StopGracefully(client, 30*time.Second, e.logger); err != nil {
			e.logger.Error("stop workers", "error", err)
		}
	}()
	waitCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	states := make([]rivertype.JobState, len(ids))
	for i, id := range ids {
		if states[i], err = jobs.WaitFinalized(waitCtx, pool, id, 100*time.Millisecond); err != nil {
			return nil, err
		}
	}
	return states, nil
}

// webhookGuard is the destination policy of webhook endpoints.
func (e *env) webhookGuard() webhooks.Guard {
	return webhooks.Guard{AllowPrivate: e.cli.AllowPrivateWebhooks}
}

// riverConfig lets callers of riverClient adjust River's configuration.
type riverConfig = river.Config
