package x12

import (
	"fmt"
	"strings"
	"time"
)

// Line is one service line of an 835 remittance, mapped (see Mapper).
type Line struct {
	Segment  int    // the SVC segment's number (the CLP's for a claim without lines)
	ClaimID  string // payer id | CLP07 (else CLP01) | REF*6R (else the line's ordinal)
	Payer    string // N1*PR02
	PayerID  string // N1*PR04, else REF*2U
	CPT      string // SVC01-2 (any qualifier); "" for a claim without lines
	CodeType string // SVC01-1: HC for CPT/HCPCS; other qualifiers keep their code
	// Decided is DTM*405, else BPR16; Submitted the claim's DTM*050, else
	// DTM*232, else the line's DTM*472 (SubmittedFallback true).
	Decided, Submitted time.Time
	SubmittedFallback  bool
	Outcome            string // PAID, DENIED, or OutcomeReversed
	// ReasonCode is group-CARC of the line's largest non-PR adjustment,
	// else the claim's ("CO-197"); ReasonText its RARCs (LQ*HE, MOA, MIA).
	ReasonCode, ReasonText string
	// Amounts in cents: charge SVC02, paid SVC03, allowed AMT*B6; Has*
	// false when absent.
	Charge, Paid, Allowed          int64
	HasCharge, HasPaid, HasAllowed bool
}

// OutcomeReversed is a line of a reversal (CLP02 22): the withdrawal of
// the final outcome of the claim it reverses, not an adjudication.
const OutcomeReversed = "REVERSED"

// Skipped counts the claims a Mapper does not turn into adjudications:
// predeterminations and forwarded claims make no lines; reversals make
// lines with OutcomeReversed.
type Skipped struct {
	Predeterminations int // CLP02 25
	NotOurs           int // CLP02 23 (forwarded)
	Reversals         int // CLP02 22
}

// Mapper turns one 835 transaction set's segments, in order, into service
// lines, a claim at a time: it holds one claim, never the set.
type Mapper struct {
	d       Delimiters
	emit    func(Line) error
	Skipped Skipped
	decided time.Time // DTM*405 of the set
	bpr16   time.Time
	payer   string
	payerID string
	inPayer bool // inside the N1*PR loop (its REF*2U)
	claim   *claim
	line    *svcLine
}

type claim struct {
	segment          int
	id, status       string
	received, stated time.Time
	cas              []adjustment
	remarks          []string
	lines            []*svcLine
}

type svcLine struct {
	segment                        int
	codeType, code                 string
	charge, paid, allowed          int64
	hasCharge, hasPaid, hasAllowed bool
	ref6R                          string
	served                         time.Time
	cas                            []adjustment
	remarks                        []string
}

type adjustment struct {
	group, reason string
	amount        int64
}

// NewMapper maps a set read with delimiters d, handing each line to emit.
func NewMapper(d Delimiters, emit func(Line) error) *Mapper {
	return &Mapper{d: d, emit: emit}
}

// MapError is content of a transaction set the mapping cannot use: the
// segment and what is wrong (the set is rejected as a unit).
type MapError struct {
	Segment int
	Msg     string
}

func (e *MapError) Error() string { return fmt.Sprintf("835 segment %d: %s", e.Segment, e.Msg) }

// Segment takes the next segment of the set (ST and SE excluded).
func (m *Mapper) Segment(s Segment) error {
	fail := func(msg string, args ...any) error {
		return &MapError{Segment: s.Number, Msg: fmt.Sprintf(msg, args...)}
	}
	switch s.ID() {
	case "BPR":
		if v := s.Element(16); v != "" {
			t, err := date(v)
			if err != nil {
				return fail("BPR16: %v", err)
			}
			m.bpr16 = t
		}
	case "DTM":
		t, err := date(s.Element(2))
		if err != nil {
			return fail("DTM%s: %v", s.Element(1), err)
		}
		switch q := s.Element(1); {
		case q == "405" && m.claim == nil:
			m.decided = t
		case q == "050" && m.claim != nil:
			m.claim.received = t
		case q == "232" && m.claim != nil:
			m.claim.stated = t
		case q == "472" && m.line != nil:
			m.line.served = t
		}
	case "N1":
		m.inPayer = s.Element(1) == "PR"
		if m.inPayer {
			m.payer = strings.TrimSpace(s.Element(2))
			if s.Element(3) != "" {
				m.payerID = strings.TrimSpace(s.Element(4))
			}
		}
	case "REF":
		switch {
		case s.Element(1) == "2U" && m.inPayer && m.payerID == "":
			m.payerID = strings.TrimSpace(s.Element(2))
		case s.Element(1) == "6R" && m.line != nil:
			m.line.ref6R = strings.TrimSpace(s.Element(2))
		}
	case "LX":
		m.inPayer = false
	case "CLP":
		if err := m.flush(); err != nil {
			return err
		}
		m.inPayer = false
		id := s.Element(7)
		if id == "" {
			id = s.Element(1)
		}
		if id == "" {
			return fail("CLP has neither a payer claim control number (CLP07) nor a patient control number (CLP01)")
		}
		m.claim = &claim{segment: s.Number, id: id, status: s.Element(2)}
	case "CAS":
		adj, err := m.adjustments(s)
		if err != nil {
			return fail("%v", err)
		}
		switch {
		case m.line != nil:
			m.line.cas = append(m.line.cas, adj...)
		case m.claim != nil:
			m.claim.cas = append(m.claim.cas, adj...)
		}
	case "MOA", "MIA":
		if m.claim != nil {
			for _, e := range s.Elements[1:] {
				if looksLikeRARC(e) {
					m.claim.remarks = append(m.claim.remarks, e)
				}
			}
		}
	case "SVC":
		if m.claim == nil {
			return fail("SVC outside a claim (no CLP before it)")
		}
		comp := m.d.Components(s.Element(1))
		if len(comp) < 2 || comp[1] == "" {
			return fail("SVC01 %q has no procedure code", s.Element(1))
		}
		l := &svcLine{segment: s.Number, codeType: comp[0], code: comp[1]}
		var err error
		if l.charge, l.hasCharge, err = cents(s.Element(2)); err != nil {
			return fail("SVC02: %v", err)
		}
		if l.paid, l.hasPaid, err = cents(s.Element(3)); err != nil {
			return fail("SVC03: %v", err)
		}
		m.claim.lines = append(m.claim.lines, l)
		m.line = l
	case "AMT":
		if s.Element(1) == "B6" && m.line != nil {
			v, ok, err := cents(s.Element(2))
			if err != nil {
				return fail("AMT*B6: %v", err)
			}
			m.line.allowed, m.line.hasAllowed = v, ok
		}
	case "LQ":
		if s.Element(1) == "HE" && m.line != nil {
			m.line.remarks = append(m.line.remarks, s.Element(2))
		}
	case "PLB":
		// Provider-level adjustments are not claims.
	}
	return nil
}

// End ends the set: its last claim is mapped.
func (m *Mapper) End() error { return m.flush() }

// adjustments reads a CAS segment: a group and up to six (reason, amount,
// quantity) triples.
func (m *Mapper) adjustments(s Segment) ([]adjustment, error) {
	group := s.Element(1)
	var out []adjustment
	for i := 2; i < len(s.Elements); i += 3 {
		reason := s.Element(i)
		if reason == "" {
			continue
		}
		amount, _, err := cents(s.Element(i + 1))
		if err != nil {
			return nil, fmt.Errorf("CAS%02d: %v", i+1, err)
		}
		out = append(out, adjustment{group: group, reason: reason, amount: amount})
	}
	return out, nil
}

// flush maps the claim held, if any, to its lines.
func (m *Mapper) flush() error {
	c := m.claim
	m.claim, m.line = nil, nil
	if c == nil {
		return nil
	}
	switch c.status {
	case "25":
		m.Skipped.Predeterminations++
		return nil
	case "23":
		m.Skipped.NotOurs++
		return nil
	case "22":
		// Not a new claim and not a denial: it withdraws the final outcome
		// of the claim it reverses, as a later version of it that does not
		// count (REVERSED). The initial adjudication stays; the correction
		// that follows is a later version again.
		m.Skipped.Reversals++
	}
	decided := m.decided
	if decided.IsZero() {
		decided = m.bpr16
	}
	if decided.IsZero() {
		return &MapError{Segment: c.segment, Msg: "no decision date: neither DTM*405 nor BPR16"}
	}
	lines := c.lines
	if len(lines) == 0 {
		lines = []*svcLine{{segment: c.segment}} // a claim without lines: one record, no CPT
	}
	for i, l := range lines {
		out := Line{Segment: l.segment, Payer: m.payer, PayerID: m.payerID, CPT: l.code, CodeType: l.codeType, Decided: decided,
			Charge: l.charge, Paid: l.paid, Allowed: l.allowed, HasCharge: l.hasCharge, HasPaid: l.hasPaid, HasAllowed: l.hasAllowed}
		if out.Payer == "" {
			return &MapError{Segment: c.segment, Msg: "no payer: the set has no N1*PR"}
		}
		ref := l.ref6R
		if ref == "" {
			ref = fmt.Sprint(i + 1)
		}
		out.ClaimID = claimID(m.payerID, m.payer, c.id, ref)
		switch {
		case !c.received.IsZero():
			out.Submitted = c.received
		case !c.stated.IsZero():
			out.Submitted, out.SubmittedFallback = c.stated, true
		case !l.served.IsZero():
			out.Submitted, out.SubmittedFallback = l.served, true
		default:
			return &MapError{Segment: c.segment, Msg: "no submission date: none of DTM*050, DTM*232 or the line's DTM*472"}
		}
		// The adjustments that explain the line: its own, else the claim's.
		cas := l.cas
		if len(cas) == 0 {
			cas = c.cas
		}
		out.Outcome = "PAID"
		switch {
		case c.status == "22":
			out.Outcome = OutcomeReversed
		case c.status == "4" || (l.hasPaid && l.paid == 0 && denies(cas)):
			out.Outcome = "DENIED"
		}
		if a, ok := largestNonPR(cas); ok {
			out.ReasonCode = a.group + "-" + a.reason
		}
		out.ReasonText = strings.Join(append(append([]string{}, l.remarks...), c.remarks...), " ")
		if err := m.emit(out); err != nil {
			return err
		}
	}
	return nil
}

// denies reports an adjustment in a group that denies: CO (contractual),
// OA (other) or PI (payer-initiated). PR (patient responsibility) does
// not: a zero payment that is all deductible or coinsurance is paid.
func denies(cas []adjustment) bool {
	for _, a := range cas {
		if a.group == "CO" || a.group == "OA" || a.group == "PI" {
			return true
		}
	}
	return false
}

func largestNonPR(cas []adjustment) (adjustment, bool) {
	var best adjustment
	found := false
	for _, a := range cas {
		if a.group != "PR" && (!found || abs(a.amount) > abs(best.amount)) {
			best, found = a, true
		}
	}
	return best, found
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// claimID is the line's identity (the upload bounds its length: cutting
// it could merge two claims).
func claimID(payerID, payer, clp, ref string) string {
	who := payerID
	if who == "" {
		who = payer
	}
	return who + "|" + clp + "|" + ref
}

// looksLikeRARC reports a remittance advice remark code: M, N or MA and
// digits (MOA and MIA hold amounts beside them).
func looksLikeRARC(s string) bool {
	var d string
	switch {
	case strings.HasPrefix(s, "MA"):
		d = s[2:]
	case strings.HasPrefix(s, "M"), strings.HasPrefix(s, "N"):
		d = s[1:]
	default:
		return false
	}
	return d != "" && len(s) <= 6 && strings.Trim(d, "0123456789") == ""
}

// date reads CCYYMMDD.
func date(s string) (time.Time, error) {
	t, err := time.Parse("20060102", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a CCYYMMDD date", s)
	}
	return t, nil
}

// cents reads a decimal amount ("150", "-12.5", "1234.567") in cents,
// rounding half up past the cents; false when empty.
func cents(s string) (int64, bool, error) {
	if s == "" {
		return 0, false, nil
	}
	neg := strings.HasPrefix(s, "-")
	digits := strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(digits, ".")
	if (whole == "" && frac == "") || strings.Trim(whole, "0123456789") != "" || strings.Trim(frac, "0123456789") != "" || len(whole) > 10 {
		return 0, false, fmt.Errorf("%q is not an amount", s)
	}
	var n int64
	for _, c := range whole + (frac + "00")[:2] {
		n = n*10 + int64(c-'0')
	}
	if len(frac) > 2 && frac[2] >= '5' {
		n++
	}
	if neg {
		n = -n
	}
	return n, true, nil
}
