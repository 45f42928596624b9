package ingest_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/upstream-rcm/upstream/internal/ingest"

	"github.com/upstream-rcm/upstream/internal/memstat"
	"github.com/upstream-rcm/upstream/internal/testdb"
	"github.com/upstream-rcm/upstream/internal/testfactory"
)

// benchRows is the file size of the ingest benchmark (UPSTREAM_BENCH_ROWS).
func benchRows(b *testing.B) int {
	if s := os.Getenv("UPSTREAM_BENCH_ROWS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatalf("UPSTREAM_BENCH_ROWS: %v", err)
		}
		return n
	}
	return 1_000_000
}

// minimalTable is what a user would otherwise load the export into with
// psql's \copy: the file's columns, a primary key and nothing else.
const minimalTable = `CREATE TABLE bench_minimal_claims (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	claim_id text, payer text, cpt text, submitted_date date, decided_date date, outcome text,
	allowed_amount numeric(12,2), denial_reason_code text, denial_reason_text text)`

// BenchmarkUploadVersusPlainCopy uploads an n-row export through the full
// upload path (parse, validate, map, hash, COPY, statistics, request, job)
// and, in the same run and database, COPYs the same file's bytes as psql's
// \copy would (text CSV COPY) into a minimal claims table: the floor a
// user would otherwise have.
func BenchmarkUploadVersusPlainCopy(b *testing.B) {
	n := benchRows(b)
	ctx := context.Background()
	for range b.N {
		b.StopTimer()
		e := envForPool(b, testdb.New(b))
		cust := e.customer(b, fmt.Sprintf("bench-%d", time.Now().UnixNano()))
		payers, groups := testfactory.ExportMappings()
		if _, err := ingest.ReplaceMappings(ctx, e.pool, cust, strings.NewReader(payers), strings.NewReader(groups)); err != nil {
			b.Fatal(err)
		}
		if _, err := e.pool.Exec(ctx, minimalTable); err != nil {
			b.Fatal(err)
		}
		path := filepath.Join(b.TempDir(), "export.csv")
		if err := testfactory.WriteExportFile(path, n); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()

		file, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		conn, err := e.pool.Acquire(ctx)
		if err != nil {
			b.Fatal(err)
		}
		copyStart := time.Now()
		tag, err := conn.Conn().PgConn().CopyFrom(ctx, bufio.NewReaderSize(file, 1<<16),
			"COPY bench_minimal_claims (claim_id, payer, cpt, submitted_date, decided_date, outcome, allowed_amount, denial_reason_code, denial_reason_text) FROM STDIN (FORMAT csv, HEADER true)")
		copyElapsed := time.Since(copyStart)
		conn.Release()
		file.Close()
		if err != nil || tag.RowsAffected() != int64(n) {
			b.Fatalf("plain COPY: %v (%d rows)", err, tag.RowsAffected())
		}

		file, err = os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := memstat.ResetPeakRSS(); err != nil {
			b.Skipf("peak RSS unavailable: %v", err)
		}
		uploadStart := time.Now()
		up, err := e.uploader.Upload(ctx, cust, "export.csv", file, nil)
		uploadElapsed := time.Since(uploadStart)
		file.Close()
		if err != nil || up.Accepted != n {
			b.Fatalf("upload: %v (%+v)", err, up)
		}
		uploadRate := float64(n) / uploadElapsed.Seconds()
		copyRate := float64(n) / copyElapsed.Seconds()
		b.ReportMetric(uploadRate, "upload_rows/s")
		b.ReportMetric(copyRate, "copy_rows/s")
		b.ReportMetric(uploadRate/copyRate, "upload/copy")
		peak, err := memstat.PeakRSSMB()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(peak, "peak_rss_MB")
		b.Logf("BENCHTABLE|upload of %d rows (%d payers x %d CPT groups, mapped; parse, validate, map, hash, COPY, statistics, drivers, request, job), rows/s|%.0f|psql-style COPY of the same file into a minimal table %.0f rows/s|%.2fx",
			n, testfactory.ExportPayers, testfactory.ExportGroups, uploadRate, copyRate, uploadRate/copyRate)
		b.Logf("BENCHTABLE|upload of %d rows, peak RSS of the process, MB|%.1f|target 100|-", n, peak)
	}
}
