// Package trends answers "is this new, or a long slide?": weekly series of
// one (payer, CPT group) from the statistics, read-only.
package trends

import (
	"context"
	"fmt"
	"time"

	"github.com/upstream-rcm/upstream/internal/claimstats"
	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/names"
)

// Bounds of a series.
const (
	DefaultWeeks = 26
	MaxWeeks     = 156
)

// Week is one week of claims decided [Start, End).
type Week struct {
	Start      string   `json:"start"`
	End        string   `json:"end"` // exclusive
	Volume     int      `json:"volume"`
	Denied     int      `json:"denied"`
	DenialRate float64  `json:"denial_rate"`
	RateLow    float64  `json:"denial_rate_low"` // 95% Wilson interval
	RateHigh   float64  `json:"denial_rate_high"`
	MedianDays *float64 `json:"median_days"` // null for an empty week
	// InitiallyDenied counts the claims with ids initially denied this
	// week; Overturned those of them whose final outcome is PAID (SPEC
	// "Claim identity"), with OverturnRate their share (null for none).
	InitiallyDenied int          `json:"initially_denied"`
	Overturned      int          `json:"overturned"`
	OverturnRate    *float64     `json:"overturn_rate"`
	Alerts          []drift.Type `json:"alerts"` // alerts of runs whose current window ends in this week
}

// Series is the weekly trend of one (payer, CPT group).
type Series struct {
	Payer    string `json:"payer"`
	CPTGroup string `json:"cpt_group"`
	Weeks    []Week `json:"weeks"`
}

// ResolveCell returns the customer's (payer, CPT group) that the names a
// person typed mean, matched as drift.MatchName does; a name the customer
// has no claims for is a *drift.UnknownNameError.
func ResolveCell(ctx context.Context, q *db.Queries, customerID int64, payer, cptGroup string) (string, string, error) {
	cells, err := q.ClaimStatsListCells(ctx, customerID)
	if err != nil {
		return "", "", fmt.Errorf("list payers and CPT groups: %w", err)
	}
	// A cell that alerted keeps its trend after its claims are gone.
	subjects, err := q.AlertSubjectListCells(ctx, customerID)
	if err != nil {
		return "", "", fmt.Errorf("list alert subjects: %w", err)
	}
	for _, s := range subjects {
		cells = append(cells, db.ClaimStatsListCellsRow(s))
	}
	var payers []string
	seen := map[string]bool{}
	for _, c := range cells {
		if !seen[c.Payer] {
			seen[c.Payer] = true
			payers = append(payers, c.Payer)
		}
	}
	p, err := names.Match("payer", "claims", payers, payer)
	if err != nil {
		return "", "", err
	}
	var groups []string
	clear(seen)
	for _, c := range cells {
		if c.Payer == p && !seen[c.CPTGroup] {
			seen[c.CPTGroup] = true
			groups = append(groups, c.CPTGroup)
		}
	}
	g, err := names.Match("CPT group", "claims of "+p, groups, cptGroup)
	if err != nil {
		return "", "", err
	}
	return p, g, nil
}

// WeeklySeries returns the weeks ending at asOf (exclusive), oldest first,
// by decision date, as the evidence compares them, for the (payer, CPT
// group) the names mean (ResolveCell).
func WeeklySeries(ctx context.Context, q *db.Queries, customerID int64, payer, cptGroup string, asOf time.Time, weeks int) (*Series, error) {
	if weeks < 1 || weeks > MaxWeeks {
		return nil, fmt.Errorf("weeks must be from 1 to %d, got %d", MaxWeeks, weeks)
	}
	payer, cptGroup, err := ResolveCell(ctx, q, customerID, payer, cptGroup)
	if err != nil {
		return nil, err
	}
	end := drift.Date(asOf)
	start := end.AddDate(0, 0, -7*weeks)
	rows, err := q.ClaimStatsListCellDays(ctx, db.ClaimStatsListCellDaysParams{CustomerID: customerID, Start: start, EndDate: end,
		Payer: payer, CPTGroup: cptGroup})
	if err != nil {
		return nil, fmt.Errorf("read statistics: %w", err)
	}
	alerts, err := q.DriftEventListAlertsOfCell(ctx, db.DriftEventListAlertsOfCellParams{CustomerID: customerID, Payer: payer,
		CPTGroup: cptGroup, Start: start, EndDate: end})
	if err != nil {
		return nil, fmt.Errorf("read alerts: %w", err)
	}
	s := &Series{Payer: payer, CPTGroup: cptGroup, Weeks: make([]Week, weeks)}
	hists := make([]claimstats.Histogram, weeks)
	index := func(day time.Time) int { return int(day.Sub(start).Hours() / 24 / 7) }
	for i := range s.Weeks {
		ws := start.AddDate(0, 0, 7*i)
		s.Weeks[i] = Week{Start: ws.Format(time.DateOnly), End: ws.AddDate(0, 0, 7).Format(time.DateOnly), Alerts: []drift.Type{}}
	}
	for _, r := range rows {
		i := index(r.Day)
		s.Weeks[i].Volume += int(r.DecidedClaims)
		s.Weeks[i].Denied += int(r.DecidedDenied)
		hists[i] = hists[i].Add(claimstats.HistogramOf(r.DecidedDays))
	}
	overturns, err := q.ClaimOverturnsOfCell(ctx, db.ClaimOverturnsOfCellParams{CustomerID: customerID, Start: start, EndDate: end,
		Payer: payer, CPTGroup: cptGroup})
	if err != nil {
		return nil, fmt.Errorf("read overturns: %w", err)
	}
	for _, o := range overturns {
		i := index(o.Day)
		s.Weeks[i].InitiallyDenied += int(o.InitiallyDenied)
		s.Weeks[i].Overturned += int(o.Overturned)
	}
	for _, a := range alerts {
		i := index(a.AsOf.AddDate(0, 0, -1)) // its current window's last day
		s.Weeks[i].Alerts = append(s.Weeks[i].Alerts, drift.Type(a.DriftType))
	}
	for i := range s.Weeks {
		w := &s.Weeks[i]
		if w.InitiallyDenied > 0 {
			r := float64(w.Overturned) / float64(w.InitiallyDenied)
			w.OverturnRate = &r
		}
		if w.Volume > 0 {
			w.DenialRate = float64(w.Denied) / float64(w.Volume)
			w.RateLow, w.RateHigh = drift.Wilson(w.Denied, w.Volume, 1.959963984540054)
			m := hists[i].Median()
			w.MedianDays = &m
		}
	}
	return s, nil
}
