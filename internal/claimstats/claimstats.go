// Package claimstats owns the drift statistics: per-day sufficient
// statistics of the claims (claim_day_stats), maintained in each upload's
// transaction so that a drift computation reads them instead of every claim.
// It accumulates an upload's statistics while the claims stream, stores them,
// reads them back from stored claims when there are too many to hold, and
// aggregates them per (payer, CPT group) and window.
//
// Lock ordering: concurrent uploads of one customer upsert overlapping rows.
// Every path writes its keys in one order, (submitted date, payer, CPT group,
// decision days) with strings compared bytewise, so two uploads lock shared
// rows in the same order and cannot deadlock.
package claimstats

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/upstream-rcm/upstream/internal/db"
)

// DefaultMaxKeys bounds the statistics an upload accumulates in memory;
// past it, they are computed from the stored claims instead.
const DefaultMaxKeys = 200_000

// Claim is what the statistics need of a PAID or DENIED claim.
type Claim struct {
	SubmittedDate, DecidedDate time.Time // UTC calendar dates
	Payer, CPTGroup            string
	Denied                     bool
}

// DecisionDays is the whole days from submission to decision. Unix seconds,
// unlike time.Sub, do not saturate for dates centuries apart.
func (c Claim) DecisionDays() int32 {
	return int32((c.DecidedDate.Unix() - c.SubmittedDate.Unix()) / 86400)
}

type key struct {
	submitted time.Time
	payer     string
	cptGroup  string
	days      int32
}

func compareKeys(a, b key) int {
	return cmp.Or(a.submitted.Compare(b.submitted), cmp.Compare(a.payer, b.payer),
		cmp.Compare(a.cptGroup, b.cptGroup), cmp.Compare(a.days, b.days))
}

type counts struct{ claims, denied int64 }

// Accumulator collects the statistics of the claims an upload streams,
// while they stay few enough to hold.
type Accumulator struct {
	max      int
	counts   map[key]*counts
	overflow bool
}

// NewAccumulator holds at most maxKeys distinct keys (DefaultMaxKeys when
// maxKeys <= 0) before it gives up and Store reads the claims back.
func NewAccumulator(maxKeys int) *Accumulator {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	return &Accumulator{max: maxKeys, counts: map[key]*counts{}}
}

// Add counts one PAID or DENIED claim.
func (a *Accumulator) Add(c Claim) {
	if a.overflow {
		return
	}
	k := key{submitted: c.SubmittedDate, payer: c.Payer, cptGroup: c.CPTGroup, days: c.DecisionDays()}
	n := a.counts[k]
	if n == nil {
		if len(a.counts) >= a.max {
			a.overflow, a.counts = true, nil
			return
		}
		n = &counts{}
		a.counts[k] = n
	}
	n.claims++
	if c.Denied {
		n.denied++
	}
}

// Store adds the statistics inside the upload's transaction (q): from
// memory, or, past the bound, from the upload's claims just stored.
func (a *Accumulator) Store(ctx context.Context, q *db.Queries, customerID, uploadID int64) error {
	if a.overflow {
		if err := q.ClaimDayStatsAddUpload(ctx, uploadID); err != nil {
			return fmt.Errorf("update claim statistics from stored claims: %w", err)
		}
		return nil
	}
	keys := make([]key, 0, len(a.counts))
	for k := range a.counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareKeys) // the lock order; see the package comment
	p := db.ClaimDayStatsAddParams{CustomerID: customerID}
	for _, k := range keys {
		n := a.counts[k]
		p.SubmittedDates = append(p.SubmittedDates, k.submitted)
		p.Payers = append(p.Payers, k.payer)
		p.CPTGroups = append(p.CPTGroups, k.cptGroup)
		p.DecisionDays = append(p.DecisionDays, k.days)
		p.Claims = append(p.Claims, n.claims)
		p.Denied = append(p.Denied, n.denied)
	}
	if err := q.ClaimDayStatsAdd(ctx, p); err != nil {
		return fmt.Errorf("update claim statistics: %w", err)
	}
	return nil
}

// Bin is one value of a histogram of days to decision.
type Bin struct {
	Days   int32
	Claims int64
}

// Histogram counts claims by whole days to decision, in increasing order of
// days.
type Histogram []Bin

// Total is the number of claims counted.
func (h Histogram) Total() int64 {
	var n int64
	for _, b := range h {
		n += b.Claims
	}
	return n
}

// Median is the median days to decision: the middle value, or for an even
// count the mean of the two middle values (as percentile_cont(0.5)
// computes it); 0 for an empty histogram.
func (h Histogram) Median() float64 {
	n := h.Total()
	if n == 0 {
		return 0
	}
	lo, hi := h.at((n+1)/2), h.at(n/2+1)
	return (float64(lo) + float64(hi)) / 2
}

// at returns the days of the claim at 1-based position pos in sorted order.
func (h Histogram) at(pos int64) int32 {
	var seen int64
	for _, b := range h {
		seen += b.Claims
		if seen >= pos {
			return b.Days
		}
	}
	return h[len(h)-1].Days
}

// Window is one window of one (payer, CPT group): PAID and DENIED claims.
type Window struct {
	Volume, Denied int64
	Days           Histogram
}

// Group is one (payer, CPT group) with both windows.
type Group struct {
	Payer, CPTGroup   string
	Baseline, Current Window
}

// Aggregate returns every (payer, CPT group) with claims submitted in the
// baseline window [baselineStart, currentStart) or the current window
// [currentStart, currentEnd), with each window's volume, denials and
// histogram of days to decision; ordered by payer and CPT group.
func Aggregate(ctx context.Context, q *db.Queries, customerID int64, baselineStart, currentStart, currentEnd time.Time) ([]Group, error) {
	rows, err := q.ClaimDayStatsAggregate(ctx, db.ClaimDayStatsAggregateParams{
		CustomerID: customerID, BaselineStart: baselineStart, CurrentStart: currentStart, CurrentEnd: currentEnd})
	if err != nil {
		return nil, fmt.Errorf("aggregate claim statistics: %w", err)
	}
	// Rows come ordered by (payer, cpt_group, is_current, decision_days).
	var groups []Group
	for _, r := range rows {
		if n := len(groups); n == 0 || groups[n-1].Payer != r.Payer || groups[n-1].CPTGroup != r.CPTGroup {
			groups = append(groups, Group{Payer: r.Payer, CPTGroup: r.CPTGroup})
		}
		w := &groups[len(groups)-1].Baseline
		if r.IsCurrent {
			w = &groups[len(groups)-1].Current
		}
		w.Volume += r.Claims
		w.Denied += r.Denied
		w.Days = append(w.Days, Bin{Days: r.DecisionDays, Claims: r.Claims})
	}
	return groups, nil
}
