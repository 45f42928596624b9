package ingest_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

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

// writeBenchFiles writes, without holding either in memory, an upload CSV of
// n realistic rows and the same rows as final claim_records columns for the
// baseline COPY.
func writeBenchFiles(b *testing.B, dir string, n int, customerID, uploadID int64) (upload, plain string) {
	b.Helper()
	upload, plain = filepath.Join(dir, "upload.csv"), filepath.Join(dir, "plain.csv")
	uf, err := os.Create(upload)
	if err != nil {
		b.Fatal(err)
	}
	pf, err := os.Create(plain)
	if err != nil {
		b.Fatal(err)
	}
	uw, pw := bufio.NewWriter(uf), bufio.NewWriter(pf)
	uw.WriteString("payer,cpt,submitted_date,decided_date,outcome,allowed_amount,denial_reason_code,denial_reason_text\n")
	start := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	payers := []string{"Aetna", "Cigna", "UnitedHealthcare", "Humana", "BCBS", "Kaiser", "Medicare", "Medicaid"}
	cpts := []string{"99213", "99214", "80053", "71046", "97110", "36415"}
	for i := range n {
		sub := start.AddDate(0, 0, i%170)
		dec := sub.AddDate(0, 0, 3+i%25)
		outcome, code, text := "PAID", "", ""
		if i%5 == 0 {
			outcome, code, text = "DENIED", "CO-45", "Charge exceeds fee schedule"
		}
		payer, cpt := payers[i%len(payers)], cpts[i%len(cpts)]
		amount := fmt.Sprintf("%d.%02d", 50+i%900, i%100)
		fmt.Fprintf(uw, "%s,%s,%s,%s,%s,%s,%s,%s\n", payer, cpt, sub.Format(time.DateOnly), dec.Format(time.DateOnly), outcome, amount, code, text)
		fmt.Fprintf(pw, "%d,%d,%d,%s,%s,OTHER,%s,%s,%s,%s,%s,%s\n", customerID, uploadID, i+2, payer, cpt,
			sub.Format(time.DateOnly), dec.Format(time.DateOnly), outcome, amount, code, text)
	}
	for _, w := range []*bufio.Writer{uw, pw} {
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
	}
	uf.Close()
	pf.Close()
	return upload, plain
}

// BenchmarkUploadVersusPlainCopy uploads an n-row file through the full
// upload path (parse, validate, map, hash, COPY, request, job) and, in the
// same run and database, COPYs the same rows as ready-made CSV straight into
// claim_records: the floor the upload path is measured against.
func BenchmarkUploadVersusPlainCopy(b *testing.B) {
	n := benchRows(b)
	ctx := context.Background()
	for range b.N {
		b.StopTimer()
		e := envForPool(b, testdb.New(b))
		cust := e.customer(b, fmt.Sprintf("bench-%d", time.Now().UnixNano()))
		var baselineUpload int64
		if err := e.pool.QueryRow(ctx, `INSERT INTO uploads (customer_id, filename) VALUES ($1, 'plain.csv') RETURNING id`, cust).Scan(&baselineUpload); err != nil {
			b.Fatal(err)
		}
		uploadPath, plainPath := writeBenchFiles(b, b.TempDir(), n, cust, baselineUpload)
		b.StartTimer()

		plainFile, err := os.Open(plainPath)
		if err != nil {
			b.Fatal(err)
		}
		conn, err := e.pool.Acquire(ctx)
		if err != nil {
			b.Fatal(err)
		}
		copyStart := time.Now()
		tag, err := conn.Conn().PgConn().CopyFrom(ctx, bufio.NewReaderSize(plainFile, 1<<16),
			"COPY claim_records (customer_id, upload_id, source_row, payer, cpt, cpt_group, submitted_date, decided_date, outcome, allowed_amount, denial_reason_code, denial_reason_text) FROM STDIN (FORMAT csv)")
		copyElapsed := time.Since(copyStart)
		conn.Release()
		plainFile.Close()
		if err != nil || tag.RowsAffected() != int64(n) {
			b.Fatalf("plain COPY: %v (%d rows)", err, tag.RowsAffected())
		}

		uploadFile, err := os.Open(uploadPath)
		if err != nil {
			b.Fatal(err)
		}
		if err := memstat.ResetPeakRSS(); err != nil {
			b.Skipf("peak RSS unavailable: %v", err)
		}
		uploadStart := time.Now()
		up, err := e.uploader.Upload(ctx, cust, "bench.csv", uploadFile)
		uploadElapsed := time.Since(uploadStart)
		uploadFile.Close()
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
		b.Logf("BENCHTABLE|upload of %d rows (parse, validate, map, hash, COPY, statistics, request, job), rows/s|%.0f|plain COPY of the same rows %.0f rows/s|%.2fx", n, uploadRate, copyRate, uploadRate/copyRate)
		b.Logf("BENCHTABLE|upload of %d rows, peak RSS of the process, MB|%.1f|target 100|-", n, peak)
	}
}
