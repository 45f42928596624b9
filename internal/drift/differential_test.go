package drift_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/store"
	"github.com/upstream-rcm/upstream/internal/testdb"
	"github.com/upstream-rcm/upstream/internal/testfactory"
)

// remitClaim is one claim as both formats write it.
type remitClaim struct {
	id                 string
	payer, cpt         string
	submitted, decided time.Time
	denied             bool
	reason             string
	charge, allowed    int // cents
}

func remitClaims(rng *rand.Rand, asOf time.Time, n int) []remitClaim {
	var out []remitClaim
	for i := range n {
		sub := asOf.AddDate(0, 0, -1-rng.IntN(150))
		c := remitClaim{id: fmt.Sprintf("C%06d", i), payer: []string{"ACME HEALTH", "BLUE PLAN"}[rng.IntN(2)],
			cpt: []string{"99213", "99214", "70553"}[rng.IntN(3)], submitted: sub, decided: sub.AddDate(0, 0, rng.IntN(40)),
			charge: 10000 + rng.IntN(90000), allowed: 5000 + rng.IntN(40000)}
		if !c.decided.Before(asOf) {
			continue
		}
		deny := rng.IntN(10) < 2
		if c.payer == "BLUE PLAN" && !c.decided.Before(asOf.AddDate(0, 0, -21)) {
			deny = rng.IntN(10) < 6 // a drift to find, with its drivers and dollars
		}
		if deny {
			c.denied, c.reason = true, []string{"CO-50", "CO-197", "OA-23"}[rng.IntN(3)]
		}
		out = append(out, c)
	}
	return out
}

func payerID(payer string) string {
	return map[string]string{"ACME HEALTH": "P01", "BLUE PLAN": "P02"}[payer]
}

// asCSV writes the claims as the CSV upload format, with the identity an
// 835 gives them.
func asCSV(claims []remitClaim) string {
	var b strings.Builder
	b.WriteString("claim_id,payer,cpt,submitted_date,decided_date,outcome,allowed_amount,charge_amount,denial_reason_code\n")
	for _, c := range claims {
		outcome := "PAID"
		if c.denied {
			outcome = "DENIED"
		}
		fmt.Fprintf(&b, "%s|%s|1,%s,%s,%s,%s,%s,%d.%02d,%d.%02d,%s\n", payerID(c.payer), c.id, c.payer, c.cpt, c.submitted.Format(time.DateOnly),
			c.decided.Format(time.DateOnly), outcome, c.allowed/100, c.allowed%100, c.charge/100, c.charge%100, c.reason)
	}
	return b.String()
}

// as835 writes the claims as X12 835 remittances: a transaction set per
// payer and decision day (its production date), several sets per group,
// two interchanges with different separators.
func as835(claims []remitClaim) string {
	type key struct {
		payer   string
		decided time.Time
	}
	byKey := map[key][]remitClaim{}
	var keys []key
	for _, c := range claims {
		k := key{c.payer, c.decided}
		if byKey[k] == nil {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], c)
	}
	var out strings.Builder
	half := len(keys) / 2
	for ic, part := range [][]key{keys[:half], keys[half:]} {
		elem, comp, term := "*", ":", "~"
		if ic == 1 {
			elem, comp, term = "|", ">", "\n"
		}
		pad := func(s string, n int) string { return s + strings.Repeat(" ", n-len(s)) }
		ctl := fmt.Sprintf("%09d", ic+1)
		out.WriteString(strings.Join([]string{"ISA", "00", pad("", 10), "00", pad("", 10), "ZZ", pad("PAYERS", 15), "ZZ", pad("CLINIC", 15),
			"261130", "1200", "^", "00501", ctl, "0", "P", comp}, elem) + term + "\r\n")
		seg := func(fields ...string) { out.WriteString(strings.Join(fields, elem) + term) }
		seg("GS", "HP", "PAYERS", "CLINIC", "20261130", "1200", "1", "X", "005010X221A1")
		for i, k := range part {
			st := fmt.Sprintf("%04d", i+1)
			n := 0
			s := func(fields ...string) { seg(fields...); n++ }
			s("ST", "835", st)
			s("BPR", "I", "0", "C", "ACH")
			s("TRN", "1", st, "1512345678")
			s("DTM", "405", k.decided.Format("20060102"))
			s("N1", "PR", k.payer, "XV", payerID(k.payer))
			s("N1", "PE", "CLINIC", "XX", "1234567893")
			s("LX", "1")
			for _, c := range byKey[k] {
				status, paid := "1", c.allowed
				if c.denied {
					status, paid = "4", 0
				}
				money := func(v int) string { return fmt.Sprintf("%d.%02d", v/100, v%100) }
				s("CLP", "PCN"+c.id, status, money(c.charge), money(paid), "", "12", c.id)
				if c.denied {
					group, carc, _ := strings.Cut(c.reason, "-")
					s("CAS", group, carc, money(c.charge))
				}
				s("DTM", "050", c.submitted.Format("20060102"))
				s("SVC", "HC"+comp+c.cpt, money(c.charge), money(paid))
				s("AMT", "B6", money(c.allowed))
			}
			seg("SE", fmt.Sprint(n+1), st)
		}
		seg("GE", fmt.Sprint(len(part)), "1")
		seg("IEA", "1", ctl)
	}
	return out.String()
}

// The same claims written as CSV and as 835 files give the same
// statistics (every window, week, amount) and the same run.
func TestCSVAnd835OfTheSameClaimsGiveTheSameStatisticsAndRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	asOf := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	claims := remitClaims(rand.New(rand.NewPCG(83, 5)), asOf, 3000)
	up := testfactory.Uploader(t, pool)
	fromCSV, from835 := testfactory.Customer(t, pool, "csv"), testfactory.Customer(t, pool, "remittances")
	a, err := up.Upload(ctx, fromCSV, "claims.csv", strings.NewReader(asCSV(claims)), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := up.Upload(ctx, from835, "era.835", strings.NewReader(as835(claims)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Accepted != len(claims) || b.Accepted != len(claims) || b.New != len(claims) || b.Rejected != 0 {
		t.Fatalf("CSV %d accepted, 835 %d accepted (%d new, %d rejected: %v), want %d each", a.Accepted, b.Accepted, b.New, b.Rejected, b.Errors, len(claims))
	}
	p := drift.DefaultParams(asOf)
	w := drift.WindowsFor(p)
	ga, err := drift.Aggregate(ctx, pool, fromCSV, w)
	if err != nil {
		t.Fatal(err)
	}
	gb, err := drift.Aggregate(ctx, pool, from835, w)
	if err != nil {
		t.Fatal(err)
	}
	if len(ga) == 0 || !reflect.DeepEqual(ga, gb) {
		t.Fatalf("statistics differ:\nCSV %+v\n835 %+v", ga, gb)
	}
	events := func(cust int64) []string {
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if _, err := drift.Compute(ctx, tx, drift.Request{CustomerID: cust, RunType: drift.RunManual, Params: p}); err != nil {
			t.Fatal(err)
		}
		run, err := drift.LoadRun(ctx, store.New(tx), cust, 0)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range run.Events {
			e.ID, e.CustomerID, e.ReportRunID = 0, 0, 0
			b, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, string(b))
		}
		return out
	}
	if ea, eb := events(fromCSV), events(from835); len(ea) == 0 || !slices.Equal(ea, eb) {
		t.Fatalf("runs differ:\nCSV %q\n835 %q", ea, eb)
	}
}
