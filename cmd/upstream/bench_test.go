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
// (its own process, mappings loaded) on an export of UPSTREAM_BENCH_ROWS
// rows (1M by default) shaped like a customer's, and in the same run and
// database loads the same file with psql's \copy (or, without psql, the
// same text COPY from this process) into a table with the file's columns
// and a primary key: what a user would otherwise have. It reports rows/s
// of both, their ratio and the upload process's peak RSS.
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
		export := filepath.Join(dir, "export.csv")
		if err := testfactory.WriteExportFile(export, n); err != nil {
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
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := conn.Exec(ctx, `CREATE TABLE minimal_claims (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
			claim_id text, payer text, cpt text, submitted_date date, decided_date date, outcome text,
			allowed_amount numeric(12,2), denial_reason_code text, denial_reason_text text)`); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()

		const columns = "claim_id, payer, cpt, submitted_date, decided_date, outcome, allowed_amount, denial_reason_code, denial_reason_text"
		var copyElapsed time.Duration
		how := "psql \\copy"
		if psql, err := exec.LookPath("psql"); err == nil {
			cmd := exec.Command(psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", dsn, "-c",
				fmt.Sprintf(`\copy minimal_claims (%s) FROM '%s' WITH (FORMAT csv, HEADER true)`, columns, export))
			start := time.Now()
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("psql: %v\n%s", err, out)
			}
			copyElapsed = time.Since(start)
		} else {
			how = "text COPY from this process (no psql here)"
			f, err := os.Open(export)
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			if _, err := conn.PgConn().CopyFrom(ctx, bufio.NewReaderSize(f, 1<<16),
				fmt.Sprintf("COPY minimal_claims (%s) FROM STDIN (FORMAT csv, HEADER true)", columns)); err != nil {
				b.Fatal(err)
			}
			copyElapsed = time.Since(start)
			f.Close()
		}
		var copied int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM minimal_claims`).Scan(&copied); err != nil || copied != n {
			b.Fatalf("%s copied %d rows (%v), want %d", how, copied, err, n)
		}
		conn.Close(ctx)

		st, err := os.Stat(export)
		if err != nil {
			b.Fatal(err)
		}
		uploadElapsed, usage := run("upload", "--customer", "bench", "--json", "--max-bytes", strconv.FormatInt(st.Size()+1, 10), export)
		uploadRate, copyRate := float64(n)/uploadElapsed.Seconds(), float64(n)/copyElapsed.Seconds()
		rss := float64(usage.Maxrss) / 1024 // KiB on Linux
		b.ReportMetric(uploadRate, "upload_rows/s")
		b.ReportMetric(copyRate, "copy_rows/s")
		b.ReportMetric(uploadRate/copyRate, "upload/copy")
		b.ReportMetric(rss, "upload_rss_MB")
		b.Logf("BENCHTABLE|`upstream upload` (CLI process) of %d rows, %d payers x %d CPT groups mapped, rows/s|%.0f|%s of the same file into a minimal table %.0f rows/s|%.2fx",
			n, testfactory.ExportPayers, testfactory.ExportGroups, uploadRate, how, copyRate, uploadRate/copyRate)
		b.Logf("BENCHTABLE|`upstream upload` of %d rows, peak RSS of the process, MB|%.1f|target 100|-", n, rss)
	}
}
