// Package testfactory builds fixtures for tests of every package: customers,
// claims files, uploads through the real upload path, and report runs with
// events, in the style of River's testfactory. Fixtures go through real
// PostgreSQL; nothing here mocks the database or River.
package testfactory

import (
	"bufio"
	"context"
	cryptorand "crypto/rand"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/upstream-rcm/upstream/internal/customers"
	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/ingest"
	"github.com/upstream-rcm/upstream/internal/secrets"
	"github.com/upstream-rcm/upstream/internal/store"
	"github.com/upstream-rcm/upstream/jobs"
)

// Customer creates a customer named name and returns its id.
func Customer(tb testing.TB, pool *pgxpool.Pool, name string) int64 {
	tb.Helper()
	c, err := customers.Create(context.Background(), pool, name)
	if err != nil {
		tb.Fatalf("create customer %q: %v", name, err)
	}
	return c.ID
}

// InsertOnlyClient returns a River client that inserts upstream's jobs and
// works none: tests that check what gets enqueued, or that work jobs with
// clients of their own.
func InsertOnlyClient(tb testing.TB, pool *pgxpool.Pool) *river.Client[pgx.Tx] {
	tb.Helper()
	client, err := river.NewClient(riverpgxv5.New(pool), jobs.Config(&jobs.Deps{Pool: pool}, nil))
	if err != nil {
		tb.Fatalf("create River client: %v", err)
	}
	return client
}

// Uploader returns an uploader whose drift jobs are inserted, as an upload
// must, by an insert-only client.
func Uploader(tb testing.TB, pool *pgxpool.Pool) *ingest.Uploader {
	tb.Helper()
	return jobs.NewUploader(pool, InsertOnlyClient(tb, pool))
}

// Claim is one row of a claims file.
type Claim struct {
	Payer, CPT    string
	Submitted     time.Time
	DecisionDays  int
	Outcome       string // PAID when empty
	AllowedAmount string // empty when unset
	ReasonCode    string // denial_reason_code; empty when unset
	ReasonText    string // denial_reason_text; empty when unset
}

// ClaimsHeader is the header row ClaimsCSV writes.
const ClaimsHeader = "payer,cpt,submitted_date,decided_date,outcome,allowed_amount,denial_reason_code,denial_reason_text\n"

// ClaimsCSV renders claims as a claims file with a header row.
func ClaimsCSV(claims ...Claim) string {
	var b strings.Builder
	b.WriteString(ClaimsHeader)
	for _, c := range claims {
		outcome := c.Outcome
		if outcome == "" {
			outcome = "PAID"
		}
		fmt.Fprintf(&b, "%s,%s,%s,%s,%s,%s,%s,%s\n", c.Payer, c.CPT, c.Submitted.Format(time.DateOnly),
			c.Submitted.AddDate(0, 0, c.DecisionDays).Format(time.DateOnly), outcome, c.AllowedAmount, c.ReasonCode, c.ReasonText)
	}
	return b.String()
}

// Batch returns n copies of c, the first denied of them DENIED.
func Batch(n int, c Claim, denied int) []Claim {
	out := make([]Claim, n)
	for i := range out {
		out[i] = c
		if i < denied {
			out[i].Outcome = "DENIED"
		}
	}
	return out
}

// Synthetic returns n valid claims of payer "Payer <salt>", CPT 99213: the
// i-th submitted 1 + i%28 days before end, decided i%7 days later, denied
// when i%3 == 0, with allowed amount "<i>.25". Different salts give
// different files.
func Synthetic(n int, salt string, end time.Time) []Claim {
	out := make([]Claim, n)
	for i := range out {
		out[i] = Claim{Payer: "Payer " + salt, CPT: "99213", Submitted: end.AddDate(0, 0, -1-i%28),
			DecisionDays: i % 7, AllowedAmount: fmt.Sprintf("%d.25", i)}
		if i%3 == 0 {
			out[i].Outcome = "DENIED"
		}
	}
	return out
}

// DifferentClaims uploads fixture files without claim ids as the different
// claims they are, even where their dates overlap an earlier upload's.
var DifferentClaims = &ingest.UploadOptions{Overlap: ingest.OverlapAppend}

// Upload uploads claims for the customer through the real upload path.
func Upload(tb testing.TB, u *ingest.Uploader, customerID int64, claims ...Claim) *ingest.Upload {
	tb.Helper()
	up, err := u.Upload(context.Background(), customerID, "claims.csv", strings.NewReader(ClaimsCSV(claims...)), DifferentClaims)
	if err != nil {
		tb.Fatalf("upload %d claims: %v", len(claims), err)
	}
	return up
}

// RunOpts are the optional fields of a report run fixture.
type RunOpts struct {
	RunType    drift.RunType   // manual when empty
	Status     drift.RunStatus // success when empty
	Error      string          // required for failed runs
	AsOf       time.Time       // 2026-11-23 when zero
	ClaimsRead int64
}

// ReportRun inserts a finished report run with default parameters and
// events.
func ReportRun(tb testing.TB, pool *pgxpool.Pool, customerID int64, opts *RunOpts, events ...drift.Event) db.ReportRun {
	tb.Helper()
	ctx := context.Background()
	if opts == nil {
		opts = &RunOpts{}
	}
	runType, status, asOf := opts.RunType, opts.Status, opts.AsOf
	if runType == "" {
		runType = drift.RunManual
	}
	if status == "" {
		status = drift.RunSuccess
	}
	if asOf.IsZero() {
		asOf = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	}
	var errText *string
	if opts.Error != "" {
		errText = &opts.Error
	}
	p := drift.DefaultParams(asOf)
	w := drift.WindowsFor(p)
	var id int64
	if err := pool.QueryRow(ctx, `INSERT INTO report_runs (customer_id, run_type, as_of, baseline_days, current_days, min_volume,
			status, finished_at, error, baseline_start, baseline_end, current_start, current_end,
			groups_considered, events_created, claims_read, duration_ms)
		VALUES ($1, $2, $3, $4, $5, $6, $7, now(), $8, $9, $10, $11, $12, $13, $13, $14, 5) RETURNING id`,
		customerID, runType, asOf, p.BaselineDays, p.CurrentDays, p.MinVolume, status, errText,
		w.BaselineStart, w.BaselineEnd, w.CurrentStart, w.CurrentEnd, len(events), opts.ClaimsRead).Scan(&id); err != nil {
		tb.Fatalf("insert report run: %v", err)
	}
	for _, e := range events {
		// An event is the seed rule's unless it is marked an alert only.
		seedRule := e.SeedRule || !e.Alert
		var method *string
		var pValue, qValue *float64
		if ev := e.Evidence; ev != nil {
			method, pValue, qValue = &ev.Method, &ev.P, &ev.Q
		}
		var drivers []byte
		if e.Drivers != nil {
			var err error
			if drivers, err = json.Marshal(e.Drivers); err != nil {
				tb.Fatal(err)
			}
		}
		if _, err := pool.Exec(ctx, `INSERT INTO drift_events (customer_id, report_run_id, payer, cpt_group, drift_type,
				baseline_value, current_value, delta_value, severity, confidence,
				baseline_start, baseline_end, current_start, current_end, baseline_sample_size, current_sample_size,
				seed_rule, alert, method, p_value, q_value, drivers,
				seed_baseline_value, seed_current_value, seed_delta_value, seed_severity, seed_confidence,
				seed_baseline_sample_size, seed_current_sample_size)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22,
				-- A seed-rule event's own values are its values.
				CASE WHEN $17 THEN $6::float8 END, CASE WHEN $17 THEN $7::float8 END, CASE WHEN $17 THEN $8::float8 END,
				CASE WHEN $17 THEN $9::float8 END, CASE WHEN $17 THEN $10::float8 END,
				CASE WHEN $17 THEN $15::int END, CASE WHEN $17 THEN $16::int END)`,
			customerID, id, e.Payer, e.CPTGroup, e.Type, e.BaselineValue, e.CurrentValue, e.CurrentValue-e.BaselineValue,
			e.Severity, e.Confidence, w.BaselineStart, w.BaselineEnd, w.CurrentStart, w.CurrentEnd,
			e.BaselineSampleSize, e.CurrentSampleSize, seedRule, e.Alert, method, pValue, qValue, drivers); err != nil {
			tb.Fatalf("insert drift event: %v", err)
		}
	}
	run, err := store.New(pool).ReportRunGetByID(ctx, db.ReportRunGetByIDParams{CustomerID: customerID, ID: id})
	if err != nil {
		tb.Fatalf("read report run %d: %v", id, err)
	}
	return run
}

// Realistic cardinality for benchmarks of uploads: 30 payers (each under
// two raw spellings, mapped), 12 CPT groups of 4 codes (mapped), claims
// submitted over a year and decided 0 to 90 days later, a fifth denied
// under 8 reason codes.
const (
	ExportPayers = 30
	ExportGroups = 12
)

// ExportMappings returns the payer and CPT group mapping files of
// WriteExport's files.
func ExportMappings() (payers, groups string) {
	var p, g strings.Builder
	p.WriteString("raw_name,normalized_name\n")
	for i := range ExportPayers {
		fmt.Fprintf(&p, "PAYER %02d INC,Payer %02d\n", i, i)
	}
	g.WriteString("cpt,cpt_group\n")
	for i := range ExportGroups * 4 {
		fmt.Fprintf(&g, "%05d,Group %02d\n", 90000+i, i/4)
	}
	return p.String(), g.String()
}

// WriteExportFile writes, without holding it in memory, an export of n rows
// shaped like a customer's (see ExportPayers): claims C000000000 to n-1.
func WriteExportFile(path string, n int) error {
	return writeExport(path, func(row func(i int, appealed bool)) {
		for i := range n {
			row(i, false)
		}
	})
}

// WriteWeeklyExportFile writes the export that follows WriteExportFile's
// of n claims, as a weekly "recent decisions" export overlaps it: n rows,
// 90% of them claims the first export held (its last 90%) and 10% new ones.
// Of the known claims, one denial in 7 comes back PAID 30 days later
// (overturned on appeal, a new final version); the rest repeat exactly.
func WriteWeeklyExportFile(path string, n int) error {
	return writeExport(path, func(row func(i int, appealed bool)) {
		for i := n / 10; i < n+n/10; i++ {
			row(i, i < n && i%7 == 0)
		}
	})
}

var exportReasons = []string{"CO-16,Claim lacks information", "CO-18,Duplicate claim", "CO-45,Charge exceeds fee schedule",
	"CO-50,Not medically necessary", "CO-97,Bundled", "CO-197,Precertification absent", "PR-1,Deductible", "PR-204,Not covered"}

// writeExport writes the rows rows() asks for. Claim i's row comes from
// its own random stream, so every export that holds it repeats it exactly.
func writeExport(path string, rows func(row func(i int, appealed bool))) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<16)
	w.WriteString("claim_id,payer,cpt,submitted_date,decided_date,outcome,allowed_amount,denial_reason_code,denial_reason_text\n")
	start := time.Date(2025, 8, 1, 0, 0, 0, 0, time.UTC) // decided by 2026-11-28, appeals included
	rows(func(i int, appealed bool) {
		rng := rand.New(rand.NewPCG(uint64(i), 15))
		payer := rng.IntN(ExportPayers)
		raw := fmt.Sprintf("Payer %02d", payer)
		if rng.IntN(2) == 0 {
			raw = fmt.Sprintf("PAYER %02d INC", payer)
		}
		sub := start.AddDate(0, 0, rng.IntN(365))
		// Decision times skewed towards weeks, up to 90 days.
		dec := sub.AddDate(0, 0, min(90, rng.IntN(20)+rng.IntN(20)*rng.IntN(4)))
		outcome, reason := "PAID", ","
		if rng.IntN(5) == 0 {
			outcome, reason = "DENIED", exportReasons[rng.IntN(len(exportReasons))]
		}
		if appealed && outcome == "DENIED" {
			outcome, reason, dec = "PAID", ",", dec.AddDate(0, 0, 30)
		}
		fmt.Fprintf(w, "C%09d,%s,%05d,%s,%s,%s,%d.%02d,%s\n", i, raw, 90000+rng.IntN(ExportGroups*4), sub.Format(time.DateOnly),
			dec.Format(time.DateOnly), outcome, 40+rng.IntN(2000), rng.IntN(100), reason)
	})
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// Keyring returns a server keyring with a random key, as a deployment's
// UPSTREAM_SECRET_KEY would be.
func Keyring(tb testing.TB) *secrets.Keyring {
	tb.Helper()
	raw := make([]byte, secrets.KeySize)
	if _, err := cryptorand.Read(raw); err != nil {
		tb.Fatal(err)
	}
	k, err := secrets.NewKey(raw)
	if err != nil {
		tb.Fatal(err)
	}
	kr, err := secrets.NewKeyring(k)
	if err != nil {
		tb.Fatal(err)
	}
	return kr
}
