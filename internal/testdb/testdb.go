// Package testdb gives each test its own PostgreSQL database, cloned by
// pgtestdb from a template that has River's and upstream's migrations
// applied.
//
// The server is TEST_DATABASE_URL or DATABASE_URL when set (its user must be
// a superuser, since pgtestdb creates roles and databases). Otherwise the
// test binary starts a throwaway private cluster of its own, so that
// `go test ./...` needs nothing configured and packages running in parallel
// share no state. Packages that use testdb call Main from their TestMain so
// the cluster is stopped and removed when their tests finish.
package testdb

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver pgtestdb uses
	"github.com/peterldowns/pgtestdb"

	"github.com/upstream-rcm/upstream/internal/migrate"
	"github.com/upstream-rcm/upstream/internal/pgcluster"
)

var (
	serverOnce sync.Once
	serverConf pgtestdb.Config
	serverErr  error
	temporary  *pgcluster.Temporary
)

// Main runs the package's tests and then stops the throwaway cluster, if
// one was started. Call it from TestMain: os.Exit(testdb.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if temporary != nil {
		temporary.Stop()
	}
	return code
}

// server returns the pgtestdb configuration of the server tests run
// against, starting a throwaway cluster on first use if none is configured.
func server() (pgtestdb.Config, error) {
	serverOnce.Do(func() {
		dsn := os.Getenv("TEST_DATABASE_URL")
		if dsn == "" {
			dsn = os.Getenv("DATABASE_URL")
		}
		if dsn == "" {
			temporary, serverErr = pgcluster.StartTemporary(context.Background())
			if serverErr != nil {
				serverErr = fmt.Errorf("start throwaway PostgreSQL for tests (or set TEST_DATABASE_URL): %w", serverErr)
				return
			}
			dsn = temporary.URL()
		}
		serverConf, serverErr = configFromURL(dsn)
	})
	return serverConf, serverErr
}

func configFromURL(dsn string) (pgtestdb.Config, error) {
	pc, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return pgtestdb.Config{}, fmt.Errorf("parse test database URL: %w", err)
	}
	opts := url.Values{}
	if pc.TLSConfig == nil {
		opts.Set("sslmode", "disable")
	}
	host := pc.Host
	if strings.HasPrefix(host, "/") {
		return pgtestdb.Config{}, fmt.Errorf("test database URL must use TCP, not the Unix socket %s", host)
	}
	return pgtestdb.Config{
		DriverName: "pgx",
		Host:       host,
		Port:       fmt.Sprint(pc.Port),
		User:       pc.User,
		Password:   pc.Password,
		Database:   pc.Database,
		Options:    opts.Encode(),
	}, nil
}

// Migrator builds pgtestdb's template database with every migration.
type Migrator struct{}

// Hash changes whenever River's or upstream's migrations change.
func (Migrator) Hash() (string, error) { return migrate.Hash() }

// Migrate applies River's and upstream's migrations to the template.
func (Migrator) Migrate(ctx context.Context, _ *sql.DB, conf pgtestdb.Config) error {
	pool, err := pgxpool.New(ctx, conf.URL())
	if err != nil {
		return fmt.Errorf("connect to template database: %w", err)
	}
	defer pool.Close()
	_, err = migrate.Up(ctx, pool, nil)
	return err
}

// URL returns the connection URL of a fresh, fully migrated database for
// this test. The database is dropped when the test ends.
func URL(t testing.TB) string {
	t.Helper()
	conf, err := server()
	if err != nil {
		t.Fatal(err)
	}
	return pgtestdb.Custom(t, conf, Migrator{}).URL()
}

// EmptyURL returns the connection URL of a fresh database with no
// migrations applied, dropped when the test ends.
func EmptyURL(t testing.TB) string {
	t.Helper()
	conf, err := server()
	if err != nil {
		t.Fatal(err)
	}
	return pgtestdb.Custom(t, conf, pgtestdb.NoopMigrator{}).URL()
}

// New returns a pool on a fresh, fully migrated database for this test.
// The pool is closed, and the database dropped, when the test ends.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return NewPool(t, URL(t))
}

// NewPool opens a pool on dsn that is closed when the test ends. It allows
// enough connections for tests that race many goroutines.
func NewPool(t testing.TB, dsn string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("parse test database URL: %v", err)
	}
	cfg.MaxConns = 24
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("connect to test database: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// CollatedURL returns the URL of a fresh, fully migrated database whose
// default collation is the ICU locale (e.g. "en-US"), not the test
// cluster's C: for tests of code that must not depend on the database's
// collation. It is dropped when the test ends; it skips when the server
// lacks ICU.
func CollatedURL(t testing.TB, icuLocale string) string {
	t.Helper()
	conf, err := server()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	admin, err := pgxpool.New(ctx, conf.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	name := fmt.Sprintf("collated_%d_%d", os.Getpid(), time.Now().UnixNano())
	// ICU_LOCALE takes a literal, not a parameter; the locale is the
	// caller's constant.
	if _, err := admin.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE '%s' LOCALE 'C'`,
		name, strings.ReplaceAll(icuLocale, "'", ""))); err != nil {
		t.Skipf("server cannot create an ICU database (%v)", err)
	}
	u, err := url.Parse(conf.URL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	pool, err := pgxpool.New(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	_, err = migrate.Up(ctx, pool, nil)
	pool.Close()
	if err != nil {
		t.Fatalf("migrate %s: %v", name, err)
	}
	t.Cleanup(func() {
		admin, err := pgxpool.New(context.Background(), conf.URL())
		if err != nil {
			return
		}
		defer admin.Close()
		_, _ = admin.Exec(context.Background(), fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name))
	})
	return u.String()
}
