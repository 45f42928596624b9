// Package worklist lists the claims behind an alert: the claims the
// statistics counted in one (payer, CPT group) and window, each with its
// dates, codes, amounts (allowed and charged) and final outcome after appeals, for a team to
// work appeals from. Pages are bounded and keyset-paginated; a CSV export
// streams pages up to MaxCSVRows.
package worklist

import (
	"context"
	"encoding/base64"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/trends"
)

// Windows a worklist can list.
const (
	WindowCurrent  = "current"
	WindowBaseline = "baseline"
)

// Bounds of a listing.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
	// MaxCSVRows bounds a CSV export; past it the export ends with a note.
	MaxCSVRows = 100_000
)

// Request asks for a page of a cell's claims.
type Request struct {
	CustomerID int64
	RunID      int64 // 0: the latest successful run
	// Payer and CPTGroup as a person typed them (matched as drift names
	// are).
	Payer, CPTGroup string
	Window          string // WindowCurrent (default) or WindowBaseline
	DeniedOnly      bool
	Cursor          string // from the previous page's NextCursor
	Limit           int    // DefaultLimit if 0, at most MaxLimit
}

// RequestError is a request that cannot be answered as asked (a 4xx).
type RequestError struct{ Msg string }

func (e *RequestError) Error() string { return e.Msg }

// Claim is one claim behind the alert.
type Claim struct {
	ClaimID          *string `json:"claim_id"` // null when the file had none
	UploadID         int64   `json:"upload_id"`
	SourceRow        int     `json:"source_row"`
	CPT              string  `json:"cpt"`
	SubmittedDate    string  `json:"submitted_date"`
	DecidedDate      string  `json:"decided_date"`
	DaysToDecision   int     `json:"days_to_decision"`
	Outcome          string  `json:"outcome"` // initial, as the statistics count it
	DenialReasonCode *string `json:"denial_reason_code"`
	DenialReasonText *string `json:"denial_reason_text"`
	AllowedAmount    *string `json:"allowed_amount"`
	ChargeAmount     *string `json:"charge_amount"`
	FinalOutcome     string  `json:"final_outcome"` // after appeals and corrections
	FinalDecidedDate string  `json:"final_decided_date"`
}

// Page is one page of a worklist.
type Page struct {
	ReportRunID int64   `json:"report_run_id"`
	Payer       string  `json:"payer"`
	CPTGroup    string  `json:"cpt_group"`
	Window      string  `json:"window"`
	Start       string  `json:"start"`
	End         string  `json:"end"` // exclusive
	DeniedOnly  bool    `json:"denied_only"`
	Claims      []Claim `json:"claims"`
	NextCursor  *string `json:"next_cursor"` // null on the last page
}

// List returns a page of the claims behind the cell's alert in the run:
// those decided in the window its evidence compared (an alert's, the
// denial rate's first), or the run's windows when the cell did not alert.
func List(ctx context.Context, q *db.Queries, r Request) (Page, error) {
	if r.Window == "" {
		r.Window = WindowCurrent
	}
	if r.Window != WindowCurrent && r.Window != WindowBaseline {
		return Page{}, &RequestError{fmt.Sprintf("window must be %s or %s, got %q", WindowCurrent, WindowBaseline, r.Window)}
	}
	if r.Limit == 0 {
		r.Limit = DefaultLimit
	}
	if r.Limit < 1 || r.Limit > MaxLimit {
		return Page{}, &RequestError{fmt.Sprintf("limit must be from 1 to %d, got %d", MaxLimit, r.Limit)}
	}
	after, err := decodeCursor(r.Cursor)
	if err != nil {
		return Page{}, err
	}
	payer, group, err := trends.ResolveCell(ctx, q, r.CustomerID, r.Payer, r.CPTGroup)
	if err != nil {
		return Page{}, err
	}
	run, err := drift.LoadRun(ctx, q, r.CustomerID, r.RunID)
	if err != nil {
		return Page{}, err
	}
	start, end, err := windowOf(run, payer, group, r.Window)
	if err != nil {
		return Page{}, err
	}
	rows, err := q.ClaimListOfCell(ctx, db.ClaimListOfCellParams{CustomerID: r.CustomerID, Payer: payer, CPTGroup: group,
		Start: start, EndDate: end, DeniedOnly: r.DeniedOnly, AfterDecided: after.decided, AfterUpload: after.upload, AfterRow: after.row,
		MaxRows: int32(r.Limit + 1)})
	if err != nil {
		return Page{}, fmt.Errorf("list the claims of %s / %s: %w", payer, group, err)
	}
	p := Page{ReportRunID: run.ReportRun.ID, Payer: payer, CPTGroup: group, Window: r.Window, DeniedOnly: r.DeniedOnly,
		Start: start.Format(time.DateOnly), End: end.Format(time.DateOnly), Claims: make([]Claim, 0, min(len(rows), r.Limit))}
	for i, row := range rows {
		if i == r.Limit {
			c := encodeCursor(cursor{rows[i-1].DecidedDate, rows[i-1].UploadID, rows[i-1].SourceRow})
			p.NextCursor = &c
			break
		}
		p.Claims = append(p.Claims, Claim{ClaimID: row.ClaimID, UploadID: row.UploadID, SourceRow: int(row.SourceRow), CPT: row.CPT,
			SubmittedDate: row.SubmittedDate.Format(time.DateOnly), DecidedDate: row.DecidedDate.Format(time.DateOnly),
			DaysToDecision: int(row.DecidedDate.Sub(row.SubmittedDate).Hours() / 24), Outcome: row.Outcome,
			DenialReasonCode: row.DenialReasonCode, DenialReasonText: row.DenialReasonText, AllowedAmount: amount(row.AllowedAmount), ChargeAmount: amount(row.ChargeAmount),
			FinalOutcome: row.FinalOutcome, FinalDecidedDate: row.FinalDecided.Format(time.DateOnly)})
	}
	return p, nil
}

// windowOf returns the window of the cell's evidence in the run: the
// windows an alert compared (DENIAL_RATE's first), else those of its
// other events, else the run's.
func windowOf(run drift.RunWithEvents, payer, group, window string) (time.Time, time.Time, error) {
	var chosen *drift.EventView
	for i, e := range run.Events {
		if e.Payer != payer || e.CPTGroup != group {
			continue
		}
		if chosen == nil || (e.Alert && !chosen.Alert) {
			chosen = &run.Events[i]
		}
	}
	s := run.ReportRun.Summary
	bs, be, cs, ce := s.BaselineStart, s.BaselineEnd, s.CurrentStart, s.CurrentEnd
	if chosen != nil {
		bs, be, cs, ce = &chosen.BaselineStart, &chosen.BaselineEnd, &chosen.CurrentStart, &chosen.CurrentEnd
	}
	from, to := cs, ce
	if window == WindowBaseline {
		from, to = bs, be
	}
	if from == nil || to == nil {
		return time.Time{}, time.Time{}, &RequestError{fmt.Sprintf("report run %d has no windows", run.ReportRun.ID)}
	}
	start, err1 := time.Parse(time.DateOnly, *from)
	end, err2 := time.Parse(time.DateOnly, *to)
	if err := errors.Join(err1, err2); err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("windows of report run %d: %w", run.ReportRun.ID, err)
	}
	return start, end, nil
}

func amount(n pgtype.Numeric) *string {
	if !n.Valid {
		return nil
	}
	f, err := n.Float64Value()
	if err != nil || !f.Valid {
		return nil
	}
	s := strconv.FormatFloat(f.Float64, 'f', 2, 64)
	return &s
}

type cursor struct {
	decided time.Time
	upload  int64
	row     int32
}

func encodeCursor(c cursor) string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%s|%d|%d", c.decided.Format(time.DateOnly), c.upload, c.row))
}

// decodeCursor reads a cursor; the empty one starts before every claim.
func decodeCursor(s string) (cursor, error) {
	if s == "" {
		return cursor{decided: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), upload: -1, row: -1}, nil
	}
	bad := &RequestError{"cursor is not one this listing returned"}
	if len(s) > 100 {
		return cursor{}, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, bad
	}
	parts := strings.Split(string(raw), "|")
	if len(parts) != 3 {
		return cursor{}, bad
	}
	d, err1 := time.Parse(time.DateOnly, parts[0])
	u, err2 := strconv.ParseInt(parts[1], 10, 64)
	r, err3 := strconv.ParseInt(parts[2], 10, 32)
	if errors.Join(err1, err2, err3) != nil {
		return cursor{}, bad
	}
	return cursor{d, u, int32(r)}, nil
}

var csvHeader = []string{"claim_id", "submitted_date", "decided_date", "days_to_decision", "cpt", "outcome",
	"denial_reason_code", "denial_reason_text", "allowed_amount", "charge_amount", "final_outcome", "final_decided_date", "upload_id", "source_row"}

// WriteCSV streams every page of the worklist r asks for as CSV, up to
// MaxCSVRows claims (a last line says when it stopped there). Values that
// a spreadsheet would run as formulas are quoted as text.
func WriteCSV(ctx context.Context, q *db.Queries, r Request, w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	r.Limit, r.Cursor = MaxLimit, ""
	written := 0
	for {
		p, err := List(ctx, q, r)
		if err != nil {
			return err
		}
		for _, c := range p.Claims {
			if written == MaxCSVRows {
				cw.Flush()
				_, err := fmt.Fprintf(w, "# stopped at %d claims: narrow the listing (--denied, the baseline or current window)\n", MaxCSVRows)
				return err
			}
			text := func(s *string) string {
				if s == nil {
					return ""
				}
				return drift.CSVText(*s)
			}
			if err := cw.Write([]string{text(c.ClaimID), c.SubmittedDate, c.DecidedDate, strconv.Itoa(c.DaysToDecision), drift.CSVText(c.CPT),
				c.Outcome, text(c.DenialReasonCode), text(c.DenialReasonText), text(c.AllowedAmount), text(c.ChargeAmount), c.FinalOutcome, c.FinalDecidedDate,
				strconv.FormatInt(c.UploadID, 10), strconv.Itoa(c.SourceRow)}); err != nil {
				return err
			}
			written++
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return err
		}
		if p.NextCursor == nil {
			return nil
		}
		r.Cursor = *p.NextCursor
	}
}
