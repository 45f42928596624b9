// Package migrate applies upstream's schema: River's own migrations through
// rivermigrate, then the application's numbered migrations from schema/
// through goose. Both run under one PostgreSQL advisory lock, so migrating is
// idempotent and safe when several processes migrate at once.
package migrate

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/upstream-rcm/upstream/schema"
)

// advisoryLockKey identifies upstream's migration lock ("upstream" as bytes).
const advisoryLockKey int64 = 0x7570737472656d

// Result says what a migration run applied.
type Result struct {
	RiverVersions []int    // River migration versions applied by this run
	AppVersions   []string // application migration files applied by this run
	RiverVersion  int      // River schema version after the run
	AppVersion    int64    // application schema version after the run
}

// Up applies every pending River and application migration. It waits for
// any other process migrating the same database to finish first.
func Up(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) (*Result, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	lockConn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("acquire connection for migration lock: %w", err)
	}
	defer lockConn.Release()
	if err := takeLock(ctx, lockConn); err != nil {
		return nil, err
	}
	defer func() {
		// A fresh context: the lock must be released even after cancellation,
		// or this pooled connection would keep holding it.
		if _, err := lockConn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", advisoryLockKey); err != nil {
			lockConn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()

	st, err := GetStatus(ctx, pool)
	if err != nil {
		return nil, err
	}
	if err := st.CheckNotNewer(); err != nil {
		return nil, err
	}
	res := &Result{}
	riverMigrator, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, fmt.Errorf("create River migrator: %w", err)
	}
	riverRes, err := riverMigrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return nil, fmt.Errorf("apply River migrations: %w", err)
	}
	for _, v := range riverRes.Versions {
		res.RiverVersions = append(res.RiverVersions, v.Version)
		logger.DebugContext(ctx, "applied River migration", "version", v.Version, "name", v.Name)
	}
	all := riverMigrator.AllVersions()
	res.RiverVersion = all[len(all)-1].Version

	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	provider, err := newProvider(db)
	if err != nil {
		return nil, err
	}
	appRes, err := provider.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("apply upstream migrations: %w", err)
	}
	for _, r := range appRes {
		res.AppVersions = append(res.AppVersions, r.Source.Path)
		logger.DebugContext(ctx, "applied upstream migration", "file", r.Source.Path, "duration", r.Duration)
	}
	if res.AppVersion, err = provider.GetDBVersion(ctx); err != nil {
		return nil, fmt.Errorf("read upstream schema version: %w", err)
	}
	return res, nil
}

// takeLock takes the session-level migration lock (not a transaction-level
// one: goose runs CREATE INDEX CONCURRENTLY outside any transaction, on other
// connections). It polls pg_try_advisory_lock rather than blocking in
// pg_advisory_lock: a session blocked in a statement holds a snapshot, and
// CREATE INDEX CONCURRENTLY in the lock holder would wait for that snapshot
// forever, a deadlock PostgreSQL cannot detect.
func takeLock(ctx context.Context, conn *pgxpool.Conn) error {
	for {
		var locked bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", advisoryLockKey).Scan(&locked); err != nil {
			return fmt.Errorf("take migration lock: %w", err)
		}
		if locked {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for migration lock held by another process: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Hash identifies the complete schema Up produces: it changes when River's
// bundled migrations or any application migration changes.
func Hash() (string, error) {
	h := sha256.New()
	riverMigrator, err := rivermigrate.New(riverpgxv5.New(nil), nil)
	if err != nil {
		return "", fmt.Errorf("create River migrator: %w", err)
	}
	for _, m := range riverMigrator.AllVersions() {
		fmt.Fprintf(h, "river %d %s\n%s\n", m.Version, m.Name, m.SQLUp)
	}
	err = fs.WalkDir(schema.Migrations, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(schema.Migrations, path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "app %s\n%s\n", path, body)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hash migrations: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func newProvider(db *sql.DB) (*goose.Provider, error) {
	// The global registry holds Go migrations; upstream has only SQL ones.
	p, err := goose.NewProvider(goose.DialectPostgres, db, schema.Migrations, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, fmt.Errorf("load upstream migrations: %w", err)
	}
	return p, nil
}

// Status describes the schema versions present in a database.
type Status struct {
	RiverVersion      int   // latest River migration applied, 0 if none
	RiverLatest       int   // latest River migration this binary knows
	AppVersion        int64 // latest application migration applied, 0 if none
	AppLatest         int64 // latest application migration this binary knows
	PendingMigrations bool  // whether Up has anything to apply
}

// ErrSchemaNewer is returned for a database migrated by a newer upstream:
// this binary would misread it, so it refuses to run.
var ErrSchemaNewer = errors.New("the database schema is newer than this binary knows: upgrade upstream")

// CheckNotNewer refuses a database whose River or upstream schema is
// newer than this binary's migrations.
func (st *Status) CheckNotNewer() error {
	if st.RiverVersion > st.RiverLatest {
		return fmt.Errorf("%w (River schema version %d, this binary knows %d)", ErrSchemaNewer, st.RiverVersion, st.RiverLatest)
	}
	if st.AppVersion > st.AppLatest {
		return fmt.Errorf("%w (upstream schema version %d, this binary knows %d)", ErrSchemaNewer, st.AppVersion, st.AppLatest)
	}
	return nil
}

// GetStatus reads the schema versions without changing anything.
func GetStatus(ctx context.Context, pool *pgxpool.Pool) (*Status, error) {
	st := &Status{}
	riverMigrator, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return nil, fmt.Errorf("create River migrator: %w", err)
	}
	all := riverMigrator.AllVersions()
	st.RiverLatest = all[len(all)-1].Version
	// Read directly rather than through rivermigrate, which fails on a
	// version it does not know instead of reporting it.
	var table *string
	if err := pool.QueryRow(ctx, `SELECT to_regclass('river_migration')::text`).Scan(&table); err != nil {
		return nil, fmt.Errorf("read River schema version: %w", err)
	}
	if table != nil {
		if err := pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM river_migration WHERE line = 'main'`).Scan(&st.RiverVersion); err != nil {
			return nil, fmt.Errorf("read River schema version: %w", err)
		}
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	provider, err := newProvider(db)
	if err != nil {
		return nil, err
	}
	if st.AppVersion, st.AppLatest, err = provider.GetVersions(ctx); err != nil {
		return nil, fmt.Errorf("read upstream schema version: %w", err)
	}
	st.PendingMigrations = st.RiverVersion < st.RiverLatest || st.AppVersion < st.AppLatest
	return st, nil
}
