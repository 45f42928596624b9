package claimstats

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/upstream-rcm/upstream/internal/db"
)

// Driver kinds in claim_drivers: what a (payer, CPT group)'s claims are
// broken down by.
const (
	DriverCPT    = "cpt"    // CPT code within the group
	DriverReason = "reason" // denial reason code; "" when a claim has none
)

// driverKey is one claim_drivers row. Its lock order is the table's key
// order, (payer, CPT group, day, kind, code), strings bytewise; uploads
// write claim_stats first and claim_drivers second, so the two tables'
// locks are taken in one global order too.
type driverKey struct {
	payer, cptGroup string
	day             time.Time
	kind, code      string
}

func compareDriverKeys(a, b driverKey) int {
	return cmp.Or(cmp.Compare(a.payer, b.payer), cmp.Compare(a.cptGroup, b.cptGroup), a.day.Compare(b.day),
		cmp.Compare(a.kind, b.kind), cmp.Compare(a.code, b.code))
}

type driverCounts struct{ claims, denied int64 }

// addDriver counts c under one code on the day it was decided; it returns 1
// for a new key (memory the accumulator must bound), else 0.
func (a *Accumulator) addDriver(c Claim, kind, code string) int {
	k := driverKey{payer: c.Payer, cptGroup: c.CPTGroup, day: c.DecidedDate, kind: kind, code: code}
	n, seen := a.drivers[k]
	if !seen {
		n = &driverCounts{}
		a.drivers[k] = n
	}
	n.claims++
	if c.Denied {
		n.denied++
	}
	if seen {
		return 0
	}
	return 1
}

func (a *Accumulator) storeDrivers(ctx context.Context, q *db.Queries, customerID int64) error {
	keys := slices.SortedFunc(maps.Keys(a.drivers), compareDriverKeys)
	p := db.ClaimDriversAddParams{CustomerID: customerID}
	for _, k := range keys {
		n := a.drivers[k]
		p.Payers = append(p.Payers, k.payer)
		p.CPTGroups = append(p.CPTGroups, k.cptGroup)
		p.Days = append(p.Days, k.day)
		p.Kinds = append(p.Kinds, k.kind)
		p.Codes = append(p.Codes, k.code)
		p.Claims = append(p.Claims, n.claims)
		p.Denied = append(p.Denied, n.denied)
	}
	if err := q.ClaimDriversAdd(ctx, p); err != nil {
		return fmt.Errorf("update claim drivers: %w", err)
	}
	return nil
}

// CodeCounts is one code's claims and denials in the two decision-date
// windows of a (payer, CPT group).
type CodeCounts struct {
	Kind, Code                     string
	BaselineClaims, BaselineDenied int64
	CurrentClaims, CurrentDenied   int64
}

// Drivers reads one (payer, CPT group)'s codes over the decision-date
// windows [baselineStart, currentStart) and [currentStart, currentEnd).
func Drivers(ctx context.Context, q *db.Queries, customerID int64, payer, cptGroup string, baselineStart, currentStart, currentEnd time.Time) ([]CodeCounts, error) {
	rows, err := q.ClaimDriversWindows(ctx, db.ClaimDriversWindowsParams{CustomerID: customerID, Payer: payer, CPTGroup: cptGroup,
		BaselineStart: baselineStart, CurrentStart: currentStart, CurrentEnd: currentEnd})
	if err != nil {
		return nil, fmt.Errorf("read drivers of %s / %s: %w", payer, cptGroup, err)
	}
	out := make([]CodeCounts, len(rows))
	for i, r := range rows {
		out[i] = CodeCounts{Kind: r.Kind, Code: r.Code, BaselineClaims: r.BaselineClaims, BaselineDenied: r.BaselineDenied,
			CurrentClaims: r.CurrentClaims, CurrentDenied: r.CurrentDenied}
	}
	return out, nil
}
