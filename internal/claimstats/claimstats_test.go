package claimstats

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/upstream-rcm/upstream/internal/testdb"
)

// medianOf is the brute-force reference: sort every value, take the middle
// one or the mean of the middle two.
func medianOf(values []int32) float64 {
	if len(values) == 0 {
		return 0
	}
	s := slices.Clone(values)
	slices.Sort(s)
	mid := len(s) / 2
	if len(s)%2 == 1 {
		return float64(s[mid])
	}
	return (float64(s[mid-1]) + float64(s[mid])) / 2
}

func TestHistogramMedianEqualsSortedValues(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 2000 {
		var values []int32
		var h Histogram
		for d := range int32(rng.IntN(12)) {
			n := rng.IntN(4) // zero-count bins too
			if n == 0 && rng.IntN(2) == 0 {
				continue
			}
			h = append(h, Bin{Days: d * int32(1+rng.IntN(3)), Claims: int64(n)})
			for range n {
				values = append(values, h[len(h)-1].Days)
			}
		}
		slices.SortStableFunc(h, func(a, b Bin) int { return int(a.Days - b.Days) })
		if got, want := h.Median(), medianOf(values); got != want {
			t.Fatalf("trial %d: median of %v = %v, want %v (values %v)", trial, h, got, want, values)
		}
		if got := h.Total(); got != int64(len(values)) {
			t.Fatalf("trial %d: total %d, want %d", trial, got, len(values))
		}
	}
}

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

func TestBinsRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		days   int32
		claims int64
	}{{0, 1}, {7, 4294967295}, {3652425, 12}, {math.MaxInt32, 1}} {
		if d, n := unpackBin(packBin(tc.days, tc.claims)); d != tc.days || n != tc.claims {
			t.Errorf("bin (%d, %d) came back as (%d, %d)", tc.days, tc.claims, d, n)
		}
	}
}

// The database merges histograms bin by bin, keeps them in order of days,
// and refuses a bin that would overflow its 32 bits rather than wrap.
func TestHistogramAddInTheDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	var merged []int64
	if err := pool.QueryRow(ctx, `SELECT claimstats_histogram_add($1, $2)`,
		[]int64{packBin(1, 2), packBin(5, 1)}, []int64{packBin(0, 7), packBin(5, 3), packBin(400, 1)}).Scan(&merged); err != nil {
		t.Fatal(err)
	}
	if want := []int64{packBin(0, 7), packBin(1, 2), packBin(5, 4), packBin(400, 1)}; !slices.Equal(merged, want) {
		t.Fatalf("merged %v, want %v", merged, want)
	}
	_, err := pool.Exec(ctx, `SELECT claimstats_histogram_add($1, $2)`, []int64{packBin(3, 4294967295)}, []int64{packBin(3, 1)})
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != pgerrcode.NumericValueOutOfRange {
		t.Fatalf("overflowing bin: %v, want numeric_value_out_of_range", err)
	}
}

// Aggregate decodes ClaimStatsListDays by position, so it checks the
// columns by name and type: a query with two columns swapped fails loudly.
func TestAggregateRefusesMovedColumns(t *testing.T) {
	t.Parallel()
	fields := func(names ...string) []pgconn.FieldDescription {
		out := make([]pgconn.FieldDescription, len(names))
		for i, n := range names {
			out[i] = pgconn.FieldDescription{Name: n, DataTypeOID: aggregateColumns[i].oid, Format: pgx.BinaryFormatCode}
		}
		return out
	}
	right := []string{"day", "payer", "cpt_group", "submitted_claims", "submitted_denied", "submitted_days", "decided_claims", "decided_denied", "decided_days",
		"decided_amount_claims", "decided_amount_cents", "decided_denied_amount_cents"}
	if err := checkColumns(fields(right...), aggregateColumns); err != nil {
		t.Fatalf("the query's own columns: %v", err)
	}
	swapped := slices.Clone(right)
	swapped[3], swapped[4] = swapped[4], swapped[3] // claims and denials: the same type
	if err := checkColumns(fields(swapped...), aggregateColumns); err == nil || !strings.Contains(err.Error(), "submitted_denied") {
		t.Fatalf("swapped claims and denials: %v, want refused", err)
	}
	wrongType := fields(right...)
	wrongType[5].DataTypeOID = pgtype.Int4ArrayOID
	if err := checkColumns(wrongType, aggregateColumns); err == nil {
		t.Fatal("an int4[] histogram was accepted")
	}
	textFormat := fields(right...)
	textFormat[3].Format = pgx.TextFormatCode
	if err := checkColumns(textFormat, aggregateColumns); err == nil {
		t.Fatal("a count in text format was accepted")
	}
	swapped = slices.Clone(right)
	swapped[10], swapped[11] = swapped[11], swapped[10] // all amounts and denied amounts
	if err := checkColumns(fields(swapped...), aggregateColumns); err == nil {
		t.Fatal("swapped amounts were accepted")
	}
	if err := checkColumns(fields(right[:8]...), aggregateColumns); err == nil {
		t.Fatal("a missing column was accepted")
	}
}
