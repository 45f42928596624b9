package migrate_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/upstream-rcm/upstream/internal/migrate"
	"github.com/upstream-rcm/upstream/internal/testdb"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

func TestUpIsIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.NewPool(t, testdb.EmptyURL(t))

	first, err := migrate.Up(ctx, pool, nil)
	if err != nil {
		t.Fatalf("first migrate: %v", err)
	}
	if len(first.RiverVersions) == 0 || len(first.AppVersions) == 0 {
		t.Fatalf("first migrate applied river=%v app=%v, want both non-empty", first.RiverVersions, first.AppVersions)
	}
	second, err := migrate.Up(ctx, pool, nil)
	if err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	if len(second.RiverVersions) != 0 || len(second.AppVersions) != 0 {
		t.Fatalf("second migrate applied river=%v app=%v, want nothing", second.RiverVersions, second.AppVersions)
	}
	st, err := migrate.GetStatus(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if st.PendingMigrations || st.AppVersion != st.AppLatest || st.RiverVersion != st.RiverLatest {
		t.Fatalf("status after migrate = %+v, want fully migrated", st)
	}
}

// Two sessions (as two processes would) migrating one empty database at once
// must apply each migration exactly once between them and both succeed.
func TestConcurrentUpAppliesEachMigrationOnce(t *testing.T) {
	t.Parallel()
	for iteration := range 4 {
		dsn := testdb.EmptyURL(t)
		pools := []*pgxpool.Pool{testdb.NewPool(t, dsn), testdb.NewPool(t, dsn)}
		results := make([]*migrate.Result, len(pools))
		errs := make([]error, len(pools))
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range pools {
			wg.Go(func() {
				<-start
				results[i], errs[i] = migrate.Up(context.Background(), pools[i], nil)
			})
		}
		close(start)
		wg.Wait()
		appApplied := map[string]int{}
		riverApplied := map[int]int{}
		for i := range pools {
			if errs[i] != nil {
				t.Fatalf("iteration %d: migrator %d failed: %v", iteration, i, errs[i])
			}
			for _, v := range results[i].AppVersions {
				appApplied[v]++
			}
			for _, v := range results[i].RiverVersions {
				riverApplied[v]++
			}
		}
		entries, err := os.ReadDir("../../schema")
		if err != nil {
			t.Fatal(err)
		}
		wantApp := 0
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".sql") {
				wantApp++
				if appApplied[e.Name()] != 1 {
					t.Errorf("iteration %d: %s applied %d times, want exactly once", iteration, e.Name(), appApplied[e.Name()])
				}
			}
		}
		if len(appApplied) != wantApp {
			t.Errorf("iteration %d: applied %v, want the %d schema files", iteration, appApplied, wantApp)
		}
		for v, n := range riverApplied {
			if n != 1 {
				t.Errorf("iteration %d: River migration %d applied %d times", iteration, v, n)
			}
		}
	}
}

// TestHelperMigrate is not a test: it is the body of a child process that
// migrates the database named by its environment.
func TestHelperMigrate(t *testing.T) {
	dsn := os.Getenv("UPSTREAM_TEST_HELPER_MIGRATE_DSN")
	if dsn == "" {
		t.Skip("helper process only")
	}
	pool := testdb.NewPool(t, dsn)
	res, err := migrate.Up(context.Background(), pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("APPLIED %d %d\n", len(res.RiverVersions), len(res.AppVersions))
}

// Two processes migrating one empty database at once both succeed, and
// between them apply every migration exactly once.
func TestTwoProcessesMigrateAtOnce(t *testing.T) {
	t.Parallel()
	dsn := testdb.EmptyURL(t)
	var wg sync.WaitGroup
	outputs := make([][]byte, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperMigrate$", "-test.v")
			cmd.Env = append(os.Environ(), "UPSTREAM_TEST_HELPER_MIGRATE_DSN="+dsn)
			outputs[i], errs[i] = cmd.CombinedOutput()
		})
	}
	wg.Wait()
	var river, app int
	for i := range 2 {
		if errs[i] != nil {
			t.Fatalf("process %d: %v\n%s", i, errs[i], outputs[i])
		}
		var r, a int
		for _, line := range strings.Split(string(outputs[i]), "\n") {
			if _, err := fmt.Sscanf(line, "APPLIED %d %d", &r, &a); err == nil {
				break
			}
		}
		river, app = river+r, app+a
	}
	st, err := migrate.GetStatus(context.Background(), testdb.NewPool(t, dsn))
	if err != nil {
		t.Fatal(err)
	}
	if river != st.RiverLatest || int64(app) != st.AppLatest || st.PendingMigrations {
		t.Fatalf("processes applied %d River and %d upstream migrations, status %+v; want each exactly once", river, app, st)
	}
}

// A database a newer upstream (or River) migrated is refused, not
// misread.
func TestUpRefusesANewerSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, bump := range map[string]string{
		"upstream": `INSERT INTO goose_db_version (version_id, is_applied) VALUES (999, true)`,
		"River":    `INSERT INTO river_migration (line, version) VALUES ('main', 999)`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pool := testdb.NewPool(t, testdb.EmptyURL(t))
			if _, err := migrate.Up(ctx, pool, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := pool.Exec(ctx, bump); err != nil {
				t.Fatal(err)
			}
			_, err := migrate.Up(ctx, pool, nil)
			if !errors.Is(err, migrate.ErrSchemaNewer) || !strings.Contains(err.Error(), "999") {
				t.Fatalf("Up on a newer %s schema: %v, want ErrSchemaNewer naming version 999", name, err)
			}
			st, err := migrate.GetStatus(ctx, pool)
			if err != nil || !errors.Is(st.CheckNotNewer(), migrate.ErrSchemaNewer) {
				t.Fatalf("status check: %+v, %v", st, err)
			}
		})
	}
}
