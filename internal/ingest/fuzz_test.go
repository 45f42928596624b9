package ingest

import (
	"errors"
	"strings"
	"testing"
)

// FuzzCSVReader checks that no input panics the reader and that every data row
// is either accepted as a valid claim or rejected with a row and a reason.
func FuzzCSVReader(f *testing.F) {
	seeds := []string{
		header + "Aetna,99213,2026-01-01,2026-01-02,PAID,12.50,CO-45,text\n",
		"\ufeff" + "outcome,decided_date,cpt,submitted_date,payer\nDENIED,01/02/2026,1,2026/01/01,x\n",
		header + "Aetna,99213,2026-01-05,2026-01-04,PAID,,,\n",
		header + "\"unterminated,99213,2026-01-01,2026-01-02,PAID\n",
		header + "A\"b,1,2026-01-01,2026-01-02,PAID\n\n\r\n",
		header + ",,,,,,,\n",
		header + "Aetna,99213,2026-02-30,2026-03-01,weird,$-1,000.005,,\n",
		"payer,cpt\n",
		"",
		header,
	}
	for _, s := range seeds {
		f.Add(s)
	}
	m := &Mappings{Payers: map[string]string{"aetna": "Aetna"}, CPTGroups: map[string]string{"99213": "E&M"}}
	f.Fuzz(func(t *testing.T, input string) {
		p, err := NewCSVReader(strings.NewReader(input), "")
		if err != nil {
			var he *HeaderError
			if !errors.Is(err, ErrNoHeader) && !errors.As(err, &he) {
				t.Fatalf("NewCSVReader: unexpected error type %T: %v", err, err)
			}
			return
		}
		accepted := 0
		for p.Next() {
			accepted++
			c := p.Record()
			m.apply(c)
			if c.Payer == "" || c.CPT == "" || c.CPTGroup == "" || c.SourceRow < 2 {
				t.Fatalf("accepted claim with empty fields: %+v", c)
			}
			if c.DecidedDate.Before(c.SubmittedDate) {
				t.Fatalf("accepted claim decided before submitted: %+v", c)
			}
			switch c.Outcome {
			case OutcomePaid, OutcomeDenied, OutcomeOther:
			default:
				t.Fatalf("accepted claim with outcome %q", c.Outcome)
			}
		}
		if p.Err() != nil {
			t.Fatalf("parse error on in-memory input: %v", p.Err())
		}
		st := p.Stats()
		if st.Accepted != accepted || st.Accepted+st.Rejected != st.Rows {
			t.Fatalf("stats %+v inconsistent with %d accepted rows", st, accepted)
		}
		if len(st.Errors) != min(st.Rejected, MaxStoredRowErrors) {
			t.Fatalf("%d errors kept for %d rejected rows", len(st.Errors), st.Rejected)
		}
		for _, e := range st.Errors {
			if e.Row < 2 || e.Message == "" {
				t.Fatalf("rejection without row or reason: %+v", e)
			}
		}
	})
}
