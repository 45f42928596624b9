package ingest

import (
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/upstream-rcm/upstream/internal/x12"
)

// MaxSetLines bounds the service lines of one 835 transaction set: a set
// counts only once its SE checks out, so its lines wait in memory until
// then. Past the bound the set is rejected.
const MaxSetLines = 200_000

// X12Reader reads claim records from an X12 835 stream, one per service
// line (the README's mapping table; x12.Mapper), as a RecordReader: the
// X12 producer of the record stream. A transaction set that is not an 835
// or that the mapping cannot use is rejected as a unit, counted as a
// rejected row and reported with its segment.
type X12Reader struct {
	records chan []Record
	done    chan struct{}
	batch   []Record
	i       int
	record  Record
	stats   Stats
	err     error
	fin     chan struct{} // closed when the walk ended (stats and err final)
}

// NewX12Reader starts reading r.
func NewX12Reader(r io.Reader) *X12Reader {
	x := &X12Reader{records: make(chan []Record, 2), done: make(chan struct{}), fin: make(chan struct{})}
	go x.walk(r)
	return x
}

// x12Set is the handler state of one transaction set.
type x12Set struct {
	x         *X12Reader
	st        x12.Segment
	mapper    *x12.Mapper
	pending   []Record
	lines     int
	fallbacks int // of the set's lines
}

func (x *X12Reader) walk(r io.Reader) {
	// fin closes before records, so that a consumer that saw the records
	// end sees the final error and stats.
	defer close(x.records)
	defer close(x.fin)
	h := &x12Set{x: x}
	err := x12.Walk(r, h)
	var se *x12.SyntaxError
	switch {
	case errors.As(err, &se):
		x.err = &HeaderError{Message: se.Error()} // the file as a whole is refused
	case err != nil:
		x.err = err
	}
}

func (h *x12Set) BeginSet(st x12.Segment, d x12.Delimiters) error {
	h.st, h.pending, h.lines, h.fallbacks = st, h.pending[:0], 0, 0
	if st.Element(1) != "835" {
		return &x12.SetError{Segment: st.Number, Msg: fmt.Sprintf("transaction set %s is not an 835 remittance", st.Element(1))}
	}
	h.mapper = x12.NewMapper(d, h.line)
	return nil
}

func (h *x12Set) SetSegment(s x12.Segment) error {
	err := h.mapper.Segment(s)
	var me *x12.MapError
	if errors.As(err, &me) {
		return &x12.SetError{Segment: me.Segment, Msg: me.Msg}
	}
	return err
}

// line converts a mapped service line into a record of the set.
func (h *x12Set) line(l x12.Line) error {
	if h.lines++; h.lines > MaxSetLines {
		return &x12.MapError{Segment: l.Segment, Msg: fmt.Sprintf("more than %d service lines in one transaction set", MaxSetLines)}
	}
	// The CSV's bounds hold for the same fields: a payer of kilobytes is a
	// broken file, and would break the statistics' keys.
	for _, f := range []struct{ name, col, value string }{{"N1*PR02", ColPayer, l.Payer}, {"SVC01", ColCPT, l.CPT},
		{"CAS", ColDenialReasonCode, l.ReasonCode}, {"LQ*HE/MOA/MIA", ColDenialReasonText, l.ReasonText}} {
		if max := maxFieldLength[f.col]; len(f.value) > max {
			return &x12.MapError{Segment: l.Segment, Msg: fmt.Sprintf("%s is %d bytes, more than %d", f.name, len(f.value), max)}
		}
	}
	if len(l.ClaimID) > MaxClaimIDLength {
		return &x12.MapError{Segment: l.Segment, Msg: fmt.Sprintf("the claim's identity (payer id, CLP07, REF*6R) is %d bytes, more than %d", len(l.ClaimID), MaxClaimIDLength)}
	}
	if l.Decided.Before(l.Submitted) && l.Outcome != x12.OutcomeReversed {
		return &x12.MapError{Segment: l.Segment, Msg: fmt.Sprintf("decided %s before submitted %s", l.Decided.Format("2006-01-02"),
			l.Submitted.Format("2006-01-02"))}
	}
	outcome := l.Outcome
	if outcome == x12.OutcomeReversed {
		// A version that does not count: the claim's final outcome is
		// withdrawn until its correction, its initial one stays.
		outcome = OutcomeOther
	}
	r := Record{SourceRow: l.Segment, ClaimID: l.ClaimID, Payer: l.Payer, CPT: l.CPT, SubmittedDate: l.Submitted, DecidedDate: l.Decided,
		Outcome: outcome, AllowedAmount: numeric(l.Allowed, l.HasAllowed), ChargeAmount: numeric(l.Charge, l.HasCharge)}
	if l.ReasonCode != "" {
		r.DenialReasonCode = &l.ReasonCode
	}
	if l.ReasonText != "" {
		r.DenialReasonText = &l.ReasonText
	}
	if l.SubmittedFallback {
		h.fallbacks++
	}
	h.pending = append(h.pending, r)
	return nil
}

func (h *x12Set) EndSet(err error) error {
	if err == nil && h.mapper != nil {
		err = h.mapper.End()
		var me *x12.MapError
		if errors.As(err, &me) {
			err = &x12.SetError{Segment: me.Segment, Control: h.st.Element(2), Msg: me.Msg}
		}
	}
	x := h.x
	var se *x12.SetError
	if errors.As(err, &se) {
		x.stats.Rows++
		x.stats.reject(RowError{Row: se.Segment, Field: "transaction set " + se.Control, Message: se.Msg + " (the set is rejected)"})
		return nil
	}
	if err != nil {
		return err
	}
	sk := h.mapper.Skipped
	x.stats.NotAdjudicated.Predeterminations += sk.Predeterminations
	x.stats.NotAdjudicated.Forwarded += sk.NotOurs
	x.stats.NotAdjudicated.Reversals += sk.Reversals
	x.stats.SubmittedFallbacks += h.fallbacks
	for i := range h.pending {
		x.stats.Rows++
		x.stats.accept(&h.pending[i])
	}
	out := make([]Record, len(h.pending))
	copy(out, h.pending)
	select {
	case x.records <- out:
		return nil
	case <-x.done:
		return errors.New("upload ended")
	}
}

// numeric is cents as numeric(12,2), as ParseAmount makes them.
func numeric(cents int64, ok bool) pgtype.Numeric {
	if !ok {
		return pgtype.Numeric{}
	}
	return pgtype.Numeric{Int: big.NewInt(cents), Exp: -2, Valid: true}
}

// Next advances to the next record.
func (x *X12Reader) Next() bool {
	for x.i >= len(x.batch) {
		b, ok := <-x.records
		if !ok {
			return false
		}
		x.batch, x.i = b, 0
	}
	x.record = x.batch[x.i]
	x.i++
	return true
}

// Record returns the current record.
func (x *X12Reader) Record() *Record { return &x.record }

// Stats returns the counts, once Next returned false (the walk writes
// them until then).
func (x *X12Reader) Stats() Stats {
	<-x.fin
	return x.stats
}

// Err returns the error that stopped the stream (a refused file is a
// *HeaderError naming its segment).
func (x *X12Reader) Err() error {
	select {
	case <-x.fin:
		return x.err
	default:
		return nil
	}
}

// FileProblem has nothing to add for X12: the envelope checks refuse a
// broken file as it is read.
func (x *X12Reader) FileProblem() error { return nil }

// Close stops the walk when the upload ends before the records do
// (UploadRecords closes readers that are io.Closers).
func (x *X12Reader) Close() error {
	select {
	case <-x.done:
	default:
		close(x.done)
	}
	for range x.records { // let the walker finish
	}
	return nil
}
