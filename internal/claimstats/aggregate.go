package claimstats

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/upstream-rcm/upstream/internal/db"
)

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

// Quantile is the smallest days to decision at or below which at least
// share (in (0, 1]) of the claims lie; 0 for an empty histogram.
func (h Histogram) Quantile(share float64) int32 {
	n := h.Total()
	if n == 0 {
		return 0
	}
	return h.at(max(1, int64(math.Ceil(share*float64(n)))))
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
	// Amounts of the claims (decision-date windows only).
	Amounts Amounts
}

// Amounts are the dollars of a window's claims: how many have an amount
// (charge_amount, else allowed_amount), their sum and that of the denied
// ones, in cents.
type Amounts struct {
	Claims, Cents, DeniedCents int64
}

// Add returns the sum of two windows' amounts.
func (a Amounts) Add(b Amounts) Amounts {
	return Amounts{a.Claims + b.Claims, a.Cents + b.Cents, a.DeniedCents + b.DeniedCents}
}

// Group is one (payer, CPT group) with its windows by submission date (the
// claims submitted in each window) and by decision date (the claims
// decided in each window).
type Group struct {
	Payer, CPTGroup   string
	Baseline, Current Window // by submission date
	// DecidedBaseline and DecidedCurrent are by decision date.
	DecidedBaseline, DecidedCurrent Window
	// Weeks are the claims decided in each whole week before the current
	// window: Weeks[k] holds [currentStart - 7(k+1), currentStart - 7k),
	// back to the history's start.
	Weeks []Window
	// FirstSubmitted is the earliest submission the rows read show: a
	// submission day, or a decision day minus its claims' days to
	// decision. Zero when the group has no claims in them.
	FirstSubmitted time.Time
}

// denseDays bounds the days to decision summed in a slice rather than a
// map while aggregating: almost every claim is decided within a year.
const denseDays = 512

// windowSum adds histograms into one window.
type windowSum struct {
	volume, denied int64
	amounts        Amounts
	dense          []int64
	sparse         map[int32]int64
}

func (w *windowSum) window() Window {
	out := Window{Volume: w.volume, Denied: w.denied, Amounts: w.amounts}
	for d, n := range w.dense {
		if n > 0 {
			out.Days = append(out.Days, Bin{Days: int32(d), Claims: n})
		}
	}
	for _, d := range slices.Sorted(maps.Keys(w.sparse)) {
		out.Days = append(out.Days, Bin{Days: d, Claims: w.sparse[d]})
	}
	return out
}

// Aggregate returns every (payer, CPT group) with claims submitted or
// decided in the history [historyStart, currentEnd), with the volume,
// denials and histogram of days to decision of the baseline window
// [baselineStart, currentStart) and the current window [currentStart,
// currentEnd) on both bases, and of each whole week of decisions from
// historyStart to currentStart; ordered by payer and CPT group
// (bytewise). historyStart must be whole weeks before currentStart and at
// most baselineStart.
//
// It runs sqlc's ClaimStatsListDays but reads the rows' binary values
// itself: decoding two arrays per row through pgx's generic array codec
// cost five times the query (see BenchmarkDriftComputation), and the sums
// need no intermediate slices.
func Aggregate(ctx context.Context, conn db.DBTX, customerID int64, historyStart, baselineStart, currentStart, currentEnd time.Time) ([]Group, error) {
	split, from := pgDate(currentStart), pgDate(historyStart)
	if from > pgDate(baselineStart) || (split-from)%7 != 0 {
		return nil, fmt.Errorf("read claim statistics: history from %s is not whole weeks before %s and at most %s",
			historyStart.Format(time.DateOnly), currentStart.Format(time.DateOnly), baselineStart.Format(time.DateOnly))
	}
	rows, err := conn.Query(ctx, db.ClaimStatsListDays, customerID, historyStart, currentEnd)
	if err != nil {
		return nil, fmt.Errorf("read claim statistics: %w", err)
	}
	defer rows.Close()
	if err := checkColumns(rows.FieldDescriptions(), aggregateColumns); err != nil {
		return nil, fmt.Errorf("read claim statistics: %w", err)
	}
	type cell struct{ payer, cptGroup string }
	type sums struct {
		baseline, current, decidedBaseline, decidedCurrent windowSum
		weeks                                              []weekSum
		first                                              int32
	}
	cells := map[cell]*sums{}
	baseline, weeks := pgDate(baselineStart), int(split-from)/7
	for rows.Next() {
		v := rows.RawValues() // day, payer, cpt_group, then claims, denied, days on each basis, then the decided amounts
		if len(v) != 12 || len(v[0]) != 4 || len(v[3]) != 8 || len(v[4]) != 8 || len(v[6]) != 8 || len(v[7]) != 8 ||
			len(v[9]) != 8 || len(v[10]) != 8 || len(v[11]) != 8 {
			return nil, fmt.Errorf("read claim statistics: unexpected row shape")
		}
		c := cell{string(v[1]), string(v[2])}
		s := cells[c]
		if s == nil {
			s = &sums{weeks: make([]weekSum, weeks), first: math.MaxInt32}
			cells[c] = s
		}
		day := int32(binary.BigEndian.Uint32(v[0]))
		submitted, decided := &s.baseline, &s.decidedBaseline
		if day >= split {
			submitted, decided = &s.current, &s.decidedCurrent
		}
		if day >= baseline {
			if err := submitted.addBinary(v[3], v[4], v[5]); err != nil {
				return nil, fmt.Errorf("read claim statistics: %w", err)
			}
		}
		if binary.BigEndian.Uint64(v[3]) > 0 {
			s.first = min(s.first, day)
		}
		var week *weekSum
		if day < split {
			week = &s.weeks[(split-day-1)/7]
		}
		maxDays, err := decided.addDecided(v[6], v[7], v[8], day >= baseline, week)
		if err != nil {
			return nil, fmt.Errorf("read claim statistics: %w", err)
		}
		amounts := Amounts{int64(binary.BigEndian.Uint64(v[9])), int64(binary.BigEndian.Uint64(v[10])), int64(binary.BigEndian.Uint64(v[11]))}
		if day >= baseline {
			decided.amounts = decided.amounts.Add(amounts)
		}
		if week != nil {
			week.amounts = week.amounts.Add(amounts)
		}
		if binary.BigEndian.Uint64(v[6]) > 0 {
			s.first = min(s.first, day-maxDays)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read claim statistics: %w", err)
	}
	groups := make([]Group, 0, len(cells))
	for c, s := range cells {
		g := Group{Payer: c.payer, CPTGroup: c.cptGroup,
			Baseline: s.baseline.window(), Current: s.current.window(),
			DecidedBaseline: s.decidedBaseline.window(), DecidedCurrent: s.decidedCurrent.window(),
			Weeks: make([]Window, len(s.weeks))}
		for k := range s.weeks {
			g.Weeks[k] = s.weeks[k].window()
		}
		if s.first != math.MaxInt32 {
			g.FirstSubmitted = pgEpoch.AddDate(0, 0, int(s.first))
		}
		groups = append(groups, g)
	}
	slices.SortFunc(groups, func(a, b Group) int {
		return cmp.Or(cmp.Compare(a.Payer, b.Payer), cmp.Compare(a.CPTGroup, b.CPTGroup))
	})
	return groups, nil
}

// column is a result column Aggregate decodes by position: its name and
// type, so that a query whose columns moved fails loudly instead of
// summing one column as another.
type column struct {
	name string
	oid  uint32
}

// aggregateColumns are ClaimStatsListDays' columns, in order.
var aggregateColumns = []column{
	{"day", pgtype.DateOID}, {"payer", pgtype.TextOID}, {"cpt_group", pgtype.TextOID},
	{"submitted_claims", pgtype.Int8OID}, {"submitted_denied", pgtype.Int8OID}, {"submitted_days", pgtype.Int8ArrayOID},
	{"decided_claims", pgtype.Int8OID}, {"decided_denied", pgtype.Int8OID}, {"decided_days", pgtype.Int8ArrayOID},
	{"decided_amount_claims", pgtype.Int8OID}, {"decided_amount_cents", pgtype.Int8OID}, {"decided_denied_amount_cents", pgtype.Int8OID},
}

// checkColumns checks a result's columns against want: names, types, and
// the binary format for everything but text (text is the same bytes in
// either format).
func checkColumns(fields []pgconn.FieldDescription, want []column) error {
	if len(fields) != len(want) {
		return fmt.Errorf("%d columns, want %d", len(fields), len(want))
	}
	for i, fd := range fields {
		w := want[i]
		switch {
		case fd.Name != w.name:
			return fmt.Errorf("column %d is %q, want %q", i+1, fd.Name, w.name)
		case fd.DataTypeOID != w.oid:
			return fmt.Errorf("column %q has type OID %d, want %d", fd.Name, fd.DataTypeOID, w.oid)
		case w.oid != pgtype.TextOID && fd.Format != pgx.BinaryFormatCode:
			return fmt.Errorf("column %q is not in binary format", fd.Name)
		}
	}
	return nil
}

// pgEpoch is day 0 of PostgreSQL's binary dates.
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// pgDate is a date in PostgreSQL's binary form: days since 2000-01-01.
func pgDate(t time.Time) int32 {
	return int32((t.Unix() - pgEpoch.Unix()) / 86400)
}

// addBinary adds one row's side from binary values: claims and denied as
// int8, days as a one-dimensional int8[] of stored bins.
func (w *windowSum) addBinary(claims, denied, array []byte) error {
	_, err := w.addDecided(claims, denied, array, true, nil)
	return err
}

// addDecided adds one row's side to w when inWindow and to week when not
// nil, and returns the largest days to decision in it.
func (w *windowSum) addDecided(claims, denied, array []byte, inWindow bool, week *weekSum) (int32, error) {
	n, d := int64(binary.BigEndian.Uint64(claims)), int64(binary.BigEndian.Uint64(denied))
	if inWindow {
		w.volume += n
		w.denied += d
	}
	if week != nil {
		week.volume += n
		week.denied += d
	}
	// Array header: ndim, has-null flag, element OID, then (length, lower
	// bound) per dimension; each element is a length and its bytes.
	if len(array) < 12 {
		return 0, fmt.Errorf("histogram array of %d bytes", len(array))
	}
	ndim := binary.BigEndian.Uint32(array)
	if ndim == 0 {
		return 0, nil
	}
	if ndim != 1 || len(array) < 20 {
		return 0, fmt.Errorf("histogram array of %d dimensions", ndim)
	}
	count := int(binary.BigEndian.Uint32(array[12:]))
	elems := array[20:]
	if len(elems) != count*12 {
		return 0, fmt.Errorf("histogram array of %d elements in %d bytes", count, len(elems))
	}
	var maxDays int32
	for i := range count {
		e := elems[i*12:]
		if binary.BigEndian.Uint32(e) != 8 {
			return 0, fmt.Errorf("histogram array with a null element")
		}
		days, claims := unpackBin(int64(binary.BigEndian.Uint64(e[4:])))
		maxDays = max(maxDays, days)
		if inWindow {
			w.addBin(int64(days), claims)
		}
		if week != nil {
			week.bins = append(week.bins, Bin{Days: days, Claims: claims})
		}
	}
	return maxDays, nil
}

// weekSum adds a week's rows: bins are appended as read and merged once.
type weekSum struct {
	volume, denied int64
	amounts        Amounts
	bins           Histogram
}

func (w *weekSum) window() Window {
	slices.SortFunc(w.bins, func(a, b Bin) int { return cmp.Compare(a.Days, b.Days) })
	var h Histogram
	for _, b := range w.bins {
		if n := len(h); n > 0 && h[n-1].Days == b.Days {
			h[n-1].Claims += b.Claims
		} else {
			h = append(h, b)
		}
	}
	return Window{Volume: w.volume, Denied: w.denied, Days: h, Amounts: w.amounts}
}

func (w *windowSum) addBin(d, n int64) {
	if d >= 0 && d < denseDays {
		if int(d) >= len(w.dense) { // grow to fit, doubling, so most windows stay small
			grown := make([]int64, min(denseDays, max(int(d)+1, 2*len(w.dense), 64)))
			copy(grown, w.dense)
			w.dense = grown
		}
		w.dense[d] += n
		return
	}
	if w.sparse == nil {
		w.sparse = map[int32]int64{}
	}
	w.sparse[int32(d)] += n
}

// HistogramOf decodes a stored histogram (claim_stats.*_days).
func HistogramOf(bins []int64) Histogram {
	h := make(Histogram, len(bins))
	for i, v := range bins {
		h[i].Days, h[i].Claims = unpackBin(v)
	}
	return h
}

// Add returns the sum of h and others, in one pass.
func (h Histogram) Add(others ...Histogram) Histogram {
	var w windowSum
	for _, b := range h {
		w.addBin(int64(b.Days), b.Claims)
	}
	for _, o := range others {
		for _, b := range o {
			w.addBin(int64(b.Days), b.Claims)
		}
	}
	return w.window().Days
}
