package drift

// Reference implementations the tests (and benchmarks) of this package and
// drift_test compare the production code with; they are not the product.

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/upstream-rcm/upstream/internal/db"
)

// Window names which window a submitted date falls in.
type Window int

// The windows a claim can fall in.
const (
	Outside Window = iota
	Baseline
	Current
)

// Classify returns the window of a claim submitted on day.
func (w Windows) Classify(day time.Time) Window {
	day = Date(day)
	switch {
	case !day.Before(w.BaselineStart) && day.Before(w.BaselineEnd):
		return Baseline
	case !day.Before(w.CurrentStart) && day.Before(w.CurrentEnd):
		return Current
	default:
		return Outside
	}
}

// Median returns the median of values: the middle value, or for an even
// count the mean of the two middle values; 0 for none. values is sorted in
// place.
func Median(values []int) float64 {
	if len(values) == 0 {
		return 0
	}
	sort.Ints(values)
	mid := len(values) / 2
	if len(values)%2 == 1 {
		return float64(values[mid])
	}
	return (float64(values[mid-1]) + float64(values[mid])) / 2
}

// AggregateRawClaims computes what Aggregate does straight from the claim
// rows, with percentile_cont: the reference the statistics are tested and
// benchmarked against.
func AggregateRawClaims(ctx context.Context, q *db.Queries, customerID int64, w Windows) ([]Group, error) {
	rows, err := q.ClaimDriftAggregate(ctx, db.ClaimDriftAggregateParams{
		CustomerID: customerID, BaselineStart: w.BaselineStart, CurrentStart: w.CurrentStart, CurrentEnd: w.CurrentEnd})
	if err != nil {
		return nil, fmt.Errorf("aggregate claims: %w", err)
	}
	groups := make([]Group, len(rows))
	for i, r := range rows {
		groups[i] = Group{Payer: r.Payer, CPTGroup: r.CPTGroup,
			Baseline: WindowStats{Volume: int(r.BaselineVolume), Denied: int(r.BaselineDenied), MedianDays: r.BaselineMedianDays},
			Current:  WindowStats{Volume: int(r.CurrentVolume), Denied: int(r.CurrentDenied), MedianDays: r.CurrentMedianDays}}
	}
	return groups, nil
}
