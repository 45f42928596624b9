package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/upstream-rcm/upstream/internal/ingest"
	"github.com/upstream-rcm/upstream/internal/store"
)

// Claim ids come from claim_id or the column ClaimIDColumn names (CLI
// --claim-id-column, API claim_id_column); the summary counts new,
// revised and unchanged claims; a missing id column, an empty id or an
// overlong one is said, not guessed.
func TestClaimIDsCountClaimsNewRevisedAndUnchanged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	cust := e.customer(t, "acme")
	first := "ClaimNo,payer,cpt,submitted_date,decided_date,outcome\n" +
		"A1,Aetna,99213,2026-03-01,2026-03-10,DENIED\n" +
		"A2,Aetna,99213,2026-03-02,2026-03-11,PAID\n" +
		"A3,Aetna,99213,2026-03-03,2026-03-12,PAID\n" +
		"A3,Aetna,99214,2026-03-03,2026-03-12,PAID\n" // a correction within the file
	up, err := e.uploader.Upload(ctx, cust, "first.csv", strings.NewReader(first), &ingest.UploadOptions{ClaimIDColumn: "claimno"})
	if err != nil || up.New != 3 || up.Revised != 0 || up.Unchanged != 0 || up.Accepted != 4 {
		t.Fatalf("first export: %+v, %v; want 3 new claims from 4 rows", up, err)
	}
	second := "claim_id,payer,cpt,submitted_date,decided_date,outcome\n" +
		"A1,Aetna,99213,2026-03-01,2026-04-20,PAID\n" + // the appeal: a later decision
		"A2,Aetna,99213,2026-03-02,2026-03-11,PAID\n" + // a repeat
		"A4,Aetna,99213,2026-03-04,2026-03-14,PAID\n"
	up, err = e.uploader.Upload(ctx, cust, "second.csv", strings.NewReader(second), nil)
	if err != nil || up.New != 1 || up.Revised != 1 || up.Unchanged != 1 {
		t.Fatalf("second export: %+v, %v; want 1 new, 1 revised, 1 unchanged", up, err)
	}
	var initial, final string
	if err := e.pool.QueryRow(ctx, `SELECT initial_outcome, final_outcome FROM claims WHERE customer_id = $1 AND claim_id = 'A1'`, cust).Scan(&initial, &final); err != nil ||
		initial != "DENIED" || final != "PAID" {
		t.Fatalf("A1 initially %s, finally %s (%v); want DENIED then PAID", initial, final, err)
	}
	stored, err := ingest.GetUpload(ctx, store.New(e.pool), cust, up.ID)
	if err != nil || stored.ClaimCounts != up.ClaimCounts {
		t.Fatalf("stored counts %+v (%v), want %+v", stored.ClaimCounts, err, up.ClaimCounts)
	}

	_, err = e.uploader.Upload(ctx, cust, "third.csv", strings.NewReader(first), &ingest.UploadOptions{ClaimIDColumn: "Claim Number"})
	if !errors.As(err, new(*ingest.HeaderError)) || !strings.Contains(err.Error(), `"Claim Number"`) || !strings.Contains(err.Error(), `"ClaimNo"`) {
		t.Fatalf("a claim id column the file lacks: %v; want a header error naming it and the columns found", err)
	}
	bad := "claim_id,payer,cpt,submitted_date,decided_date,outcome\n" +
		",Aetna,99213,2026-03-01,2026-03-10,PAID\n" +
		strings.Repeat("X", 65) + ",Aetna,99213,2026-03-01,2026-03-10,PAID\n" +
		"B1,Aetna,99213,2026-03-01,2026-03-10,PAID\n" +
		"B2,Aetna,99213,2026-03-01,2026-03-10,PAID\n" +
		"B3,Aetna,99213,2026-03-01,2026-03-10,PAID\n"
	up, err = e.uploader.Upload(ctx, cust, "bad.csv", strings.NewReader(bad), nil)
	if err != nil || up.Rejected != 2 || up.Errors[0].Field != "claim_id" || up.Errors[1].Field != "claim_id" || !strings.Contains(up.Errors[1].Message, "more than 64") {
		t.Fatalf("empty and overlong ids: %+v, %v; want both rows rejected naming claim_id", up, err)
	}
}

// A file naming more payers than an upload tracks in memory (one per row,
// as a hostile file may) still records its spans, from the stored rows, and
// an overlapping file of one of them is still refused.
func TestOverlapCheckHoldsPastTheTrackedPayers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	cust := e.customer(t, "acme")
	var b strings.Builder
	b.WriteString("payer,cpt,submitted_date,decided_date,outcome\n")
	for i := range 10_050 {
		fmt.Fprintf(&b, "Payer %05d,99213,2026-03-01,2026-03-10,PAID\n", i)
	}
	if _, err := e.uploader.Upload(ctx, cust, "many.csv", strings.NewReader(b.String()), nil); err != nil {
		t.Fatal(err)
	}
	var spans int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM upload_payer_spans WHERE customer_id = $1`, cust).Scan(&spans); err != nil || spans != 10_050 {
		t.Fatalf("%d payer spans recorded (%v), want 10050", spans, err)
	}
	_, err := e.uploader.Upload(ctx, cust, "one.csv", strings.NewReader("payer,cpt,submitted_date,decided_date,outcome\nPayer 10049,99213,2026-03-02,2026-03-10,PAID\n"), nil)
	if !errors.As(err, new(*ingest.OverlapError)) {
		t.Fatalf("an overlapping file of the last payer: %v, want refused", err)
	}
}

// Versions decided on the same day compete by upload: the latest upload
// wins, as a correction, whatever order the contents come in; an
// identical repeat changes nothing. The statistics count the winner's CPT
// code, each time.
func TestSameDayVersionsTheLatestUploadWins(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	cust := e.customer(t, "acme")
	file := func(i int, cpt string) string {
		return "claim_id,payer,cpt,submitted_date,decided_date,outcome\n" +
			"A1,Aetna," + cpt + ",2026-03-03,2026-03-12,PAID\n" +
			fmt.Sprintf("Z%d,Cigna,99213,2026-03-03,2026-03-12,PAID\n", i) // a new claim: each file's digest its own
	}
	for i, step := range []struct {
		cpt                string
		revised, unchanged int
	}{
		{"99213", 0, 0},
		{"99214", 1, 0}, // a correction
		{"99213", 1, 0}, // the old version re-sent later: the latest upload wins again
		{"99215", 1, 0},
		{"99215", 0, 1}, // an identical repeat
	} {
		up, err := e.uploader.Upload(ctx, cust, fmt.Sprintf("f%d.csv", i), strings.NewReader(file(i, step.cpt)), nil)
		if err != nil {
			t.Fatalf("upload %d (%s): %v", i, step.cpt, err)
		}
		if up.Revised != step.revised || up.Unchanged != step.unchanged {
			t.Fatalf("upload %d (%s): %+v; want %d revised, %d unchanged", i, step.cpt, up.ClaimCounts, step.revised, step.unchanged)
		}
		var counted string
		var codes []string
		if err := e.pool.QueryRow(ctx, `SELECT r.cpt FROM claims cl JOIN claim_records r ON r.customer_id = cl.customer_id
			AND r.upload_id = cl.initial_upload_id AND r.source_row = cl.initial_source_row
			WHERE cl.customer_id = $1 AND cl.claim_id = 'A1'`, cust).Scan(&counted); err != nil {
			t.Fatal(err)
		}
		if err := e.pool.QueryRow(ctx, `SELECT cpt_codes FROM claim_stats WHERE customer_id = $1 AND payer = 'Aetna' AND day = '2026-03-12'`,
			cust).Scan(&codes); err != nil {
			t.Fatal(err)
		}
		if counted != step.cpt || len(codes) != 1 || codes[0] != step.cpt {
			t.Fatalf("upload %d: counted version %s, statistics' codes %v; want %s", i, counted, codes, step.cpt)
		}
	}
}

// charge_amount is read like allowed_amount ("$1,234.50"), stored, warned
// about when it is not an amount, and part of a claim's version: a later
// file that only corrects the charge revises the claim.
func TestChargeAmountIsStoredAndVersioned(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	cust := e.customer(t, "acme")
	first := "claim_id,payer,cpt,submitted_date,decided_date,outcome,allowed_amount,charge_amount\n" +
		"C1,Aetna,99213,2026-03-01,2026-03-10,PAID,80.00,\"$1,234.50\"\n" +
		"C2,Aetna,99213,2026-03-02,2026-03-11,DENIED,,lots\n"
	up, err := e.uploader.Upload(ctx, cust, "first.csv", strings.NewReader(first), nil)
	if err != nil || up.New != 2 || up.Warnings != 1 || up.WarningDetails[0].Field != "charge_amount" || up.WarningDetails[0].Row != 3 {
		t.Fatalf("first: %+v, %v; want 2 claims and a warning naming row 3's charge_amount", up, err)
	}
	charge := func(id string) string {
		t.Helper()
		var s string
		if err := e.pool.QueryRow(ctx, `SELECT coalesce(r.charge_amount::text, 'null') FROM claims c JOIN claim_records r
			ON r.customer_id = c.customer_id AND r.upload_id = c.final_upload_id AND r.source_row = c.final_source_row
			WHERE c.customer_id = $1 AND c.claim_id = $2`, cust, id).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	if c1, c2 := charge("C1"), charge("C2"); c1 != "1234.50" || c2 != "null" {
		t.Fatalf("charges %s and %s, want 1234.50 and null", c1, c2)
	}
	second := "claim_id,payer,cpt,submitted_date,decided_date,outcome,allowed_amount,charge_amount\n" +
		"C1,Aetna,99213,2026-03-01,2026-03-10,PAID,80.00,1200.00\n" + // the charge corrected
		"C2,Aetna,99213,2026-03-02,2026-03-11,DENIED,,\n" // the same version
	up, err = e.uploader.Upload(ctx, cust, "second.csv", strings.NewReader(second), nil)
	if err != nil || up.Revised != 1 || up.Unchanged != 1 || charge("C1") != "1200.00" {
		t.Fatalf("second: %+v, %v, C1 charge %s; want C1 revised to 1200.00 and C2 unchanged", up, err, charge("C1"))
	}
}
