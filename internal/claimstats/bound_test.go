package claimstats

import "testing"

// The accumulators of k concurrent uploads stay within the budget they
// share, short of the floor; the default bound holds for a large budget.
func TestMaxRowsForSharesTheBudget(t *testing.T) {
	for _, tc := range []struct {
		budget  int64
		uploads int
	}{{512 << 20, 4}, {64 << 20, 4}, {256 << 20, 1}, {1 << 30, 16}, {100 << 20, 3}} {
		rows := MaxRowsFor(tc.budget, tc.uploads)
		if rows > DefaultMaxRows || rows < 10_000 {
			t.Fatalf("MaxRowsFor(%d, %d) = %d, outside [10000, %d]", tc.budget, tc.uploads, rows, DefaultMaxRows)
		}
		if rows > 10_000 && int64(rows)*BytesPerRow*int64(tc.uploads) > tc.budget {
			t.Fatalf("MaxRowsFor(%d, %d) = %d: %d uploads hold %d bytes", tc.budget, tc.uploads, rows, tc.uploads, int64(rows)*BytesPerRow*int64(tc.uploads))
		}
	}
	if got := MaxRowsFor(64<<30, 4); got != DefaultMaxRows {
		t.Fatalf("a large budget gives %d, want DefaultMaxRows", got)
	}
	if got := MaxRowsFor(1<<20, 4); got != 10_000 {
		t.Fatalf("a tiny budget gives %d, want the floor", got)
	}
}
