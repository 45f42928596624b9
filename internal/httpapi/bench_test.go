package httpapi_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/upstream-rcm/upstream/internal/httpapi"
	"github.com/upstream-rcm/upstream/internal/memstat"
)

// BenchmarkAPIUpload streams a generated CSV body (UPSTREAM_BENCH_UPLOAD_MB,
// default 200 MB) through the HTTP upload endpoint and reports throughput
// and this process's peak RSS: client, server and ingestion together hold
// only buffers, never the file.
func BenchmarkAPIUpload(b *testing.B) {
	sizeMB := 200
	if s := os.Getenv("UPSTREAM_BENCH_UPLOAD_MB"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		sizeMB = n
	}
	for i := range b.N {
		b.StopTimer()
		e := newAPIForBench(b)
		id, key := e.customerWithKey(fmt.Sprintf("bench-%d", i))
		body, rows := generatedBody(int64(sizeMB) << 20)
		req, err := http.NewRequest("POST", fmt.Sprintf("%s/api/v1/customers/%d/uploads?filename=big.csv", e.url, id), body)
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "text/csv")
		if err := memstat.ResetPeakRSS(); err != nil {
			b.Skipf("peak RSS unavailable: %v", err)
		}
		b.StartTimer()
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		elapsed := time.Since(start)
		b.StopTimer()
		if resp.StatusCode != 201 {
			b.Fatalf("upload: %d %s", resp.StatusCode, out)
		}
		peak, err := memstat.PeakRSSMB()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(sizeMB)/elapsed.Seconds(), "MB/s")
		b.ReportMetric(float64(*rows)/elapsed.Seconds(), "rows/s")
		b.ReportMetric(peak, "peak_rss_MB")
		b.Logf("BENCHTABLE|API upload of %d MB (%d rows), client + server peak RSS, MB|%.1f|-|-", sizeMB, *rows, peak)
		b.Logf("BENCHTABLE|API upload of %d MB, rows/s|%.0f|-|-", sizeMB, float64(*rows)/elapsed.Seconds())
	}
}

// generatedBody produces a valid claims CSV of about size bytes on the fly.
func generatedBody(size int64) (io.Reader, *int) {
	pr, pw := io.Pipe()
	rows := new(int)
	go func() {
		w := bufio.NewWriterSize(pw, 64<<10)
		written, _ := w.WriteString("payer,cpt,submitted_date,decided_date,outcome,allowed_amount\n")
		total := int64(written)
		base := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
		for i := 0; total < size; i++ {
			sub := base.AddDate(0, 0, i%170)
			n, _ := fmt.Fprintf(w, "Payer %d,9921%d,%s,%s,%s,%d.%02d\n", i%8, i%6, sub.Format(time.DateOnly),
				sub.AddDate(0, 0, 3+i%20).Format(time.DateOnly), []string{"PAID", "DENIED", "PAID"}[i%3], 50+i%900, i%100)
			total += int64(n)
			*rows++
		}
		pw.CloseWithError(w.Flush())
	}()
	return pr, rows
}

func newAPIForBench(b *testing.B) *apiEnv {
	b.Helper()
	return newAPI(b, func(c *httpapi.Config) { c.MaxUploadBytes = 1 << 30 })
}
