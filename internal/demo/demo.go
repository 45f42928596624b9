// Package demo generates a realistic synthetic claims history with planted
// drift, for `upstream demo` and for tests of the whole pipeline.
package demo

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/upstream-rcm/upstream/internal/x12"
)

// CustomerName is the demo customer.
const CustomerName = "demo-clinic"

// PayerMappings is the demo's payer mapping file: raw spellings found in
// clearinghouse exports, normalized.
const PayerMappings = `raw_name,normalized_name
AETNA INC,Aetna
Aetna Health,Aetna
CIGNA HEALTHCARE,Cigna
UHC,UnitedHealthcare
United Healthcare,UnitedHealthcare
HUMANA INC,Humana
BCBS,Blue Cross Blue Shield
Blue Cross,Blue Cross Blue Shield
MEDICARE PART B,Medicare
`

// CPTGroupMappings is the demo's CPT group mapping file.
const CPTGroupMappings = `cpt,cpt_group
99213,E&M
99214,E&M
99215,E&M
70553,Imaging
71046,Imaging
74177,Imaging
27447,Surgery
29881,Surgery
97110,Therapy
97140,Therapy
`

// profile is how one (payer, CPT group) behaves.
type profile struct {
	rawNames          []string // spellings used in the export
	denialRate        float64
	decisionDays      int // typical days to decision
	currentDenialRate float64
	currentDays       int
	dailyVolume       float64
	// plantedDenial is why the claims denied above the baseline rate in the
	// current period were denied: one reason, one CPT code.
	plantedDenial *denial
}

type denial struct{ code, text, cpt string }

// usualDenials are the reasons denials have everywhere (CARC codes).
var usualDenials = []denial{
	{code: "CO-16", text: "Claim lacks information needed for adjudication"},
	{code: "CO-18", text: "Exact duplicate claim"},
	{code: "CO-50", text: "Not deemed a medical necessity"},
	{code: "CO-97", text: "Included in the allowance for another service"},
	{code: "CO-197", text: "Precertification/authorization absent"},
}

var groupCPTs = map[string][]string{
	"E&M":     {"99213", "99214", "99215"},
	"Imaging": {"70553", "71046", "74177"},
	"Surgery": {"27447", "29881"},
	"Therapy": {"97110", "97140"},
}

var payers = map[string][]string{
	"Aetna":                  {"AETNA INC", "Aetna Health", "aetna inc "},
	"Cigna":                  {"CIGNA HEALTHCARE", "Cigna Healthcare"},
	"UnitedHealthcare":       {"UHC", "United Healthcare"},
	"Humana":                 {"HUMANA INC", "Humana Inc"},
	"Blue Cross Blue Shield": {"BCBS", "Blue Cross"},
	"Medicare":               {"MEDICARE PART B"},
	"Medicaid":               {"Medicaid"},
	"Tricare":                {"Tricare"},
}

// Planted drifts (what `upstream demo` should find).
var planted = map[[2]string]func(p *profile){
	// Denial rate up: UnitedHealthcare imaging denials 8% -> 31%, the new
	// ones MRIs (70553) denied for missing prior authorization.
	{"UnitedHealthcare", "Imaging"}: func(p *profile) {
		p.denialRate, p.currentDenialRate = 0.08, 0.31
		p.plantedDenial = &denial{code: "CO-197", text: "Precertification/authorization absent", cpt: "70553"}
	},
	// Decision time up: Humana surgery 12 -> 25 days.
	{"Humana", "Surgery"}: func(p *profile) { p.decisionDays, p.currentDays = 12, 25 },
	// An improvement at a busy payer: Cigna E&M denials 24% -> 7%, on twice
	// the usual volume.
	{"Cigna", "E&M"}: func(p *profile) { p.denialRate, p.currentDenialRate, p.dailyVolume = 0.24, 0.07, 16 },
}

// ChangeDays is how long before the as-of date the planted drifts began.
const ChangeDays = 35

// Generate writes about six months of claims submitted before asOf, with a
// few invalid rows, as an upload CSV exported on asOf: like a real export,
// it holds only the claims decided by then, so the latest submissions are
// mostly missing. The planted drifts apply to claims submitted from
// ChangeDays before asOf. Each claim appears once, at its first decision.
// The output depends only on seed and asOf.
func Generate(w io.Writer, asOf time.Time, seed uint64) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, header)
	for _, v := range versions(asOf, seed) {
		if !v.appeal {
			fmt.Fprintln(bw, v.row)
		}
	}
	writeInvalidRows(bw, asOf)
	return bw.Flush()
}

// ExportsX12 writes Exports' two files as a payer's X12 835 remittances
// say them: the same claims and appeals (the invalid rows and unusual
// outcomes of the CSV have no remittance).
func ExportsX12(first, second io.Writer, asOf time.Time, seed uint64) error {
	cut, from := asOf.AddDate(0, 0, -FirstExportAge), asOf.AddDate(0, 0, -ExportDays)
	var a, b []x12.Remit
	for _, v := range versions(asOf, seed) {
		if v.remit == nil {
			continue
		}
		if v.decided.Before(cut) {
			a = append(a, *v.remit)
		}
		if !v.decided.Before(from) {
			b = append(b, *v.remit)
		}
	}
	if err := x12.WriteRemittances(first, a, 0); err != nil {
		return err
	}
	return x12.WriteRemittances(second, b, 1000)
}

// The demo's two overlapping exports (Exports).
const (
	// FirstExportAge is how many days before asOf the first export was
	// taken.
	FirstExportAge = 14
	// ExportDays is the span of the second export: every version decided
	// in the last ExportDays days, as billing systems' "last N days"
	// reports run.
	ExportDays = 60
)

// Exports writes the same billing system as Generate, as a customer
// receives it: first, FirstExportAge days before asOf, every claim decided
// by then; then, on asOf, every version decided in the last ExportDays
// days. The second repeats most of the first's recent claims, and brings
// some of its denials back PAID, decided later: overturned on appeal.
// Counting each claim once at its first decision, the two give the
// statistics Generate's single export gives.
func Exports(first, second io.Writer, asOf time.Time, seed uint64) error {
	cut, from := asOf.AddDate(0, 0, -FirstExportAge), asOf.AddDate(0, 0, -ExportDays)
	fw, sw := bufio.NewWriter(first), bufio.NewWriter(second)
	fmt.Fprintln(fw, header)
	fmt.Fprintln(sw, header)
	for _, v := range versions(asOf, seed) {
		if v.decided.Before(cut) {
			fmt.Fprintln(fw, v.row)
		}
		if !v.decided.Before(from) {
			fmt.Fprintln(sw, v.row)
		}
	}
	writeInvalidRows(sw, asOf)
	if err := fw.Flush(); err != nil {
		return err
	}
	return sw.Flush()
}

const header = "claim_id,payer,cpt,submitted_date,decided_date,outcome,allowed_amount,charge_amount,denial_reason_code,denial_reason_text"

// version is one row of the billing system: a claim's first decision, or
// its appeal's.
type version struct {
	row     string
	decided time.Time
	appeal  bool
	// remit is the version as a payer's 835 says it; nil for the unusual
	// outcomes, which no remittance reports.
	remit *x12.Remit
}

// AppealShare is the share of denials appealed and overturned (PAID 15 to
// 45 days after the denial).
const AppealShare = 0.3

// versions simulates the billing system: every claim decided before asOf,
// each followed by its overturned appeal when it has one decided by then.
func versions(asOf time.Time, seed uint64) []version {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	// Appeals draw from a stream of their own, so the claims are the same
	// with or without them.
	appeals := rand.New(rand.NewPCG(seed+1, seed^0x51afd7ed558ccd))
	var out []version
	start := asOf.AddDate(0, 0, -180)
	changed := asOf.AddDate(0, 0, -ChangeDays)
	id := 0
	payerNames := slices.Sorted(maps.Keys(payers))
	payerIDs := map[string]string{} // the identifier a payer's remittances carry
	for i, p := range payerNames {
		payerIDs[p] = fmt.Sprintf("PAYER%02d", i+1)
	}
	groupNames := slices.Sorted(maps.Keys(groupCPTs))
	for day := start; day.Before(asOf); day = day.AddDate(0, 0, 1) {
		weekend := day.Weekday() == time.Saturday || day.Weekday() == time.Sunday
		for _, payer := range payerNames {
			for gi, group := range groupNames {
				p := profile{rawNames: payers[payer], denialRate: 0.10 + 0.02*float64(gi), decisionDays: 9 + 3*gi, dailyVolume: 8}
				p.currentDenialRate, p.currentDays = p.denialRate, p.decisionDays
				if plant, ok := planted[[2]string{payer, group}]; ok {
					plant(&p)
				}
				n := poisson(rng, p.dailyVolume)
				if weekend {
					n /= 3
				}
				for range n {
					id++
					denialRate, days, current := p.denialRate, p.decisionDays, !day.Before(changed)
					if current {
						denialRate, days = p.currentDenialRate, p.currentDays
					}
					decided := day.AddDate(0, 0, max(0, days+rng.IntN(7)-3))
					outcome, why := "PAID", denial{}
					switch r := rng.Float64(); {
					case r < denialRate:
						outcome = []string{"DENIED", "Denied", "REJECTED"}[rng.IntN(3)]
						why = usualDenials[rng.IntN(len(usualDenials))]
						if current && p.plantedDenial != nil && r >= p.denialRate {
							why = *p.plantedDenial
						}
					case r > 0.995:
						outcome = "PENDED" // unusual outcome: stored as OTHER with a warning
					}
					cpt := groupCPTs[group][rng.IntN(len(groupCPTs[group]))]
					if why.cpt != "" {
						cpt = why.cpt
					}
					raw := p.rawNames[rng.IntN(len(p.rawNames))]
					if !decided.Before(asOf) {
						continue // not decided yet: not in the export
					}
					amount := 80 + rng.Float64()*900
					row := func(decided time.Time, outcome string, why denial) string {
						return fmt.Sprintf("C%07d,%s,%s,%s,%s,%s,%.2f,%.2f,%s,%s", id, raw, cpt, day.Format(time.DateOnly),
							decided.Format(time.DateOnly), outcome, amount, 1.6*amount, why.code, why.text) // billed above allowed
					}
					remit := func(decided time.Time, outcome string, why denial) *x12.Remit {
						if outcome == "PENDED" {
							return nil
						}
						return &x12.Remit{ClaimID: fmt.Sprintf("C%07d", id), Payer: raw, PayerID: payerIDs[payer], CPT: cpt,
							Submitted: day, Decided: decided, Denied: outcome != "PAID", Reason: why.code,
							Allowed: int64(math.Round(100 * amount)), Charge: int64(math.Round(160 * amount))}
					}
					out = append(out, version{row: row(decided, outcome, why), decided: decided, remit: remit(decided, outcome, why)})
					if why.code != "" && appeals.Float64() < AppealShare {
						if later := decided.AddDate(0, 0, 15+appeals.IntN(31)); later.Before(asOf) {
							out = append(out, version{row: row(later, "PAID", denial{}), decided: later, appeal: true, remit: remit(later, "PAID", denial{})})
						}
					}
				}
			}
		}
	}
	return out
}

// writeInvalidRows adds a few rows a real export would have: an unmapped
// CPT code (group OTHER), a missing payer, an impossible date, decided
// before submitted.
func writeInvalidRows(w io.Writer, asOf time.Time) {
	last := asOf.AddDate(0, 0, -3).Format(time.DateOnly)
	fmt.Fprintf(w, "C9000001,Aetna Health,G0439,%s,%s,PAID,120.00,,\n", last, last)
	fmt.Fprintf(w, "C9000002,,99213,%s,%s,PAID,95.00,,\n", last, last)
	fmt.Fprintf(w, "C9000003,UHC,71046,2026-02-30,%s,DENIED,410.00,CO-197,\n", last)
	fmt.Fprintf(w, "C9000004,HUMANA INC,27447,%s,%s,PAID,5200.00,,\n", last, asOf.AddDate(0, 0, -20).Format(time.DateOnly))
}

// poisson draws from a Poisson distribution (Knuth; small means only).
func poisson(rng *rand.Rand, mean float64) int {
	l := math.Exp(-mean)
	k, p := 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}
