// Package ingest parses and validates claim-outcome CSV files and stores
// them: one upload, its claims, a durable drift request and the drift job,
// all in one transaction. Files are streamed, never held whole in memory.
package ingest

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// Outcomes stored on claim records.
const (
	OutcomePaid   = "PAID"
	OutcomeDenied = "DENIED"
	OutcomeOther  = "OTHER"
)

// UnmappedCPTGroup is the group of CPT codes with no mapping.
const UnmappedCPTGroup = "OTHER"

// MaxStoredRowErrors is how many row errors an upload keeps; counts cover all.
const MaxStoredRowErrors = 100

// Column names of the upload format.
const (
	ColPayer            = "payer"
	ColCPT              = "cpt"
	ColSubmittedDate    = "submitted_date"
	ColDecidedDate      = "decided_date"
	ColOutcome          = "outcome"
	ColAllowedAmount    = "allowed_amount"
	ColDenialReasonCode = "denial_reason_code"
	ColDenialReasonText = "denial_reason_text"
)

var requiredColumns = []string{ColPayer, ColCPT, ColSubmittedDate, ColDecidedDate, ColOutcome}

var optionalColumns = []string{ColAllowedAmount, ColDenialReasonCode, ColDenialReasonText}

// ErrNoHeader is returned for an empty file.
var ErrNoHeader = errors.New("the file is empty: a header row is required")

// HeaderError rejects a whole file because of its header row.
type HeaderError struct {
	Message string
}

func (e *HeaderError) Error() string { return "invalid header row: " + e.Message }

// RowError says why one row was rejected. Row is the line number in the file,
// counting the header as line 1.
type RowError struct {
	Row     int    `json:"row"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Claim is one accepted, normalized row.
type Claim struct {
	SourceRow        int
	Payer            string
	CPT              string
	CPTGroup         string
	SubmittedDate    time.Time
	DecidedDate      time.Time
	Outcome          string
	AllowedAmount    pgtype.Numeric // Valid is false when empty or unparseable
	DenialReasonCode *string
	DenialReasonText *string
}

// Stats summarizes the rows a Parser has read so far.
type Stats struct {
	Rows     int // data rows read (accepted + rejected)
	Accepted int
	Rejected int
	Warnings int        // accepted rows with a warning (unusual outcome)
	Errors   []RowError // the first MaxStoredRowErrors rejections
	// MinSubmitted and MaxSubmitted bound the accepted rows' submitted dates;
	// zero when nothing was accepted.
	MinSubmitted, MaxSubmitted time.Time
}

// Mappings normalize payers and CPT codes for one customer.
type Mappings struct {
	// Payers maps PayerKey(raw name) to the normalized name.
	Payers map[string]string
	// CPTGroups maps CPTKey(code) to its group.
	CPTGroups map[string]string
}

// PayerKey is the lookup key of a raw payer name: trimmed, lower-cased.
func PayerKey(raw string) string { return strings.ToLower(strings.TrimSpace(raw)) }

// CPTKey is the lookup key of a CPT code: trimmed, upper-cased.
func CPTKey(code string) string { return strings.ToUpper(strings.TrimSpace(code)) }

// Payer returns the normalized payer name: the mapping, else the trimmed name.
func (m *Mappings) Payer(raw string) string {
	if n, ok := m.Payers[PayerKey(raw)]; ok {
		return n
	}
	return strings.TrimSpace(raw)
}

// CPTGroup returns the group of a CPT code, UnmappedCPTGroup when unmapped.
func (m *Mappings) CPTGroup(code string) string {
	if g, ok := m.CPTGroups[CPTKey(code)]; ok {
		return g
	}
	return UnmappedCPTGroup
}

// Parser reads claims from a CSV stream, one row at a time.
type Parser struct {
	r        *csv.Reader
	cols     map[string]int
	mappings *Mappings
	stats    Stats
	claim    Claim
	err      error
}

// NewParser reads the header row and returns a parser positioned on the
// first data row. A missing required column is a *HeaderError.
func NewParser(r io.Reader, mappings *Mappings) (*Parser, error) {
	if mappings == nil {
		mappings = &Mappings{}
	}
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // short and long rows are judged per field below
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, ErrNoHeader
	}
	var parseErr *csv.ParseError
	if errors.As(err, &parseErr) {
		return nil, &HeaderError{Message: parseErr.Error()}
	}
	if err != nil {
		return nil, err
	}
	cols := make(map[string]int, len(header))
	for i, name := range header {
		if i == 0 {
			name = strings.TrimPrefix(name, "\ufeff") // UTF-8 byte-order mark
		}
		name = strings.ToLower(strings.TrimSpace(name))
		if _, dup := cols[name]; dup && isKnownColumn(name) {
			return nil, &HeaderError{Message: fmt.Sprintf("column %q appears more than once", name)}
		}
		cols[name] = i
	}
	var missing []string
	for _, name := range requiredColumns {
		if _, ok := cols[name]; !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, &HeaderError{Message: fmt.Sprintf("missing required column(s) %s (required: %s; optional: %s)",
			strings.Join(missing, ", "), strings.Join(requiredColumns, ", "), strings.Join(optionalColumns, ", "))}
	}
	return &Parser{r: cr, cols: cols, mappings: mappings}, nil
}

func isKnownColumn(name string) bool {
	for _, c := range requiredColumns {
		if c == name {
			return true
		}
	}
	for _, c := range optionalColumns {
		if c == name {
			return true
		}
	}
	return false
}

// Next advances to the next accepted row, recording rejected rows on the
// way. It returns false at the end of the input or on a read error (Err).
func (p *Parser) Next() bool {
	if p.err != nil {
		return false
	}
	for {
		record, err := p.r.Read()
		if errors.Is(err, io.EOF) {
			return false
		}
		var parseErr *csv.ParseError
		if errors.As(err, &parseErr) && !errors.Is(parseErr.Err, io.ErrUnexpectedEOF) && isSyntaxError(parseErr.Err) {
			p.stats.Rows++
			p.reject(RowError{Row: parseErr.StartLine, Field: "", Message: "malformed CSV: " + parseErr.Err.Error()})
			continue
		}
		if err != nil {
			p.err = err
			return false
		}
		p.stats.Rows++
		line, _ := p.r.FieldPos(0)
		if rowErr := p.parseRecord(line, record); rowErr != nil {
			p.reject(*rowErr)
			continue
		}
		p.stats.Accepted++
		if p.stats.MinSubmitted.IsZero() || p.claim.SubmittedDate.Before(p.stats.MinSubmitted) {
			p.stats.MinSubmitted = p.claim.SubmittedDate
		}
		if p.claim.SubmittedDate.After(p.stats.MaxSubmitted) {
			p.stats.MaxSubmitted = p.claim.SubmittedDate
		}
		return true
	}
}

func isSyntaxError(err error) bool {
	return errors.Is(err, csv.ErrQuote) || errors.Is(err, csv.ErrBareQuote) || errors.Is(err, csv.ErrFieldCount)
}

// Claim returns the row Next accepted. It is overwritten by the next call.
func (p *Parser) Claim() *Claim { return &p.claim }

// Stats returns the counts so far; complete once Next has returned false.
func (p *Parser) Stats() Stats { return p.stats }

// Err returns the read error that stopped the parser, if any.
func (p *Parser) Err() error { return p.err }

func (p *Parser) reject(e RowError) {
	p.stats.Rejected++
	if len(p.stats.Errors) < MaxStoredRowErrors {
		p.stats.Errors = append(p.stats.Errors, e)
	}
}

func (p *Parser) field(record []string, name string) string {
	i, ok := p.cols[name]
	if !ok || i >= len(record) {
		return ""
	}
	return strings.TrimSpace(record[i])
}

// parseRecord validates one record into p.claim.
func (p *Parser) parseRecord(line int, record []string) *RowError {
	required := func(name string) (string, *RowError) {
		v := p.field(record, name)
		if v == "" {
			return "", &RowError{Row: line, Field: name, Message: "required value is empty"}
		}
		return v, nil
	}
	payer, rowErr := required(ColPayer)
	if rowErr != nil {
		return rowErr
	}
	cpt, rowErr := required(ColCPT)
	if rowErr != nil {
		return rowErr
	}
	submittedRaw, rowErr := required(ColSubmittedDate)
	if rowErr != nil {
		return rowErr
	}
	decidedRaw, rowErr := required(ColDecidedDate)
	if rowErr != nil {
		return rowErr
	}
	outcomeRaw, rowErr := required(ColOutcome)
	if rowErr != nil {
		return rowErr
	}
	submitted, ok := ParseDate(submittedRaw)
	if !ok {
		return &RowError{Row: line, Field: ColSubmittedDate, Message: fmt.Sprintf("unparseable date %q (use YYYY-MM-DD, MM/DD/YYYY or YYYY/MM/DD)", submittedRaw)}
	}
	decided, ok := ParseDate(decidedRaw)
	if !ok {
		return &RowError{Row: line, Field: ColDecidedDate, Message: fmt.Sprintf("unparseable date %q (use YYYY-MM-DD, MM/DD/YYYY or YYYY/MM/DD)", decidedRaw)}
	}
	if decided.Before(submitted) {
		return &RowError{Row: line, Field: ColDecidedDate, Message: fmt.Sprintf("decided %s before submitted %s", decided.Format(time.DateOnly), submitted.Format(time.DateOnly))}
	}
	outcome, usual := NormalizeOutcome(outcomeRaw)
	if !usual {
		p.stats.Warnings++
	}

	c := &p.claim
	c.SourceRow = line
	c.Payer = p.mappings.Payer(payer)
	c.CPT = cpt
	c.CPTGroup = p.mappings.CPTGroup(cpt)
	c.SubmittedDate = submitted
	c.DecidedDate = decided
	c.Outcome = outcome
	c.AllowedAmount = ParseAmount(p.field(record, ColAllowedAmount))
	c.DenialReasonCode = optional(p.field(record, ColDenialReasonCode))
	c.DenialReasonText = optional(p.field(record, ColDenialReasonText))
	return nil
}

func optional(v string) *string {
	if v == "" {
		return nil
	}
	return &v
}

// NormalizeOutcome maps a raw outcome to PAID, DENIED or OTHER; usual is
// false for values that became OTHER (they deserve a warning).
func NormalizeOutcome(raw string) (outcome string, usual bool) {
	switch strings.ToUpper(strings.TrimSpace(raw)) {
	case "PAID", "APPROVED", "ACCEPTED":
		return OutcomePaid, true
	case "DENIED", "REJECTED", "DECLINED":
		return OutcomeDenied, true
	default:
		return OutcomeOther, false
	}
}

// ParseDate parses YYYY-MM-DD, MM/DD/YYYY or YYYY/MM/DD (months and days may
// have one digit in the slash forms) as a UTC calendar date.
func ParseDate(s string) (time.Time, bool) {
	for _, layout := range []string{"2006-01-02", "1/2/2006", "2006/1/2"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// maxCents bounds what numeric(12,2) holds: |amount| < 10^10.
var maxCents = new(big.Int).Exp(big.NewInt(10), big.NewInt(12), nil)

// ParseAmount parses an allowed amount such as "1234.5", "$1,234.50" or
// "-12" to cents; anything else, or a value numeric(12,2) cannot hold, is
// empty (Valid false). Digits past the cents are rounded half up.
func ParseAmount(s string) pgtype.Numeric {
	s = strings.TrimPrefix(strings.TrimSpace(s), "$")
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(strings.TrimPrefix(s, "-"), "$")
	s = strings.ReplaceAll(s, ",", "")
	intPart, frac, _ := strings.Cut(s, ".")
	if intPart == "" && frac == "" || !allDigits(intPart) || !allDigits(frac) {
		return pgtype.Numeric{}
	}
	cents, ok := new(big.Int).SetString(intPart+(frac + "00")[:2], 10)
	if !ok {
		return pgtype.Numeric{}
	}
	if len(frac) > 2 && frac[2] >= '5' {
		cents.Add(cents, big.NewInt(1))
	}
	if cents.Cmp(maxCents) >= 0 {
		return pgtype.Numeric{}
	}
	if neg {
		cents.Neg(cents)
	}
	return pgtype.Numeric{Int: cents, Exp: -2, Valid: true}
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
