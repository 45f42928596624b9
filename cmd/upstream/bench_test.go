package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/upstream-rcm/upstream/internal/testdb"
	"github.com/upstream-rcm/upstream/internal/testfactory"
)

// BenchmarkCLIUploadVersusPsqlCopy runs `upstream upload` as a user does
// (its own process, mappings loaded, a worker running) on exports with
// claim ids, UPSTREAM_BENCH_ROWS rows each (1M by default) shaped like a
// customer's, in two cases: a history export whose claims are all new, then
// a weekly export of as many rows of which 90% are known (one denial in 7
// of those overturned). The floor, in the same run and database, is what a
// user would otherwise write: psql's \copy of the same file into a staging
// table, then INSERT ... SELECT ... ON CONFLICT (customer_id, claim_id) DO
// NOTHING into a table keyed by claim id. It reports each case's rows/s,
// the ratio to the floor, upload-to-results (the upload, then until its
// drift job finished) against the floor, and the upload process's peak RSS.
func BenchmarkCLIUploadVersusPsqlCopy(b *testing.B) {
	n := benchRows(b, 1_000_000)
	bin := buildBinary(b)
	ctx := context.Background()
	for range b.N {
		b.StopTimer()
		dsn := testdb.URL(b)
		env := append(os.Environ(), "DATABASE_URL="+dsn, "UPSTREAM_LOG_LEVEL=warn")
		dir := b.TempDir()
		history, weekly := writeBenchExports(b, dir, n)
		run := func(args ...string) (time.Duration, *syscall.Rusage) {
			cmd := exec.Command(bin, args...)
			cmd.Env = env
			start := time.Now()
			out, err := cmd.CombinedOutput()
			if err != nil {
				b.Fatalf("upstream %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			return time.Since(start), cmd.ProcessState.SysUsage().(*syscall.Rusage)
		}
		run("customer", "create", "bench")
		run("mappings", "load", "--customer", "bench", "--payers", filepath.Join(dir, "payers.csv"), "--cpt-groups", filepath.Join(dir, "groups.csv"))
		worker := exec.CommandContext(ctx, bin, "worker")
		worker.Env = env
		if err := worker.Start(); err != nil {
			b.Fatal(err)
		}
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := conn.Exec(ctx, floorTables); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()

		for _, c := range []struct{ name, file string }{
			{"all claims new", history},
			{"weekly export, 90% of claims known", weekly},
		} {
			floor, how := loadFloor(b, ctx, conn, dsn, c.file)
			st, err := os.Stat(c.file)
			if err != nil {
				b.Fatal(err)
			}
			uploadElapsed, usage := run("upload", "--customer", "bench", "--json", "--max-bytes", strconv.FormatInt(st.Size()+1, 10), c.file)
			waitElapsed, _ := run("jobs", "wait", "--timeout", "30m")
			uploadRate, floorRate := float64(n)/uploadElapsed.Seconds(), float64(n)/floor.Seconds()
			resultsRate := float64(n) / (uploadElapsed + waitElapsed).Seconds()
			rss := float64(usage.Maxrss) / 1024 // KiB on Linux
			b.Logf("BENCHTABLE|`upstream upload` (CLI process) of %d rows with claim ids, %s, rows/s|%.0f|%s then INSERT ... ON CONFLICT DO NOTHING into a table keyed by claim id: %.0f rows/s|%.2fx",
				n, c.name, uploadRate, how, floorRate, uploadRate/floorRate)
			b.Logf("BENCHTABLE|upload to results (upload, then its drift job), %s, rows/s|%.0f|the same floor %.0f rows/s|%.2fx",
				c.name, resultsRate, floorRate, resultsRate/floorRate)
			b.Logf("BENCHTABLE|`upstream upload` of %d rows, %s, peak RSS of the process, MB|%.1f|target 100|-", n, c.name, rss)
		}
		b.StopTimer()
		conn.Close(ctx)
		_ = worker.Process.Signal(syscall.SIGTERM)
		_ = worker.Wait()
	}
}

// floorTables are what a user would otherwise load exports into: a staging
// table with the file's columns, and claims keyed by (customer, claim id).
const floorTables = `
CREATE TABLE floor_staging (claim_id text, payer text, cpt text, submitted_date date, decided_date date, outcome text,
	allowed_amount numeric(12,2), denial_reason_code text, denial_reason_text text);
CREATE TABLE floor_claims (customer_id bigint NOT NULL, claim_id text NOT NULL, payer text, cpt text, submitted_date date,
	decided_date date, outcome text, allowed_amount numeric(12,2), denial_reason_code text, denial_reason_text text,
	PRIMARY KEY (customer_id, claim_id))`

const floorColumns = "claim_id, payer, cpt, submitted_date, decided_date, outcome, allowed_amount, denial_reason_code, denial_reason_text"

const floorInsert = `INSERT INTO floor_claims (customer_id, ` + floorColumns + `)
	SELECT 1, ` + floorColumns + ` FROM floor_staging ON CONFLICT (customer_id, claim_id) DO NOTHING`

// loadFloor loads file as the floor does and returns how long it took: psql
// \copy into the emptied staging table and the INSERT, in one psql run (or,
// without psql, the same text COPY and INSERT from this process).
func loadFloor(b *testing.B, ctx context.Context, conn *pgx.Conn, dsn, file string) (time.Duration, string) {
	if psql, err := exec.LookPath("psql"); err == nil {
		cmd := exec.Command(psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", dsn, "-c", "TRUNCATE floor_staging",
			"-c", fmt.Sprintf(`\copy floor_staging (%s) FROM '%s' WITH (FORMAT csv, HEADER true)`, floorColumns, file),
			"-c", floorInsert)
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("psql: %v\n%s", err, out)
		}
		return time.Since(start), "psql \\copy into staging"
	}
	f, err := os.Open(file)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	start := time.Now()
	if _, err := conn.Exec(ctx, "TRUNCATE floor_staging"); err != nil {
		b.Fatal(err)
	}
	if _, err := conn.PgConn().CopyFrom(ctx, bufio.NewReaderSize(f, 1<<16),
		fmt.Sprintf("COPY floor_staging (%s) FROM STDIN (FORMAT csv, HEADER true)", floorColumns)); err != nil {
		b.Fatal(err)
	}
	if _, err := conn.Exec(ctx, floorInsert); err != nil {
		b.Fatal(err)
	}
	return time.Since(start), "text COPY into staging from this process (no psql here)"
}

// BenchmarkPrivateClusterBulkLoad uploads the same exports (a history
// export of UPSTREAM_BENCH_ROWS rows, 2M by default, all new claims, then a
// weekly export of as many, 90% known) into two private clusters started by
// upstream as a user's would be (fsync on), one set back to PostgreSQL's
// checkpoint defaults (max_wal_size 1GB, checkpoint_timeout 5min) and one
// with pgcluster.BulkLoadSettings. It reports each upload's rows/s, the
// ratio, and the checkpoints each forced.
func BenchmarkPrivateClusterBulkLoad(b *testing.B) {
	n := benchRows(b, 2_000_000)
	bin := buildBinary(b)
	ctx := context.Background()
	// Readable by the PostgreSQL user when upstream runs as root.
	dir, err := os.MkdirTemp("", "upstream-bulkload-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	history, weekly := writeBenchExports(b, dir, n)
	type result struct {
		rate        [2]float64
		checkpoints [2]int64
	}
	measure := func(name string, postgresDefaults bool) result {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		env := []string{"UPSTREAM_PGDATA=" + filepath.Join(dir, name, "pgdata"), "UPSTREAM_PGPORT=" + strconv.Itoa(port), "UPSTREAM_LOG_LEVEL=warn"}
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "DATABASE_URL=") && !strings.HasPrefix(kv, "UPSTREAM_") {
				env = append(env, kv)
			}
		}
		run := func(args ...string) time.Duration {
			cmd := exec.Command(bin, args...)
			cmd.Env = env
			start := time.Now()
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("upstream %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			return time.Since(start)
		}
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			b.Fatal(err)
		}
		run("customer", "create", "bench")
		defer run("db", "stop")
		conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/upstream?sslmode=disable", port))
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close(ctx)
		if postgresDefaults {
			for _, stmt := range []string{"ALTER SYSTEM RESET max_wal_size", "ALTER SYSTEM RESET min_wal_size",
				"ALTER SYSTEM RESET checkpoint_timeout", "SELECT pg_reload_conf()"} {
				if _, err := conn.Exec(ctx, stmt); err != nil {
					b.Fatal(err)
				}
			}
			time.Sleep(time.Second) // the reload reaches the checkpointer
		}
		var maxWAL string
		if err := conn.QueryRow(ctx, "SHOW max_wal_size").Scan(&maxWAL); err != nil {
			b.Fatal(err)
		}
		run("mappings", "load", "--customer", "bench", "--payers", filepath.Join(dir, "payers.csv"), "--cpt-groups", filepath.Join(dir, "groups.csv"))
		var r result
		// Checkpoints as the server logs them (log_checkpoints is on by
		// default): "checkpoint starting: wal" is one that WAL volume forced.
		logFile := filepath.Join(dir, name, "pgdata", "server.log")
		checkpoints := func() int64 {
			out, err := os.ReadFile(logFile)
			if err != nil {
				b.Fatal(err)
			}
			return int64(strings.Count(string(out), "checkpoint starting:"))
		}
		for i, file := range []string{history, weekly} {
			before := checkpoints()
			var walBefore string
			if err := conn.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&walBefore); err != nil {
				b.Fatal(err)
			}
			st, err := os.Stat(file)
			if err != nil {
				b.Fatal(err)
			}
			elapsed := run("upload", "--customer", "bench", "--json", "--max-bytes", strconv.FormatInt(st.Size()+1, 10), file)
			var walMB float64
			if err := conn.QueryRow(ctx, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn) / 1048576", walBefore).Scan(&walMB); err != nil {
				b.Fatal(err)
			}
			r.rate[i], r.checkpoints[i] = float64(n)/elapsed.Seconds(), checkpoints()-before
			b.Logf("%s (max_wal_size %s): upload %d: %.0f rows/s, %d checkpoints, %.0f MB of WAL in %.0f s", name, maxWAL, i+1, r.rate[i],
				r.checkpoints[i], walMB, elapsed.Seconds())
		}
		return r
	}
	for range b.N {
		before := measure("postgres-defaults", true)
		after := measure("bulk-load-settings", false)
		for i, c := range []string{"all claims new", "weekly export, 90% of claims known"} {
			b.Logf("BENCHTABLE|private cluster, `upstream upload` of %d rows, %s, with bulk-load settings, rows/s (checkpoints)|%.0f (%d)|PostgreSQL's checkpoint defaults: %.0f rows/s (%d checkpoints)|%.2fx",
				n, c, after.rate[i], after.checkpoints[i], before.rate[i], before.checkpoints[i], after.rate[i]/before.rate[i])
		}
	}
}

// BenchmarkServeConcurrentUploads measures the peak RSS of `upstream
// serve` while it takes uploads of UPSTREAM_BENCH_ROWS rows (1M by
// default, claim ids, all new) through the API: one upload alone in one
// server, then --max-uploads (4) at once, for four customers, in a second
// server with the same settings. It reports both peaks, their ratio, and
// the 4-upload peak against the server's soft memory limit
// (UPSTREAM_BENCH_MEMORY_LIMIT_MB, 512 by default, as serve's).
func BenchmarkServeConcurrentUploads(b *testing.B) {
	n := benchRows(b, 1_000_000)
	limitMB := "512"
	if s := os.Getenv("UPSTREAM_BENCH_MEMORY_LIMIT_MB"); s != "" {
		limitMB = s
	}
	bin := buildBinary(b)
	file := filepath.Join(b.TempDir(), "export.csv")
	if err := testfactory.WriteExportFile(file, n); err != nil {
		b.Fatal(err)
	}
	const admin = "bench-admin-key-0123456789"
	// serveAndUpload starts a server, uploads the export for uploads
	// customers at once and returns the server's peak RSS in MB and the
	// uploads' rows/s in all.
	serveAndUpload := func(uploads int) (float64, float64) {
		dsn := testdb.URL(b)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		env := append(os.Environ(), "DATABASE_URL="+dsn, "UPSTREAM_LOG_LEVEL=warn", testSecretKeyEnv, "UPSTREAM_ADMIN_KEY="+admin)
		ids := make([]int64, uploads)
		for i := range ids {
			cmd := exec.Command(bin, "customer", "create", fmt.Sprintf("bench%d", i), "--json")
			cmd.Env = env
			out, err := cmd.Output()
			if err != nil {
				b.Fatalf("customer create: %v", err)
			}
			var c struct {
				ID int64 `json:"id"`
			}
			if err := json.Unmarshal(out, &c); err != nil {
				b.Fatalf("customer create: %v: %s", err, out)
			}
			ids[i] = c.ID
		}
		serve := exec.Command(bin, "serve", "--addr", addr, "--memory-limit-mb", limitMB, "--drift-workers", "1",
			"--max-upload-bytes", "1000000000")
		serve.Env = env
		if err := serve.Start(); err != nil {
			b.Fatal(err)
		}
		defer func() { _ = serve.Process.Signal(syscall.SIGTERM); _ = serve.Wait() }()
		for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
			if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			if time.Since(start) > 30*time.Second {
				b.Fatal("serve did not become ready")
			}
		}
		var wg sync.WaitGroup
		start := time.Now()
		for _, id := range ids {
			wg.Go(func() {
				f, err := os.Open(file)
				if err != nil {
					b.Error(err)
					return
				}
				defer f.Close()
				req, _ := http.NewRequest("POST", fmt.Sprintf("http://%s/api/v1/customers/%d/uploads?filename=export.csv", addr, id), f)
				req.Header.Set("Authorization", "Bearer "+admin)
				req.Header.Set("Content-Type", "text/csv")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				defer resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					body, _ := io.ReadAll(resp.Body)
					b.Errorf("upload for customer %d: %d %s", id, resp.StatusCode, body)
				}
			})
		}
		wg.Wait()
		elapsed := time.Since(start)
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", serve.Process.Pid))
		if err != nil {
			b.Skipf("peak RSS unavailable: %v", err)
		}
		var hwmKB float64
		for _, line := range strings.Split(string(status), "\n") {
			if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				hwmKB, _ = strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			}
		}
		return hwmKB / 1024, float64(uploads*n) / elapsed.Seconds()
	}
	for range b.N {
		one, oneRate := serveAndUpload(1)
		four, fourRate := serveAndUpload(4)
		b.Logf("BENCHTABLE|`upstream serve` peak RSS, 4 concurrent API uploads of %d rows each (memory limit %s MiB), MB|%.0f|one upload alone: %.0f MB|%.2fx", n, limitMB, four, one, four/one)
		b.Logf("BENCHTABLE|the same 4 uploads, rows/s in all|%.0f|one upload alone: %.0f rows/s|%.2fx", fourRate, oneRate, fourRate/oneRate)
	}
}

// benchRows is UPSTREAM_BENCH_ROWS, or def.
func benchRows(b *testing.B, def int) int {
	s := os.Getenv("UPSTREAM_BENCH_ROWS")
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		b.Fatalf("UPSTREAM_BENCH_ROWS: %q is not a row count", s)
	}
	return n
}

// writeBenchExports writes a history export and a weekly export of n rows
// each, and the mappings (payers.csv, groups.csv), into dir.
func writeBenchExports(b *testing.B, dir string, n int) (history, weekly string) {
	history, weekly = filepath.Join(dir, "history.csv"), filepath.Join(dir, "weekly.csv")
	if err := testfactory.WriteExportFile(history, n); err != nil {
		b.Fatal(err)
	}
	if err := testfactory.WriteWeeklyExportFile(weekly, n); err != nil {
		b.Fatal(err)
	}
	payers, groups := testfactory.ExportMappings()
	for name, body := range map[string]string{"payers.csv": payers, "groups.csv": groups} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return history, weekly
}
