package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/upstream-rcm/upstream/internal/customers"
	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/migrate"
	"github.com/upstream-rcm/upstream/internal/pgcluster"
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
		return pool, nil
	}
	st, err := migrate.GetStatus(ctx, pool)
	if err != nil {
		pool.Close()
		return nil, err
	}
	if st.PendingMigrations {
		pool.Close()
		return nil, errors.New("the database schema is not current: run `upstream migrate` first")
	}
	return pool, nil
}

// openCustomer opens a pool and looks up the customer a command is about;
// the caller closes the pool.
func (e *env) openCustomer(ctx context.Context, name string, maxConns int32) (*pgxpool.Pool, db.Customer, error) {
	pool, err := e.openPool(ctx, maxConns)
	if err != nil {
		return nil, db.Customer{}, err
	}
	cust, err := customers.ByName(ctx, db.New(pool), name)
	if err != nil {
		pool.Close()
		return nil, db.Customer{}, err
	}
	return pool, cust, nil
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
