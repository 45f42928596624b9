package ingest

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgtype"
)

// Column names of the upload format.
const (
	ColPayer            = "payer"
	ColCPT              = "cpt"
	ColSubmittedDate    = "submitted_date"
	ColDecidedDate      = "decided_date"
	ColOutcome          = "outcome"
	ColAllowedAmount    = "allowed_amount"
	ColChargeAmount     = "charge_amount"
	ColDenialReasonCode = "denial_reason_code"
	ColDenialReasonText = "denial_reason_text"
	// ColClaimID is the claim's identifier in the customer's billing
	// system: rows that share it are versions of one claim.
	ColClaimID = "claim_id"
)

var requiredColumns = []string{ColPayer, ColCPT, ColSubmittedDate, ColDecidedDate, ColOutcome}

var optionalColumns = []string{ColClaimID, ColAllowedAmount, ColChargeAmount, ColDenialReasonCode, ColDenialReasonText}

// ErrNoHeader is returned for an empty file.
var ErrNoHeader = errors.New("the file is empty: a header row is required")

// HeaderError rejects a whole file because of its header row.
type HeaderError struct {
	Message string
}

func (e *HeaderError) Error() string { return "invalid header row: " + e.Message }

// CSVReader reads claim records from a CSV stream, one row at a time: the
// CSV producer of the record stream (RecordReader).
type CSVReader struct {
	r      *csv.Reader
	cols   map[string]int
	stats  Stats
	record Record
	err    error
	// DateFormat is how slash dates are read (DateAuto by default).
	DateFormat DateFormat
	// Today, when set, makes claims dated after it a warning.
	Today time.Time
	// The first slash dates whose first field (day-first evidence) or
	// second field (month-first evidence) exceeds 12.
	dayFirst, monthFirst *RowError
}

// DateOrderError is a file whose slash dates are D/M/YYYY, or mix both
// orders, while read as M/D/YYYY: its rows would be rejected or, worse,
// stored with day and month swapped. When DayFirst, reading the file with
// DateDayMonth fixes it; front-ends say how.
type DateOrderError struct {
	Message  string
	DayFirst bool
}

func (e *DateOrderError) Error() string { return e.Message }

// FileProblem reports, at the end of the file, a date order the automatic
// reading cannot trust.
func (p *CSVReader) FileProblem() error {
	if p.DateFormat != DateAuto || p.dayFirst == nil {
		return nil
	}
	if p.monthFirst != nil {
		return &DateOrderError{Message: fmt.Sprintf("dates mix day-first and month-first orders (row %d: %s; row %d: %s): fix the file",
			p.dayFirst.Row, p.dayFirst.Message, p.monthFirst.Row, p.monthFirst.Message)}
	}
	return &DateOrderError{DayFirst: true, Message: fmt.Sprintf("dates look like DD/MM/YYYY (row %d, %s, cannot be a month first): "+
		"upload it again read as DD/MM/YYYY", p.dayFirst.Row, p.dayFirst.Message)}
}

// noteDateOrder records which order a slash date proves, if any.
func (p *CSVReader) noteDateOrder(line int, field, s string) {
	a, b, ok := slashFields(s)
	if !ok {
		return
	}
	if a > 12 && p.dayFirst == nil {
		p.dayFirst = &RowError{Row: line, Field: field, Message: fmt.Sprintf("%s %q", field, s)}
	}
	if b > 12 && p.monthFirst == nil {
		p.monthFirst = &RowError{Row: line, Field: field, Message: fmt.Sprintf("%s %q", field, s)}
	}
}

// slashFields returns the first two numbers of a N/N/YYYY date.
func slashFields(s string) (a, b int, ok bool) {
	parts := strings.Split(s, "/")
	if len(parts) != 3 || len(parts[2]) != 4 {
		return 0, 0, false
	}
	a, errA := strconv.Atoi(parts[0])
	b, errB := strconv.Atoi(parts[1])
	return a, b, errA == nil && errB == nil
}

// parseDate reads a date in the parser's format.
func (p *CSVReader) parseDate(line int, field, s string) (time.Time, *RowError) {
	var t time.Time
	ok := false
	switch p.DateFormat {
	case DateAuto:
		p.noteDateOrder(line, field, s)
		t, ok = ParseDate(s)
	case DateMonthDay:
		t, ok = parseLayouts(s, "1/2/2006", "2006-01-02")
	case DateDayMonth:
		t, ok = parseLayouts(s, "2/1/2006", "2006-01-02")
	case DateISO:
		t, ok = parseLayouts(s, "2006-01-02")
	}
	if !ok {
		format := "YYYY-MM-DD, MM/DD/YYYY or YYYY/MM/DD"
		if p.DateFormat != DateAuto {
			format = string(p.DateFormat) + ", the upload's date format"
		}
		return t, &RowError{Row: line, Field: field, Message: fmt.Sprintf("unparseable date %q (use %s)", s, format)}
	}
	if y := t.Year(); y < MinClaimYear || y > MaxClaimYear {
		return t, &RowError{Row: line, Field: field, Message: fmt.Sprintf("date %q is out of range (years %d to %d)", s, MinClaimYear, MaxClaimYear)}
	}
	return t, nil
}

// NewCSVReader reads the header row and returns a reader positioned on the
// first data row. A missing required column is a *HeaderError. Claim ids
// are read from the column claimIDColumn names (any case), or from
// claim_id when it is empty; every row of a file with claim ids needs one.
func NewCSVReader(r io.Reader, claimIDColumn string) (*CSVReader, error) {
	// A byte-order mark goes before the CSV reader sees it, so a quoted
	// first header ("\ufeff\"payer\"") is still a quoted field.
	br := bufio.NewReader(&recordLimitReader{r: r, max: MaxRecordBytes, line: 1})
	if bom, err := br.Peek(3); err == nil && string(bom) == "\ufeff" {
		_, _ = br.Discard(3)
	}
	cr := csv.NewReader(br)
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
	for _, name := range header {
		if strings.ContainsRune(name, '\r') {
			// encoding/csv splits records on \n only: a file of lone CRs
			// (classic Mac) reads as one record.
			return nil, &HeaderError{Message: "lines end in a lone carriage return (CR): save the file with LF or CRLF line endings"}
		}
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
	if name := strings.ToLower(strings.TrimSpace(claimIDColumn)); name != "" {
		i, ok := cols[name]
		if !ok {
			return nil, &HeaderError{Message: fmt.Sprintf("no column %q holds the claim ids; the header has %s", claimIDColumn, foundColumns(header))}
		}
		cols[ColClaimID] = i
	}
	var missing []string
	for _, name := range requiredColumns {
		if _, ok := cols[name]; !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, &HeaderError{Message: fmt.Sprintf("missing required column(s) %s; the header has %s (required: %s; optional: %s)",
			strings.Join(missing, ", "), foundColumns(header), strings.Join(requiredColumns, ", "), strings.Join(optionalColumns, ", "))}
	}
	return &CSVReader{r: cr, cols: cols}, nil
}

// foundColumns lists a header's column names for an error message,
// bounded: a binary file's "header" can be one huge field.
func foundColumns(header []string) string {
	const maxNames, maxName = 20, 40
	var names []string
	for i, name := range header {
		if i == maxNames {
			names = append(names, fmt.Sprintf("and %d more", len(header)-maxNames))
			break
		}
		name = strings.TrimSpace(strings.TrimPrefix(name, "\ufeff"))
		if len(name) > maxName || !utf8.ValidString(name) {
			name = strings.ToValidUTF8(name[:min(len(name), maxName)], "?") + "..."
		}
		names = append(names, strconv.Quote(name))
	}
	if len(names) == 0 {
		return "no columns"
	}
	return strings.Join(names, ", ")
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
func (p *CSVReader) Next() bool {
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
			p.stats.reject(RowError{Row: parseErr.StartLine, Field: "", Message: "malformed CSV: " + parseErr.Err.Error()})
			continue
		}
		if err != nil {
			p.err = err
			return false
		}
		p.stats.Rows++
		line, _ := p.r.FieldPos(0)
		if rowErr := p.parseRecord(line, record); rowErr != nil {
			p.stats.reject(*rowErr)
			continue
		}
		p.stats.accept(&p.record)
		return true
	}
}

func isSyntaxError(err error) bool {
	return errors.Is(err, csv.ErrQuote) || errors.Is(err, csv.ErrBareQuote) || errors.Is(err, csv.ErrFieldCount)
}

// Record returns the row Next accepted. It is overwritten by the next call.
func (p *CSVReader) Record() *Record { return &p.record }

// Stats returns the counts so far; complete once Next has returned false.
func (p *CSVReader) Stats() Stats { return p.stats }

// Err returns the read error that stopped the parser, if any.
func (p *CSVReader) Err() error { return p.err }

func (p *CSVReader) field(record []string, name string) string {
	i, ok := p.cols[name]
	if !ok || i >= len(record) {
		return ""
	}
	return strings.TrimSpace(record[i])
}

// maxFieldLength bounds each text column, in bytes: longer values are row
// errors (a payer of kilobytes is a broken file, and would break the
// statistics' B-tree keys).
var maxFieldLength = map[string]int{
	ColPayer: 200, ColCPT: 20, ColSubmittedDate: 32, ColDecidedDate: 32, ColOutcome: 32,
	ColAllowedAmount: 32, ColChargeAmount: 32, ColDenialReasonCode: 50, ColDenialReasonText: 500, ColClaimID: MaxClaimIDLength,
}

// textColumns are checked in this order, so a row's error is stable.
var textColumns = []string{ColClaimID, ColPayer, ColCPT, ColSubmittedDate, ColDecidedDate, ColOutcome, ColAllowedAmount, ColChargeAmount,
	ColDenialReasonCode, ColDenialReasonText}

// MaxClaimIDLength bounds a claim id, in bytes.
const MaxClaimIDLength = 64

// checkText refuses values PostgreSQL text cannot hold (NUL, invalid UTF-8)
// and values past their column's bound.
func checkText(line int, name, v string) *RowError {
	switch {
	case strings.IndexByte(v, 0) >= 0:
		return &RowError{Row: line, Field: name, Message: "contains a NUL byte"}
	case !utf8.ValidString(v):
		return &RowError{Row: line, Field: name, Message: "is not valid UTF-8 (save the file as UTF-8)"}
	case len(v) > maxFieldLength[name]:
		return &RowError{Row: line, Field: name, Message: fmt.Sprintf("is %d bytes long, more than %d", len(v), maxFieldLength[name])}
	}
	return nil
}

// parseRecord validates one record into p.record.
func (p *CSVReader) parseRecord(line int, record []string) *RowError {
	for _, name := range textColumns {
		if rowErr := checkText(line, name, p.field(record, name)); rowErr != nil {
			return rowErr
		}
	}
	required := func(name string) (string, *RowError) {
		v := p.field(record, name)
		if v == "" {
			return "", &RowError{Row: line, Field: name, Message: "required value is empty"}
		}
		return v, nil
	}
	var claimID string
	if _, ok := p.cols[ColClaimID]; ok {
		var rowErr *RowError
		if claimID, rowErr = required(ColClaimID); rowErr != nil {
			return rowErr
		}
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
	submitted, rowErr := p.parseDate(line, ColSubmittedDate, submittedRaw)
	if rowErr != nil {
		return rowErr
	}
	decided, rowErr := p.parseDate(line, ColDecidedDate, decidedRaw)
	if rowErr != nil {
		return rowErr
	}
	if decided.Before(submitted) {
		return &RowError{Row: line, Field: ColDecidedDate, Message: fmt.Sprintf("decided %s before submitted %s", decided.Format(time.DateOnly), submitted.Format(time.DateOnly))}
	}
	outcome, usual := NormalizeOutcome(outcomeRaw)
	switch {
	case !usual:
		p.stats.warn(RowError{Row: line, Field: ColOutcome, Message: fmt.Sprintf("unusual outcome %q stored as OTHER", outcomeRaw)})
	case !p.Today.IsZero() && decided.After(p.Today):
		p.stats.warn(RowError{Row: line, Field: ColDecidedDate, Message: fmt.Sprintf("decided %s, in the future", decided.Format(time.DateOnly))})
	}

	c := &p.record
	c.SourceRow = line
	c.ClaimID = claimID
	c.Payer = payer
	c.CPT = cpt
	c.CPTGroup = ""
	c.SubmittedDate = submitted
	c.DecidedDate = decided
	c.Outcome = outcome
	c.AllowedAmount = p.amount(record, line, ColAllowedAmount)
	c.ChargeAmount = p.amount(record, line, ColChargeAmount)
	c.DenialReasonCode = optional(p.field(record, ColDenialReasonCode))
	c.DenialReasonText = optional(p.field(record, ColDenialReasonText))
	return nil
}

// amount parses an amount column; a value that is not one is stored empty
// with a warning naming it (the claim still counts).
func (p *CSVReader) amount(record []string, line int, col string) pgtype.Numeric {
	v := p.field(record, col)
	n := ParseAmount(v)
	if v != "" && !n.Valid {
		p.stats.warn(RowError{Row: line, Field: col, Message: fmt.Sprintf("%q is not an amount (stored empty)", v)})
	}
	return n
}

func optional(v string) *string {
	if v == "" {
		return nil
	}
	return &v
}

// MaxRecordBytes bounds one CSV record (a row, quoted newlines included):
// an unclosed quote must not make the reader hold the rest of the file.
const MaxRecordBytes = 64 << 10

// RecordTooLongError is a record past MaxRecordBytes; nothing is stored.
type RecordTooLongError struct {
	Row   int // the line the record starts on
	Limit int
}

func (e *RecordTooLongError) Error() string {
	return fmt.Sprintf("row %d: record longer than %d bytes (an unclosed quote?): fix the file", e.Row, e.Limit)
}

// recordLimitReader follows RFC 4180 quoting as the bytes stream by and
// fails once one record grows past max, before encoding/csv buffers it.
// A doubled quote inside a quoted field toggles twice, so it nets out.
type recordLimitReader struct {
	r        io.Reader
	max      int
	inQuote  bool
	length   int // bytes of the current record so far
	line     int // current line, 1-based
	startRow int // line the current record started on
}

func (l *recordLimitReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	for i := 0; i < n; i++ {
		if l.length == 0 {
			l.startRow = l.line
		}
		l.length++
		switch p[i] {
		case '"':
			l.inQuote = !l.inQuote
		case '\n':
			l.line++
			if !l.inQuote {
				l.length = 0
				continue
			}
		}
		if l.length > l.max {
			return i, &RecordTooLongError{Row: l.startRow, Limit: l.max}
		}
	}
	return n, err
}
