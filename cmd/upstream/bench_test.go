package main_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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
	n := 1_000_000
	if s := os.Getenv("UPSTREAM_BENCH_ROWS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatalf("UPSTREAM_BENCH_ROWS: %v", err)
		}
	}
	bin := buildBinary(b)
	ctx := context.Background()
	for range b.N {
		b.StopTimer()
		dsn := testdb.URL(b)
		env := append(os.Environ(), "DATABASE_URL="+dsn, "UPSTREAM_LOG_LEVEL=warn")
		dir := b.TempDir()
		history, weekly := filepath.Join(dir, "history.csv"), filepath.Join(dir, "weekly.csv")
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
