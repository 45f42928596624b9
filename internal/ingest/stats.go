package ingest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/upstream-rcm/upstream/internal/db"
)

// DefaultMaxStatKeys bounds the day statistics an upload accumulates in
// memory; past it, they are computed from the stored claims instead.
const DefaultMaxStatKeys = 200_000

type statKey struct {
	submitted time.Time
	payer     string
	cptGroup  string
	days      int32
}

type statCounts struct{ claims, denied int64 }

// dayStats accumulates the drift statistics (see claim_day_stats) of the
// claims an upload streams, while they stay few enough to hold.
type dayStats struct {
	max      int
	counts   map[statKey]*statCounts
	overflow bool
}

func newDayStats(max int) *dayStats {
	return &dayStats{max: max, counts: map[statKey]*statCounts{}}
}

func (s *dayStats) add(c *Claim) {
	if s.overflow || (c.Outcome != OutcomePaid && c.Outcome != OutcomeDenied) {
		return
	}
	k := statKey{submitted: c.SubmittedDate, payer: c.Payer, cptGroup: c.CPTGroup,
		// Whole days between UTC dates; Unix seconds, unlike time.Sub, do not
		// saturate for dates centuries apart.
		days: int32((c.DecidedDate.Unix() - c.SubmittedDate.Unix()) / 86400)}
	n := s.counts[k]
	if n == nil {
		if len(s.counts) >= s.max {
			s.overflow, s.counts = true, nil
			return
		}
		n = &statCounts{}
		s.counts[k] = n
	}
	n.claims++
	if c.Outcome == OutcomeDenied {
		n.denied++
	}
}

// store adds the statistics in the upload's transaction: from memory, or,
// past the bound, from the claims just stored.
func (s *dayStats) store(ctx context.Context, q *db.Queries, customerID, uploadID int64) error {
	if s.overflow {
		if err := q.ClaimDayStatsAddUpload(ctx, uploadID); err != nil {
			return fmt.Errorf("update claim statistics from stored claims: %w", err)
		}
		return nil
	}
	keys := make([]statKey, 0, len(s.counts))
	for k := range s.counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b statKey) int {
		return cmp.Or(a.submitted.Compare(b.submitted), cmp.Compare(a.payer, b.payer),
			cmp.Compare(a.cptGroup, b.cptGroup), cmp.Compare(a.days, b.days))
	})
	p := db.ClaimDayStatsAddParams{CustomerID: customerID}
	for _, k := range keys {
		n := s.counts[k]
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
