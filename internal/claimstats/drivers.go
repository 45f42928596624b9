package claimstats

import (
	"context"
	"fmt"
	"time"

	"github.com/upstream-rcm/upstream/internal/db"
)

// Driver kinds: what a (payer, CPT group)'s claims are broken down by.
const (
	DriverCPT    = "cpt"    // CPT code within the group
	DriverReason = "reason" // denial reason code; "" when a claim has none
)

// CodeCounts is one code's claims and denials in the two decision-date
// windows of a (payer, CPT group).
type CodeCounts struct {
	Kind, Code                     string
	BaselineClaims, BaselineDenied int64
	CurrentClaims, CurrentDenied   int64
}

// Cell is a (payer, CPT group).
type Cell struct{ Payer, CPTGroup string }

// CellWindows is a cell and the windows it was compared on, by decision
// date: the baseline [BaselineStart, BaselineEnd) and the current window
// from CurrentStart (to the end every cell shares).
type CellWindows struct {
	Cell
	BaselineStart, BaselineEnd, CurrentStart time.Time
}

// Drivers reads the codes of the cells' claims decided in each cell's
// windows, the current ones ending at currentEnd, in one query: per cell,
// each code with its counts in both windows, ordered by kind and code.
func Drivers(ctx context.Context, q *db.Queries, customerID int64, cells []CellWindows, currentEnd time.Time) (map[Cell][]CodeCounts, error) {
	out := map[Cell][]CodeCounts{}
	if len(cells) == 0 {
		return out, nil
	}
	p := db.ClaimStatsCodesOfCellsParams{CustomerID: customerID, Start: cells[0].BaselineStart, EndDate: currentEnd}
	windows := map[Cell]CellWindows{}
	for _, c := range cells {
		p.Payers = append(p.Payers, c.Payer)
		p.CPTGroups = append(p.CPTGroups, c.CPTGroup)
		if c.BaselineStart.Before(p.Start) {
			p.Start = c.BaselineStart
		}
		windows[c.Cell] = c
	}
	rows, err := q.ClaimStatsCodesOfCells(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("read the codes of %d cells: %w", len(cells), err)
	}
	type codeKey struct{ kind, code string }
	sums := map[Cell]map[codeKey]*CodeCounts{}
	add := func(cell Cell, kind string, codes []string, counts []int64, current bool) error {
		if len(codes) != len(counts) {
			return fmt.Errorf("codes of %s / %s: %d codes, %d counts", cell.Payer, cell.CPTGroup, len(codes), len(counts))
		}
		if sums[cell] == nil {
			sums[cell] = map[codeKey]*CodeCounts{}
		}
		for i, code := range codes {
			k := codeKey{kind, code}
			c := sums[cell][k]
			if c == nil {
				c = &CodeCounts{Kind: kind, Code: code}
				sums[cell][k] = c
			}
			claims, denied := counts[i]>>32, counts[i]&0xffffffff
			if current {
				c.CurrentClaims += claims
				c.CurrentDenied += denied
			} else {
				c.BaselineClaims += claims
				c.BaselineDenied += denied
			}
		}
		return nil
	}
	for _, r := range rows {
		cell := Cell{r.Payer, r.CPTGroup}
		w := windows[cell]
		current := !r.Day.Before(w.CurrentStart)
		if !current && (r.Day.Before(w.BaselineStart) || !r.Day.Before(w.BaselineEnd)) {
			continue // outside the cell's compared windows
		}
		if err := add(cell, DriverCPT, r.CPTCodes, r.CPTCounts, current); err != nil {
			return nil, err
		}
		if err := add(cell, DriverReason, r.ReasonCodes, r.ReasonCounts, current); err != nil {
			return nil, err
		}
	}
	for cell, codes := range sums {
		for _, c := range codes {
			out[cell] = append(out[cell], *c)
		}
	}
	return out, nil
}
