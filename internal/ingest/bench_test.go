package ingest_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/upstream-rcm/upstream/internal/ingest"

	"github.com/upstream-rcm/upstream/internal/memstat"
	"github.com/upstream-rcm/upstream/internal/testdb"
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

// Realistic cardinality for the ingest benchmark: 30 payers (each under
// two raw spellings, mapped), 12 CPT groups of 4 codes (mapped), claims
// submitted over a year and decided 0 to 90 days later, a fifth denied
// under 8 reason codes.
const (
	benchPayers = 30
	benchGroups = 12
)

// benchMappings returns the payer and CPT group mapping files of the
// benchmark's export.
func benchMappings() (payers, groups string) {
	var p, g strings.Builder
	p.WriteString("raw_name,normalized_name\n")
	for i := range benchPayers {
		fmt.Fprintf(&p, "PAYER %02d INC,Payer %02d\n", i, i)
	}
	g.WriteString("cpt,cpt_group\n")
	for i := range benchGroups * 4 {
		fmt.Fprintf(&g, "%05d,Group %02d\n", 90000+i, i/4)
	}
	return p.String(), g.String()
}

// writeBenchCSV writes, without holding it in memory, an export of n rows
// shaped like a customer's (see benchPayers).
func writeBenchCSV(b *testing.B, path string, n int) {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<16)
	w.WriteString("claim_id,payer,cpt,submitted_date,decided_date,outcome,allowed_amount,denial_reason_code,denial_reason_text\n")
	rng := rand.New(rand.NewPCG(uint64(n), 15))
	start := time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC)
	reasons := []string{"CO-16,Claim lacks information", "CO-18,Duplicate claim", "CO-45,Charge exceeds fee schedule",
		"CO-50,Not medically necessary", "CO-97,Bundled", "CO-197,Precertification absent", "PR-1,Deductible", "PR-204,Not covered"}
	for i := range n {
		payer := rng.IntN(benchPayers)
		raw := fmt.Sprintf("Payer %02d", payer)
		if rng.IntN(2) == 0 {
			raw = fmt.Sprintf("PAYER %02d INC", payer)
		}
		sub := start.AddDate(0, 0, rng.IntN(365))
		// Decision times skewed towards weeks, up to 90 days.
		dec := sub.AddDate(0, 0, min(90, rng.IntN(20)+rng.IntN(20)*rng.IntN(4)))
		outcome, reason := "PAID", ","
		if rng.IntN(5) == 0 {
			outcome, reason = "DENIED", reasons[rng.IntN(len(reasons))]
		}
		fmt.Fprintf(w, "C%09d,%s,%05d,%s,%s,%s,%d.%02d,%s\n", i, raw, 90000+rng.IntN(benchGroups*4), sub.Format(time.DateOnly),
			dec.Format(time.DateOnly), outcome, 40+rng.IntN(2000), rng.IntN(100), reason)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
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
		payers, groups := benchMappings()
		if _, err := ingest.ReplaceMappings(ctx, e.pool, cust, strings.NewReader(payers), strings.NewReader(groups)); err != nil {
			b.Fatal(err)
		}
		if _, err := e.pool.Exec(ctx, minimalTable); err != nil {
			b.Fatal(err)
		}
		path := filepath.Join(b.TempDir(), "export.csv")
		writeBenchCSV(b, path, n)
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
		up, err := e.uploader.Upload(ctx, cust, "export.csv", file)
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
			n, benchPayers, benchGroups, uploadRate, copyRate, uploadRate/copyRate)
		b.Logf("BENCHTABLE|upload of %d rows, peak RSS of the process, MB|%.1f|target 100|-", n, peak)
	}
}
