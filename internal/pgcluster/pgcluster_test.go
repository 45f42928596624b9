package pgcluster

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestHelperStartCluster is not a test: it is the body of a child process
// that starts the cluster named by its environment, so that the concurrency
// test below races real processes.
func TestHelperStartCluster(t *testing.T) {
	dir := os.Getenv("UPSTREAM_TEST_HELPER_PGDATA")
	if dir == "" {
		t.Skip("helper process only")
	}
	port, _ := strconv.Atoi(os.Getenv("UPSTREAM_TEST_HELPER_PGPORT"))
	c, err := New(dir, port)
	if err != nil {
		t.Fatal(err)
	}
	c.ExtraSettings = map[string]string{"fsync": "off"}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentStartFromTwoProcessesLeavesOneServer(t *testing.T) {
	t.Parallel()
	parent, err := os.MkdirTemp("", "upstream-cluster-test-")
	if err != nil {
		t.Fatal(err)
	}
	// The PostgreSQL user must be able to reach the data directory.
	if err := os.Chmod(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(parent, "pgdata")
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(dataDir, port)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(context.Background()); err != nil {
			t.Errorf("stop: %v", err)
		}
		os.RemoveAll(parent)
	})

	var wg sync.WaitGroup
	outputs := make([][]byte, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperStartCluster$", "-test.v")
			cmd.Env = append(os.Environ(),
				"UPSTREAM_TEST_HELPER_PGDATA="+dataDir,
				"UPSTREAM_TEST_HELPER_PGPORT="+strconv.Itoa(port))
			outputs[i], errs[i] = cmd.CombinedOutput()
		})
	}
	wg.Wait()
	for i := range 2 {
		if errs[i] != nil {
			t.Fatalf("process %d failed to start the cluster: %v\n%s", i, errs[i], outputs[i])
		}
	}
	if !c.Running(context.Background()) {
		t.Fatal("cluster not running after both processes started it")
	}
	startTime := postmasterStartTime(t, c)

	// Starting again is a no-op: the same server keeps running.
	if err := c.Start(context.Background()); err != nil {
		t.Fatalf("third start: %v", err)
	}
	if again := postmasterStartTime(t, c); !again.Equal(startTime) {
		t.Fatalf("postmaster restarted by an idempotent start: %v then %v", startTime, again)
	}
	pids, err := filepath.Glob(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil || len(pids) != 1 {
		t.Fatalf("postmaster.pid files = %v (%v), want exactly one", pids, err)
	}

	if err := c.Stop(context.Background()); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if c.Running(context.Background()) {
		t.Fatal("cluster still running after stop")
	}
}

func postmasterStartTime(t *testing.T, c *Cluster) time.Time {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.URL())
	if err != nil {
		t.Fatalf("connect to %s: %v", c.URL(), err)
	}
	defer conn.Close(ctx)
	var started time.Time
	if err := conn.QueryRow(ctx, "SELECT pg_postmaster_start_time()").Scan(&started); err != nil {
		t.Fatal(err)
	}
	return started
}

func TestTemporaryClusterStopsAndCleansUp(t *testing.T) {
	t.Parallel()
	tc, err := StartTemporary(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, tc.URL())
	if err != nil {
		tc.Stop()
		t.Fatalf("connect: %v", err)
	}
	var db string
	err = conn.QueryRow(ctx, "SELECT current_database()").Scan(&db)
	conn.Close(ctx)
	if err != nil || db != DefaultDatabase {
		tc.Stop()
		t.Fatalf("current_database() = %q, %v; want %q", db, err, DefaultDatabase)
	}
	tc.Stop()
	if _, err := os.Stat(filepath.Dir(tc.DataDir)); !os.IsNotExist(err) {
		t.Fatalf("temporary directory %s still present after Stop (%v)", filepath.Dir(tc.DataDir), err)
	}
	if _, err := pgx.Connect(ctx, tc.URL()); err == nil {
		t.Fatal("server still accepting connections after Stop")
	}
}

func TestFindBinDirOrClearError(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	dir, err := FindBinDir()
	if err != nil {
		// Only acceptable when the fallback locations are empty too.
		if _, statErr := os.Stat("/usr/lib/postgresql"); statErr == nil {
			t.Fatalf("FindBinDir with an empty PATH: %v, want the /usr/lib/postgresql fallback", err)
		}
		if err != ErrNoBinaries {
			t.Fatalf("error = %v, want ErrNoBinaries", err)
		}
		return
	}
	if !hasServerBinaries(dir) {
		t.Fatalf("FindBinDir = %s, which lacks server binaries", dir)
	}
	t.Logf("found PostgreSQL binaries in %s", dir)
}

// The private cluster gets the bulk-load settings where they have
// PostgreSQL's defaults, and keeps a value its operator set.
func TestBulkLoadSettingsApplyUnlessConfigured(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tc, err := StartTemporary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Stop()
	// A reload reaches new sessions once the postmaster has processed it.
	show := func(name, want string) {
		t.Helper()
		var got string
		for range 100 {
			conn, err := pgx.Connect(ctx, tc.URL())
			if err != nil {
				t.Fatal(err)
			}
			err = conn.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&got)
			conn.Close(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got == want {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("%s = %s, want %s", name, got, want)
	}
	show("max_wal_size", "4GB")
	show("checkpoint_timeout", "15min")
	conn, err := pgx.Connect(ctx, tc.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "ALTER SYSTEM SET max_wal_size = '2GB'"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		t.Fatal(err)
	}
	show("max_wal_size", "2GB")
	fresh, err := pgx.Connect(ctx, tc.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close(ctx)
	if err := applyBulkLoadSettings(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	show("max_wal_size", "2GB")
}
