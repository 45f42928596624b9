package worklist_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/ingest"
	"github.com/upstream-rcm/upstream/internal/store"
	"github.com/upstream-rcm/upstream/internal/testdb"
	"github.com/upstream-rcm/upstream/internal/testfactory"
	"github.com/upstream-rcm/upstream/internal/worklist"
)

var asOf = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)

// version is one row written to an upload.
type version struct {
	id                  string // "" for a claim of its own
	upload              int64
	row                 int
	submitted, decided  time.Time
	outcome, code, text string
	allowed             string
}

// The worklist lists exactly the claims the statistics count in the
// alert's window, each at its initial version with its final outcome:
// checked against the same claims worked out by hand from every version
// written (ids revised by a later upload, claims without ids), page by
// page, with the denied filter, the baseline window and bad requests.
func TestWorklistListsTheCountedClaimsWithTheirFinalOutcome(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	cust := testfactory.Customer(t, pool, "acme")
	up := testfactory.Uploader(t, pool)
	rng := rand.New(rand.NewPCG(3, 3))
	var all []version
	upload := func(name string, withIDs bool, rows []version) {
		t.Helper()
		var b bytes.Buffer
		if withIDs {
			b.WriteString("claim_id,")
		}
		b.WriteString("payer,cpt,submitted_date,decided_date,outcome,allowed_amount,denial_reason_code,denial_reason_text\n")
		for _, v := range rows {
			if withIDs {
				b.WriteString(v.id + ",")
			}
			fmt.Fprintf(&b, "Aetna,99213,%s,%s,%s,%s,%s,%s\n", v.submitted.Format(time.DateOnly), v.decided.Format(time.DateOnly),
				v.outcome, v.allowed, v.code, v.text)
		}
		u, err := up.Upload(ctx, cust, name, &b, testfactory.DifferentClaims)
		if err != nil {
			t.Fatal(err)
		}
		for i := range rows {
			rows[i].upload, rows[i].row = u.ID, i+2 // the header is line 1
		}
		all = append(all, rows...)
	}
	draw := func(id string, from, days int) version {
		v := version{id: id, submitted: asOf.AddDate(0, 0, -from), outcome: "PAID", allowed: fmt.Sprintf("%d.25", 50+rng.IntN(200))}
		v.decided = v.submitted.AddDate(0, 0, days)
		if rng.IntN(3) == 0 {
			v.outcome, v.code, v.text, v.allowed = "DENIED", "CO-197", "Precert/authorization absent", ""
		}
		return v
	}
	var first []version
	for i := range 60 {
		first = append(first, draw(fmt.Sprintf("C%02d", i), 5+rng.IntN(120), rng.IntN(30)))
	}
	upload("first.csv", true, first)
	// Appeals and corrections: later versions of some claims, a few of
	// them decided earlier than the first (they become the initial one).
	var second []version
	for i := 0; i < 60; i += 4 {
		v := first[i]
		v.decided = v.decided.AddDate(0, 0, 10-rng.IntN(14))
		v.outcome, v.code, v.text = "PAID", "", ""
		second = append(second, v)
	}
	upload("appeals.csv", true, second)
	var own []version
	for range 25 {
		own = append(own, draw("", 5+rng.IntN(60), rng.IntN(20)))
	}
	upload("no-ids.csv", false, own)

	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out, err := drift.Compute(ctx, tx, drift.Request{CustomerID: cust, RunType: drift.RunManual, Params: drift.DefaultParams(asOf)})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	w := drift.WindowsFor(drift.DefaultParams(asOf))
	// The run's windows, or the alert's when the cell alerted.
	cur, base := [2]time.Time{w.CurrentStart, w.CurrentEnd}, [2]time.Time{w.BaselineStart, w.BaselineEnd}
	for _, e := range out.Events {
		if e.Alert {
			cur[0], base = e.Evidence.CurrentStart, [2]time.Time{e.Evidence.BaselineStart, e.Evidence.BaselineEnd}
			break
		}
	}

	// By hand: each claim's initial version (earliest decided; ties the
	// later upload, then row) and final one (latest decided).
	want := func(window [2]time.Time, deniedOnly bool) []string {
		byID := map[string][]version{}
		var lines []string
		line := func(initial, final version) string {
			return fmt.Sprintf("%s %d/%d %s %s %s final %s %s", initial.id, initial.upload, initial.row, initial.decided.Format(time.DateOnly),
				initial.outcome, initial.code, final.outcome, final.decided.Format(time.DateOnly))
		}
		keep := func(initial version) bool {
			return !initial.decided.Before(window[0]) && initial.decided.Before(window[1]) && (!deniedOnly || initial.outcome == "DENIED")
		}
		for _, v := range all {
			if v.id == "" {
				if keep(v) {
					lines = append(lines, line(v, v))
				}
				continue
			}
			byID[v.id] = append(byID[v.id], v)
		}
		for _, vs := range byID {
			initial, final := vs[0], vs[0]
			for _, v := range vs[1:] {
				if v.decided.Before(initial.decided) || (v.decided.Equal(initial.decided) && v.upload > initial.upload) {
					initial = v
				}
				if v.decided.After(final.decided) || (v.decided.Equal(final.decided) && v.upload > final.upload) {
					final = v
				}
			}
			if keep(initial) {
				lines = append(lines, line(initial, final))
			}
		}
		slices.SortFunc(lines, func(a, b string) int { return strings.Compare(key(a), key(b)) })
		return lines
	}
	q := store.New(pool)
	list := func(window string, deniedOnly bool) []string {
		t.Helper()
		var got []string
		r := worklist.Request{CustomerID: cust, Payer: "aetna", CPTGroup: "other", Window: window, DeniedOnly: deniedOnly, Limit: 7}
		for pages := 0; ; pages++ {
			p, err := worklist.List(ctx, q, r)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Claims) > 7 || pages > 100 {
				t.Fatalf("page of %d claims (limit 7), page %d", len(p.Claims), pages)
			}
			for _, c := range p.Claims {
				id := ""
				if c.ClaimID != nil {
					id = *c.ClaimID
				}
				code := ""
				if c.DenialReasonCode != nil {
					code = *c.DenialReasonCode
				}
				got = append(got, fmt.Sprintf("%s %d/%d %s %s %s final %s %s", id, c.UploadID, c.SourceRow, c.DecidedDate, c.Outcome, code,
					c.FinalOutcome, c.FinalDecidedDate))
			}
			if p.NextCursor == nil {
				return got
			}
			r.Cursor = *p.NextCursor
		}
	}
	for _, tc := range []struct {
		window string
		span   [2]time.Time
		denied bool
	}{{worklist.WindowCurrent, cur, false}, {worklist.WindowCurrent, cur, true}, {worklist.WindowBaseline, base, false}} {
		got, exp := list(tc.window, tc.denied), want(tc.span, tc.denied)
		if len(exp) == 0 {
			t.Fatalf("%s window (denied only %v): nothing to list, the test proves nothing", tc.window, tc.denied)
		}
		if !slices.Equal(got, exp) {
			t.Fatalf("%s window (denied only %v):\n got %q\nwant %q", tc.window, tc.denied, got, exp)
		}
	}

	// The CSV holds the same claims, with formula-looking text quoted.
	var csvOut bytes.Buffer
	if err := worklist.WriteCSV(ctx, q, worklist.Request{CustomerID: cust, Payer: "Aetna", CPTGroup: "OTHER"}, &csvOut); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(csvOut.String(), "\n"); n != len(want(cur, false))+1 || !strings.HasPrefix(csvOut.String(), "claim_id,submitted_date,") {
		t.Fatalf("CSV has %d lines, want a header and %d claims:\n%s", n, len(want(cur, false)), csvOut.String())
	}

	for _, bad := range []worklist.Request{{Window: "later"}, {Limit: 1001}, {Cursor: "not-a-cursor"}} {
		bad.CustomerID, bad.Payer, bad.CPTGroup = cust, "Aetna", "OTHER"
		if _, err := worklist.List(ctx, q, bad); !errors.As(err, new(*worklist.RequestError)) {
			t.Errorf("%+v: error %v, want a request error", bad, err)
		}
	}
	if _, err := worklist.List(ctx, q, worklist.Request{CustomerID: cust, Payer: "Cigna", CPTGroup: "OTHER"}); err == nil {
		t.Error("a payer without claims listed")
	}
	_ = ingest.OutcomeDenied
}

// key orders the by-hand lines as the worklist orders claims: decided
// date, upload, row.
func key(line string) string {
	f := strings.Fields(line)
	// f: [id] upload/row decided ...; the id may be missing.
	if !strings.Contains(f[0], "/") {
		f = f[1:]
	}
	var u, r int
	fmt.Sscanf(f[0], "%d/%d", &u, &r)
	return fmt.Sprintf("%s %012d %08d", f[1], u, r)
}
