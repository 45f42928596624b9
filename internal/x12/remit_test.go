package x12

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// collect maps every set of a file with a Mapper, as the upload will:
// a set's lines count only once its SE checked out.
type collect struct {
	control string
	m       *Mapper
	pending []Line
	lines   []Line
	skipped Skipped
	errs    []string
}

func (c *collect) BeginSet(st Segment, d Delimiters) error {
	c.pending, c.control = nil, st.Element(2)
	if st.Element(1) != "835" {
		return &SetError{Segment: st.Number, Control: st.Element(2), Msg: "not an 835"}
	}
	c.m = NewMapper(d, func(l Line) error { c.pending = append(c.pending, l); return nil })
	return nil
}

func (c *collect) SetSegment(s Segment) error {
	if err := c.m.Segment(s); err != nil {
		var me *MapError
		if errors.As(err, &me) {
			return &SetError{Segment: me.Segment, Msg: me.Msg}
		}
		return err
	}
	return nil
}

func (c *collect) EndSet(err error) error {
	if err == nil && c.m != nil {
		if err = c.m.End(); err != nil {
			err = fmt.Errorf("set %s: %w", c.control, err)
		}
	}
	if err != nil {
		c.errs = append(c.errs, err.Error())
		return nil
	}
	c.lines = append(c.lines, c.pending...)
	c.skipped.Predeterminations += c.m.Skipped.Predeterminations
	c.skipped.NotOurs += c.m.Skipped.NotOurs
	c.skipped.Reversals += c.m.Skipped.Reversals
	return nil
}

// header is an 835's header: payment, production date, payer (with its
// identifier) and payee.
func header(production string, payerID string) []string {
	h := []string{"BPR*I*1000*C*ACH*CCP*01*999999999*DA*123456*1512345678**01*999988880*DA*98765*20261125",
		"TRN*1*12345*1512345678"}
	if production != "" {
		h = append(h, "DTM*405*"+production)
	}
	n1 := "N1*PR*ACME HEALTH PLAN"
	if payerID != "" {
		n1 += "*XV*" + payerID
	}
	return append(h, n1, "N3*1 PLAN WAY", "N4*CITY*ST*12345", "REF*2U*PAYER2U", "N1*PE*CLINIC*XX*1234567893", "LX*1")
}

func mapFile(t *testing.T, sets ...[]string) *collect {
	t.Helper()
	var ss []string
	for i, body := range sets {
		ss = append(ss, set("835", fmt.Sprintf("%04d", i+1), body))
	}
	var c collect
	if err := Walk(strings.NewReader(interchange('*', '^', ':', '~', "\n", "000000001", ss)), &c); err != nil {
		t.Fatal(err)
	}
	return &c
}

func show(l Line) string {
	return fmt.Sprintf("%s %s %s:%s sub %s(%v) dec %s %s %q %q charge %d/%v paid %d/%v allowed %d/%v", l.ClaimID, l.Payer, l.CodeType, l.CPT,
		l.Submitted.Format("2006-01-02"), l.SubmittedFallback, l.Decided.Format("2006-01-02"), l.Outcome, l.ReasonCode, l.ReasonText,
		l.Charge, l.HasCharge, l.Paid, l.HasPaid, l.Allowed, l.HasAllowed)
}

// Each case of the mapping table, field by field.
func TestRemittanceMapping(t *testing.T) {
	for _, tc := range []struct {
		name  string
		body  []string
		want  []string
		skips Skipped
	}{
		{name: "claim-level denial denies every line",
			body: append(header("20261124", "PAYER01"), "CLP*PCN1*4*300*0**12*CTL1", "CAS*CO*50*300", "DTM*050*20261101",
				"SVC*HC:99213*150*0", "SVC*HC:99214*150*0"),
			want: []string{
				`PAYER01|CTL1|1 ACME HEALTH PLAN HC:99213 sub 2026-11-01(false) dec 2026-11-24 DENIED "CO-50" "" charge 15000/true paid 0/true allowed 0/false`,
				`PAYER01|CTL1|2 ACME HEALTH PLAN HC:99214 sub 2026-11-01(false) dec 2026-11-24 DENIED "CO-50" "" charge 15000/true paid 0/true allowed 0/false`}},
		{name: "a line denied with CO beside a paid line, its remark as text",
			body: append(header("20261124", "PAYER01"), "CLP*PCN2*1*500*80**12*CTL2", "DTM*050*20261102",
				"SVC*HC:99213:25*200*80", "CAS*CO*45*120", "AMT*B6*80", "REF*6R*LINE-A",
				"SVC*HC:70553*300*0", "DTM*472*20261020", "CAS*CO*197*300", "LQ*HE*N130", "REF*6R*LINE-B"),
			want: []string{
				`PAYER01|CTL2|LINE-A ACME HEALTH PLAN HC:99213 sub 2026-11-02(false) dec 2026-11-24 PAID "CO-45" "" charge 20000/true paid 8000/true allowed 8000/true`,
				`PAYER01|CTL2|LINE-B ACME HEALTH PLAN HC:70553 sub 2026-11-02(false) dec 2026-11-24 DENIED "CO-197" "N130" charge 30000/true paid 0/true allowed 0/false`}},
		{name: "a zero payment all deductible is paid",
			body: append(header("20261124", "PAYER01"), "CLP*PCN3*1*120*0*120*12*CTL3", "DTM*050*20261103",
				"SVC*HC:99212*120*0", "CAS*PR*1*120"),
			want: []string{`PAYER01|CTL3|1 ACME HEALTH PLAN HC:99212 sub 2026-11-03(false) dec 2026-11-24 PAID "" "" charge 12000/true paid 0/true allowed 0/false`}},
		{name: "claim-level CO adjustments explain a line without its own",
			body: append(header("20261124", "PAYER01"), "CLP*PCN4*2*100*0**12*CTL4", "CAS*OA*23*100", "MOA***MA130", "DTM*050*20261104",
				"SVC*HC:99213*100*0"),
			want: []string{`PAYER01|CTL4|1 ACME HEALTH PLAN HC:99213 sub 2026-11-04(false) dec 2026-11-24 DENIED "OA-23" "MA130" charge 10000/true paid 0/true allowed 0/false`}},
		{name: "no DTM*050: the statement date, else the service date",
			body: append(header("20261124", "PAYER01"), "CLP*PCN5*1*100*100**12*CTL5", "DTM*232*20261010", "SVC*HC:99213*100*100",
				"CLP*PCN6*1*100*100**12", "SVC*HC:99213*100*100", "DTM*472*20261012"),
			want: []string{
				`PAYER01|CTL5|1 ACME HEALTH PLAN HC:99213 sub 2026-10-10(true) dec 2026-11-24 PAID "" "" charge 10000/true paid 10000/true allowed 0/false`,
				`PAYER01|PCN6|1 ACME HEALTH PLAN HC:99213 sub 2026-10-12(true) dec 2026-11-24 PAID "" "" charge 10000/true paid 10000/true allowed 0/false`}},
		{name: "a reversal withdraws, its correction follows; predeterminations and forwarded claims make nothing",
			body: append(header("20261124", "PAYER01"), "CLP*PCN7*22*-100*-100**12*CTL7", "DTM*050*20261101", "SVC*HC:99213*-100*-100",
				"CLP*PCN7*1*100*90**12*CTL7", "DTM*050*20261101", "SVC*HC:99213*100*90",
				"CLP*PCN8*25*100*0**12*CTL8", "DTM*050*20261101", "CLP*PCN9*23*100*0**12*CTL9", "DTM*050*20261101"),
			want: []string{
				`PAYER01|CTL7|1 ACME HEALTH PLAN HC:99213 sub 2026-11-01(false) dec 2026-11-24 REVERSED "" "" charge -10000/true paid -10000/true allowed 0/false`,
				`PAYER01|CTL7|1 ACME HEALTH PLAN HC:99213 sub 2026-11-01(false) dec 2026-11-24 PAID "" "" charge 10000/true paid 9000/true allowed 0/false`},
			skips: Skipped{Predeterminations: 1, NotOurs: 1, Reversals: 1}},
		{name: "other qualifiers keep their code; a claim without lines is one record",
			body: append(header("", ""), "CLP*PCN10*1*400*400**11*CTL10", "DTM*050*20261105", "SVC*NU:0450*400*400",
				"CLP*PCN11*4*90*0**12*CTL11", "DTM*050*20261106"),
			want: []string{
				`PAYER2U|CTL10|1 ACME HEALTH PLAN NU:0450 sub 2026-11-05(false) dec 2026-11-25 PAID "" "" charge 40000/true paid 40000/true allowed 0/false`,
				`PAYER2U|CTL11|1 ACME HEALTH PLAN : sub 2026-11-06(false) dec 2026-11-25 DENIED "" "" charge 0/false paid 0/false allowed 0/false`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mapFile(t, tc.body)
			if len(c.errs) > 0 {
				t.Fatalf("sets rejected: %q", c.errs)
			}
			var got []string
			for _, l := range c.lines {
				got = append(got, show(l))
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("lines:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if c.skipped != tc.skips {
				t.Fatalf("skipped %+v, want %+v", c.skipped, tc.skips)
			}
		})
	}
}

// A set the mapping cannot use is rejected alone, naming its segment.
func TestRemittanceContentErrorsRejectTheSet(t *testing.T) {
	good := append(header("20261124", "P1"), "CLP*A*1*10*10**12*X", "DTM*050*20261101", "SVC*HC:99213*10*10")
	for name, bad := range map[string][]string{
		"bad date":       append(header("2026-11-24", "P1"), "CLP*A*1*10*10**12*X", "DTM*050*20261101", "SVC*HC:99213*10*10"),
		"bad amount":     append(header("20261124", "P1"), "CLP*A*1*10*10**12*X", "DTM*050*20261101", "SVC*HC:99213*ten*10"),
		"SVC before CLP": append(header("20261124", "P1"), "SVC*HC:99213*10*10"),
		"no code":        append(header("20261124", "P1"), "CLP*A*1*10*10**12*X", "DTM*050*20261101", "SVC*HC*10*10"),
		"no dates":       append(header("20261124", "P1"), "CLP*A*1*10*10**12*X", "SVC*HC:99213*10*10"),
	} {
		c := mapFile(t, good, bad)
		if len(c.lines) != 1 || len(c.errs) != 1 || !strings.Contains(c.errs[0], "0002") {
			t.Errorf("%s: %d lines, errors %q; want the good set's line and the bad set rejected", name, len(c.lines), c.errs)
		}
	}
}

func TestCentsAreExact(t *testing.T) {
	for in, want := range map[string]int64{"150": 15000, "-12.5": -1250, "1234.56": 123456, "0.005": 1, "0.004": 0, "10.999": 1100} {
		if got, ok, err := cents(in); err != nil || !ok || got != want {
			t.Errorf("cents(%q) = %d, %v, %v; want %d", in, got, ok, err, want)
		}
	}
	for _, bad := range []string{"1e5", "12,50", "$5", "1.2.3", "-", "."} {
		if _, _, err := cents(bad); err == nil {
			t.Errorf("cents(%q) accepted", bad)
		}
	}
}

// Whatever a set holds, the mapper neither panics nor makes more lines
// than the set has SVC and CLP segments; what it refuses is a *SetError.
func FuzzRemittance(f *testing.F) {
	f.Add(strings.Join(append(header("20261124", "P1"), "CLP*A*1*10*10**12*X", "DTM*050*20261101", "SVC*HC:99213*10*10", "CAS*CO*45*1*1*PR*2*3"), "~"))
	f.Add(strings.Join(append(header("", ""), "CLP*B*4*90*0**12", "DTM*232*20261106", "MOA***MA130*N1"), "~"))
	f.Fuzz(func(t *testing.T, body string) {
		if strings.ContainsAny(body, "\x00^") || strings.Contains(body, "ISA") {
			return // the envelope's own bytes are the reader's fuzz target
		}
		segs := strings.Split(body, "~")
		var c collect
		err := Walk(strings.NewReader(interchange('*', '^', ':', '~', "", "000000001", []string{set("835", "0001", segs)})), &c)
		if err != nil && !errors.As(err, new(*SyntaxError)) {
			t.Fatalf("%T: %v", err, err)
		}
		bound := 0
		for _, s := range segs {
			if strings.HasPrefix(s, "SVC") || strings.HasPrefix(s, "CLP") {
				bound++
			}
		}
		if len(c.lines) > bound {
			t.Fatalf("%d lines from %d CLP and SVC segments", len(c.lines), bound)
		}
	})
}

// What WriteRemittances writes, the reader and mapper read back, line for
// line, across several interchanges.
func TestWriteRemittancesRoundTrips(t *testing.T) {
	var remits []Remit
	day := func(d int) time.Time { return time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, d) }
	for i := range 1200 {
		r := Remit{ClaimID: fmt.Sprintf("C%05d", i), Payer: []string{"ACME", "BLUE"}[i%2], PayerID: []string{"P1", "P2"}[i%2],
			CPT: []string{"99213", "70553"}[i%3%2], Submitted: day(i % 600), Decided: day(i%600 + 1 + i%30), Charge: int64(1000 + i), Allowed: int64(500 + i)}
		if i%4 == 0 {
			r.Denied, r.Reason = true, "CO-50"
		}
		remits = append(remits, r)
	}
	var b strings.Builder
	if err := WriteRemittances(&b, remits, 0); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(b.String(), "ISA*"); n < 2 {
		t.Fatalf("%d interchanges, want several (%d sets at most in each)", n, MaxSetsPerInterchange)
	}
	var c collect
	if err := Walk(strings.NewReader(b.String()), &c); err != nil || len(c.errs) > 0 {
		t.Fatalf("%v %q", err, c.errs)
	}
	got := map[string]string{}
	for _, l := range c.lines {
		got[l.ClaimID] = fmt.Sprintf("%s %s %s %s %s %d %d", l.CPT, l.Submitted.Format("2006-01-02"), l.Decided.Format("2006-01-02"), l.Outcome,
			l.ReasonCode, l.Charge, l.Allowed)
	}
	if len(got) != len(remits) {
		t.Fatalf("%d lines read back, want %d", len(got), len(remits))
	}
	for _, r := range remits {
		outcome, reason := "PAID", ""
		if r.Denied {
			outcome, reason = "DENIED", r.Reason
		}
		want := fmt.Sprintf("%s %s %s %s %s %d %d", r.CPT, r.Submitted.Format("2006-01-02"), r.Decided.Format("2006-01-02"), outcome, reason, r.Charge, r.Allowed)
		if g := got[r.PayerID+"|"+r.ClaimID+"|1"]; g != want {
			t.Fatalf("claim %s read back as %q, want %q", r.ClaimID, g, want)
		}
	}
}
