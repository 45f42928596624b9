package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/upstream-rcm/upstream/internal/ingest"
)

// era writes an interchange of 835 sets (segments with * and ~).
func era(control string, sets ...string) string {
	pad := func(s string, n int) string { return s + strings.Repeat(" ", n-len(s)) }
	var b strings.Builder
	b.WriteString("ISA*00*" + pad("", 10) + "*00*" + pad("", 10) + "*ZZ*" + pad("PAYER", 15) + "*ZZ*" + pad("CLINIC", 15) +
		"*261130*1200*^*00501*" + control + "*0*P*:~\n")
	b.WriteString("GS*HP*PAYER*CLINIC*20261130*1200*1*X*005010X221A1~\n")
	for i, body := range sets {
		segs := strings.Split(body, "~")
		st := fmt.Sprintf("%04d", i+1)
		b.WriteString("ST*835*" + st + "~\n" + strings.Join(segs, "~\n") + "~\nSE*" + fmt.Sprint(len(segs)+2) + "*" + st + "~\n")
	}
	b.WriteString(fmt.Sprintf("GE*%d*1~\nIEA*1*%s~\n", len(sets), control))
	return b.String()
}

const eraHeader = "BPR*I*100*C*ACH~TRN*1*1*1~DTM*405*20261120~N1*PR*ACME HEALTH*XV*P01~LX*1~"

// An 835 upload stores one record per service line with the remittance's
// identity; a set that cannot be mapped is rejected alone (a row error
// naming it); fallbacks and skipped claims are warnings; a broken envelope
// refuses the file naming its segment and stores nothing.
func TestX12UploadsStoreServiceLines(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	cust := e.customer(t, "acme")
	good := eraHeader + "CLP*PCN1*1*300*200**12*CTL1~DTM*050*20261101~SVC*HC:99213*100*100~SVC*HC:99214*200*100~" +
		"CLP*PCN2*4*90*0**12*CTL2~CAS*CO*50*90~DTM*232*20261102~SVC*HC:70553*90*0~" +
		"CLP*PCN3*25*50*0**12*CTL3~DTM*050*20261101"
	bad := eraHeader + "CLP*PCN4*1*10*10**12*CTL4~DTM*050*20261101~SVC*HC:99213*ten*10"
	up, err := e.uploader.Upload(ctx, cust, "era.835", strings.NewReader(era("000000001", good, bad)), &ingest.UploadOptions{AllowRejects: true})
	if err != nil {
		t.Fatal(err)
	}
	if up.Accepted != 3 || up.Rejected != 1 || up.New != 3 || !strings.Contains(up.Errors[0].Field, "transaction set 0002") ||
		!strings.Contains(up.Errors[0].Message, `SVC02: "ten" is not an amount`) {
		t.Fatalf("upload %+v: want 3 lines stored and set 0002 rejected naming its bad amount", up)
	}
	var notices []string
	for _, n := range up.Notices {
		notices = append(notices, string(n.Code)+": "+n.Message)
	}
	if len(notices) != 3 || !strings.HasPrefix(notices[1], "submitted_fallback: 1 of 3 claims have no received date") ||
		!strings.HasPrefix(notices[2], "not_adjudicated: skipped 1 predeterminations and 0 claims forwarded") {
		t.Fatalf("notices %q, want (no mappings,) the statement-date fallback and the skipped predetermination", notices)
	}
	rows, err := e.pool.Query(ctx, `SELECT claim_id, cpt, outcome, coalesce(denial_reason_code, ''), submitted_date::text, decided_date::text,
		coalesce(charge_amount::text, ''), source_row FROM claim_records WHERE customer_id = $1 ORDER BY source_row`, cust)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var id, cpt, outcome, reason, sub, dec, charge string
		var row int
		if err := rows.Scan(&id, &cpt, &outcome, &reason, &sub, &dec, &charge, &row); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s %s %s %s %s %s %s", id, cpt, outcome, reason, sub, dec, charge))
	}
	want := []string{"P01|CTL1|1 99213 PAID  2026-11-01 2026-11-20 100.00", "P01|CTL1|2 99214 PAID  2026-11-01 2026-11-20 200.00",
		"P01|CTL2|1 70553 DENIED CO-50 2026-11-02 2026-11-20 90.00"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("stored:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Overlong elements reject their set, naming the segment.
	long := eraHeader + "CLP*PCN5*1*10*10**12*CTL5~DTM*050*20261101~SVC*HC:" + strings.Repeat("9", 30) + "*10*10"
	up, err = e.uploader.Upload(ctx, cust, "long.835", strings.NewReader(era("000000004", good, long)), &ingest.UploadOptions{AllowRejects: true})
	if err != nil || up.Rejected != 1 || !strings.Contains(up.Errors[0].Message, "SVC01 is 30 bytes, more than 20") {
		t.Fatalf("overlong CPT: %+v, %v; want its set rejected naming SVC01", up, err)
	}
	// A broken envelope refuses the whole file, naming the segment.
	broken := strings.Replace(era("000000002", good), "IEA*1*000000002", "IEA*1*000000009", 1)
	_, err = e.uploader.Upload(ctx, cust, "broken.835", strings.NewReader(broken), nil)
	var he *ingest.HeaderError
	if !errors.As(err, &he) || !strings.Contains(err.Error(), "IEA02") || !strings.Contains(err.Error(), "segment") {
		t.Fatalf("broken envelope: %v, want a refusal naming the IEA segment", err)
	}
	// --format forces the reader; a claim id column means nothing to an 835.
	if _, err := e.uploader.Upload(ctx, cust, "x.csv", strings.NewReader("payer,cpt\n"), &ingest.UploadOptions{Format: ingest.FormatX12}); err == nil {
		t.Fatal("a CSV read as X12 was accepted")
	}
	if _, err := e.uploader.Upload(ctx, cust, "y.835", strings.NewReader(era("000000003", good)), &ingest.UploadOptions{ClaimIDColumn: "id"}); !errors.As(err, &he) {
		t.Fatalf("claim id column with an 835: %v", err)
	}
	var stored int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM claim_records WHERE customer_id = $1`, cust).Scan(&stored); err != nil || stored != 6 {
		t.Fatalf("%d rows stored after the refusals (%v), want the two uploads' 3 each", stored, err)
	}
}

// A reversal (CLP02 22) is not a claim and not a denial: it withdraws the
// final outcome of the claim it reverses (a version that does not count),
// the initial adjudication stays, and the correction that follows is the
// claim's final outcome.
func TestX12ReversalWithdrawsTheFinalOutcome(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	cust := e.customer(t, "acme")
	hdr := func(day string) string {
		return "BPR*I*100*C*ACH~TRN*1*1*1~DTM*405*" + day + "~N1*PR*ACME HEALTH*XV*P01~LX*1~"
	}
	claimAs := func(status, charge, paid string) string {
		return "CLP*PCN9*" + status + "*" + charge + "*" + paid + "**12*CTL9~DTM*050*20261101~SVC*HC:99213*" + charge + "*" + paid
	}
	outcomes := func() string {
		var initial, final string
		if err := e.pool.QueryRow(ctx, `SELECT initial_outcome, final_outcome FROM claims WHERE customer_id = $1 AND claim_id = 'P01|CTL9|1'`, cust).
			Scan(&initial, &final); err != nil {
			t.Fatal(err)
		}
		return initial + " -> " + final
	}
	if _, err := e.uploader.Upload(ctx, cust, "1.835", strings.NewReader(era("000000001", hdr("20261110")+claimAs("4", "100", "0")+"~CAS*CO*50*100")), nil); err != nil {
		t.Fatal(err)
	}
	up, err := e.uploader.Upload(ctx, cust, "2.835", strings.NewReader(era("000000002", hdr("20261115")+claimAs("22", "-100", "0"))), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := outcomes(); got != "DENIED -> OTHER" || up.Revised != 1 || !strings.Contains(up.Notices[len(up.Notices)-1].Message, "1 reversals withdrew") {
		t.Fatalf("after the reversal: %s (%+v), want the denial kept as initial and the final outcome withdrawn", got, up)
	}
	if _, err := e.uploader.Upload(ctx, cust, "3.835", strings.NewReader(era("000000003", hdr("20261120")+claimAs("1", "100", "90"))), nil); err != nil {
		t.Fatal(err)
	}
	if got := outcomes(); got != "DENIED -> PAID" {
		t.Fatalf("after the correction: %s, want DENIED -> PAID", got)
	}
	var counted, denied int
	if err := e.pool.QueryRow(ctx, `SELECT coalesce(sum(decided_claims), 0), coalesce(sum(decided_denied), 0) FROM claim_stats WHERE customer_id = $1`, cust).
		Scan(&counted, &denied); err != nil || counted != 1 || denied != 1 {
		t.Fatalf("statistics count %d claims, %d denied (%v); want the claim once, at its initial denial", counted, denied, err)
	}
}
