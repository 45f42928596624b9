package x12

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Remit is one adjudicated claim of one service line, to write as an 835
// (demos and benchmarks: real remittances come from payers).
type Remit struct {
	ClaimID            string // CLP07
	Payer, PayerID     string // N1*PR name and identifier
	CPT                string // HC code
	Submitted, Decided time.Time
	Denied             bool
	Reason             string // group-CARC of a denial ("CO-50")
	Charge, Allowed    int64  // cents
}

// MaxSetsPerInterchange bounds the transaction sets WriteRemittances puts
// in one interchange.
const MaxSetsPerInterchange = 500

// WriteRemittances writes remits as X12 835 interchanges: a transaction
// set per payer and decision day (its production date, DTM*405), at most
// MaxSetsPerInterchange sets an interchange; a denial is CLP02 4 with its
// adjustment, a payment CLP02 1 paying the allowed amount.
func WriteRemittances(w io.Writer, remits []Remit, control int) error {
	sorted := slices.Clone(remits)
	slices.SortStableFunc(sorted, func(a, b Remit) int {
		return cmp.Or(strings.Compare(a.PayerID, b.PayerID), a.Decided.Compare(b.Decided))
	})
	bw := bufio.NewWriterSize(w, 64<<10)
	pad := func(s string, n int) string { return (s + strings.Repeat(" ", n))[:n] }
	money := func(c int64) string { return fmt.Sprintf("%d.%02d", c/100, c%100) }
	sets, segs := 0, 0
	seg := func(fields ...string) {
		bw.WriteString(strings.Join(fields, "*"))
		bw.WriteString("~\n")
		segs++
	}
	open := func() {
		control++
		fmt.Fprintf(bw, "ISA*00*%s*00*%s*ZZ*%s*ZZ*%s*%s*%s*^*00501*%09d*0*P*:~\n", pad("", 10), pad("", 10), pad("PAYERS", 15), pad("PROVIDER", 15),
			time.Now().UTC().Format("060102"), "1200", control)
		seg("GS", "HP", "PAYERS", "PROVIDER", time.Now().UTC().Format("20060102"), "1200", "1", "X", "005010X221A1")
	}
	closeIC := func() {
		seg("GE", fmt.Sprint(sets), "1")
		seg("IEA", "1", fmt.Sprintf("%09d", control))
	}
	open()
	for i := 0; i < len(sorted); {
		j := i
		for j < len(sorted) && sorted[j].PayerID == sorted[i].PayerID && sorted[j].Decided.Equal(sorted[i].Decided) {
			j++
		}
		if sets == MaxSetsPerInterchange {
			closeIC()
			sets = 0
			open()
		}
		sets++
		st := fmt.Sprintf("%04d", sets)
		segs = 0
		seg("ST", "835", st)
		seg("BPR", "I", "0", "C", "NON")
		seg("TRN", "1", st, "1512345678")
		seg("DTM", "405", sorted[i].Decided.Format("20060102"))
		seg("N1", "PR", sorted[i].Payer, "XV", sorted[i].PayerID)
		seg("N1", "PE", "PROVIDER", "XX", "1234567893")
		seg("LX", "1")
		for _, r := range sorted[i:j] {
			status, paid := "1", r.Allowed
			if r.Denied {
				status, paid = "4", 0
			}
			seg("CLP", "PCN-"+r.ClaimID, status, money(r.Charge), money(paid), "", "12", r.ClaimID)
			if r.Denied && r.Reason != "" {
				group, carc, _ := strings.Cut(r.Reason, "-")
				seg("CAS", group, carc, money(r.Charge))
			}
			seg("DTM", "050", r.Submitted.Format("20060102"))
			seg("SVC", "HC:"+r.CPT, money(r.Charge), money(paid))
			seg("AMT", "B6", money(r.Allowed))
		}
		seg("SE", fmt.Sprint(segs+1), st)
		i = j
	}
	closeIC()
	return bw.Flush()
}
