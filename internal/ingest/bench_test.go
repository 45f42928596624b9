package ingest_test

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/upstream-rcm/upstream/internal/ingest"
	"github.com/upstream-rcm/upstream/internal/x12"

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

// BenchmarkX12UploadVersusCSV uploads the same claims as a CSV export and
// as X12 835 remittances (a transaction set per payer and decision day),
// each into a customer of its own, in the same run and database: the goal
// is the CSV path's rows per second, within the same memory bound.
func BenchmarkX12UploadVersusCSV(b *testing.B) {
	n := benchRows(b)
	ctx := context.Background()
	for range b.N {
		b.StopTimer()
		e := envForPool(b, testdb.New(b))
		csvPath := filepath.Join(b.TempDir(), "export.csv")
		if err := testfactory.WriteExportFile(csvPath, n); err != nil {
			b.Fatal(err)
		}
		x12Path := filepath.Join(b.TempDir(), "export.835")
		if err := csvTo835(csvPath, x12Path); err != nil {
			b.Fatal(err)
		}
		payers, groups := testfactory.ExportMappings()
		upload := func(path string) (float64, float64, *ingest.Upload) {
			cust := e.customer(b, filepath.Base(path)+fmt.Sprint(time.Now().UnixNano()))
			if _, err := ingest.ReplaceMappings(ctx, e.pool, cust, strings.NewReader(payers), strings.NewReader(groups)); err != nil {
				b.Fatal(err)
			}
			f, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			debug.FreeOSMemory() // the setup's memory (the remittances written) is not the upload's
			if err := memstat.ResetPeakRSS(); err != nil {
				b.Skipf("peak RSS unavailable: %v", err)
			}
			b.StartTimer()
			start := time.Now()
			up, err := e.uploader.Upload(ctx, cust, filepath.Base(path), f, nil)
			elapsed := time.Since(start)
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			peak, err := memstat.PeakRSSMB()
			if err != nil {
				b.Fatal(err)
			}
			return float64(up.Accepted) / elapsed.Seconds(), peak, up
		}
		csvRate, csvPeak, csvUp := upload(csvPath)
		x12Rate, x12Peak, x12Up := upload(x12Path)
		if x12Up.Accepted != csvUp.Accepted || x12Up.New != csvUp.New {
			b.Fatalf("835 stored %d lines (%d claims), CSV %d rows (%d claims)", x12Up.Accepted, x12Up.New, csvUp.Accepted, csvUp.New)
		}
		b.ReportMetric(x12Rate, "x12_rows/s")
		b.ReportMetric(csvRate, "csv_rows/s")
		b.Logf("BENCHTABLE|upload of %d service lines as X12 835, rows/s|%.0f|the same claims as CSV %.0f rows/s|%.2fx", n, x12Rate, csvRate, x12Rate/csvRate)
		b.Logf("BENCHTABLE|upload of %d service lines as X12 835, peak RSS of the process, MB|%.1f|the CSV upload %.1f MB|-", n, x12Peak, csvPeak)
	}
}

// csvTo835 rewrites testfactory's export as 835 remittances.
func csvTo835(csvPath, x12Path string) error {
	in, err := os.Open(csvPath)
	if err != nil {
		return err
	}
	defer in.Close()
	r := csv.NewReader(bufio.NewReader(in))
	header, err := r.Read()
	if err != nil {
		return err
	}
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	var remits []x12.Remit
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		sub, err1 := time.Parse(time.DateOnly, rec[col["submitted_date"]])
		dec, err2 := time.Parse(time.DateOnly, rec[col["decided_date"]])
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		n := ingest.ParseAmount(rec[col["allowed_amount"]])
		cents := int64(0)
		if n.Valid {
			cents = n.Int.Int64()
		}
		payer := rec[col["payer"]]
		remits = append(remits, x12.Remit{ClaimID: rec[col["claim_id"]], Payer: payer, PayerID: payer, CPT: rec[col["cpt"]],
			Submitted: sub, Decided: dec, Denied: rec[col["outcome"]] == "DENIED", Reason: rec[col["denial_reason_code"]],
			Charge: cents, Allowed: cents})
	}
	out, err := os.Create(x12Path)
	if err != nil {
		return err
	}
	if err := x12.WriteRemittances(out, remits, 0); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
