// Package ingest turns claim files into stored claims. A format's reader
// (CSV today) produces a stream of parsed claim records with the row
// errors met on the way; a check judges what was parsed (notices,
// refusals); one transaction stores the upload, its claims, their
// statistics, a durable drift request and the drift job. Files are
// streamed, never held whole in memory.
package ingest

import (
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

// Record is one accepted claim record, whatever the file's format. A reader
// fills it as the file says (Payer and CPT trimmed, CPTGroup empty); the
// upload applies the customer's mappings to Payer and CPTGroup.
type Record struct {
	// SourceRow locates the record in its file: the CSV line, counting the
	// header as line 1.
	SourceRow int
	// ClaimID identifies the claim the row is a version of; empty when the
	// file has none (the row is a claim of its own).
	ClaimID          string
	Payer            string
	CPT              string
	CPTGroup         string
	SubmittedDate    time.Time
	DecidedDate      time.Time
	Outcome          string
	AllowedAmount    pgtype.Numeric // Valid is false when empty or unparseable
	ChargeAmount     pgtype.Numeric // billed; Valid as AllowedAmount
	DenialReasonCode *string
	DenialReasonText *string
}

// RecordReader is a stream of parsed claim records from one file: the seam
// between a file format and the upload transaction. Rejected rows never
// reach the stream; they are counted, with their first errors, in Stats.
type RecordReader interface {
	// Next advances to the next accepted record. It returns false at the
	// end of the input or on a read error (Err).
	Next() bool
	// Record returns the record Next accepted; the next call overwrites it.
	Record() *Record
	// Stats returns the counts, row errors and warnings so far; complete
	// once Next has returned false.
	Stats() Stats
	// Err returns the read error that stopped the stream, if any: the file
	// as a whole failed (too large, a runaway quote), not a row.
	Err() error
	// FileProblem reports, once the stream has ended, a problem of the
	// whole file that no single row shows (a day-first date order).
	FileProblem() error
}

// RowError says why one row was rejected, or what one row's warning is.
// Row is the record's SourceRow.
type RowError struct {
	Row     int    `json:"row"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Stats summarizes the rows a reader has read so far.
type Stats struct {
	Rows     int // data rows read (accepted + rejected)
	Accepted int
	Rejected int
	Warnings int        // accepted rows with a warning (unusual outcome, future date)
	Errors   []RowError // the first MaxStoredRowErrors rejections
	// WarningDetails are the first MaxStoredRowErrors warnings.
	WarningDetails []RowError
	// MinSubmitted and MaxSubmitted bound the accepted rows' submitted dates;
	// zero when nothing was accepted.
	MinSubmitted, MaxSubmitted time.Time
	// Remittances (X12 835): records dated by their statement or service
	// date for want of a received date, and claims skipped as not
	// adjudications.
	SubmittedFallbacks int
	NotAdjudicated     struct{ Predeterminations, Forwarded, Reversals int }
}

// reject counts a rejected row, keeping the first errors.
func (s *Stats) reject(e RowError) {
	s.Rejected++
	if len(s.Errors) < MaxStoredRowErrors {
		s.Errors = append(s.Errors, e)
	}
}

// warn counts an accepted row's warning, keeping the first ones.
func (s *Stats) warn(e RowError) {
	s.Warnings++
	if len(s.WarningDetails) < MaxStoredRowErrors {
		s.WarningDetails = append(s.WarningDetails, e)
	}
}

// accept counts an accepted record and widens the submitted-date range.
func (s *Stats) accept(r *Record) {
	s.Accepted++
	if s.MinSubmitted.IsZero() || r.SubmittedDate.Before(s.MinSubmitted) {
		s.MinSubmitted = r.SubmittedDate
	}
	if r.SubmittedDate.After(s.MaxSubmitted) {
		s.MaxSubmitted = r.SubmittedDate
	}
}

// amountCents is the record's amount for the statistics: the charge, else
// the allowed amount, in cents (ParseAmount keeps two decimals).
func (r *Record) amountCents() (int64, bool) {
	n := r.ChargeAmount
	if !n.Valid {
		n = r.AllowedAmount
	}
	if !n.Valid || n.Int == nil || n.Exp != -2 || !n.Int.IsInt64() {
		return 0, false
	}
	return n.Int.Int64(), true
}
