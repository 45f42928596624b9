// Package claimstats owns the drift statistics (claim_stats): one row per
// (customer, day, payer, CPT group) holding the PAID/DENIED claims
// submitted that day and those decided that day, each with its count of
// denials and its histogram of days to decision. They are maintained in
// each upload's transaction, so a drift computation reads them instead of
// every claim. The package accumulates an upload's statistics while the
// claims stream, stores them, reads them back from stored claims when there
// are too many to hold, and aggregates them per (payer, CPT group) and
// window, by submission date and by decision date. Beside them it keeps
// claim_drivers (drivers.go): the same claims by decision day and CPT code
// or denial reason code, which say what moved an alert's denial rate.
//
// Lock ordering: concurrent uploads of one customer upsert overlapping rows.
// Every path writes its keys in one statement in one order, (day, payer, CPT
// group) with strings compared bytewise, so two uploads lock shared rows in
// the same order and cannot deadlock.
package claimstats

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/upstream-rcm/upstream/internal/db"
)

// DefaultMaxBins bounds the histogram bins an upload accumulates in memory;
// past it, the statistics are computed from the stored claims instead.
const DefaultMaxBins = 400_000

// Claim is what the statistics need of a PAID or DENIED claim.
type Claim struct {
	SubmittedDate, DecidedDate time.Time // UTC calendar dates
	Payer, CPTGroup            string
	CPT                        string
	ReasonCode                 string // "" when the claim has none
	Denied                     bool
}

// DecisionDays is the whole days from submission to decision. Unix seconds,
// unlike time.Sub, do not saturate for dates centuries apart.
func (c Claim) DecisionDays() int32 {
	return int32((c.DecidedDate.Unix() - c.SubmittedDate.Unix()) / 86400)
}

type key struct {
	day      time.Time
	payer    string
	cptGroup string
}

func compareKeys(a, b key) int {
	return cmp.Or(a.day.Compare(b.day), cmp.Compare(a.payer, b.payer), cmp.Compare(a.cptGroup, b.cptGroup))
}

// side is one basis of one key: claims, denials and days to decision.
type side struct {
	claims, denied int64
	days           map[int32]int64
}

func (s *side) add(days int32, denied bool) (newBin bool) {
	if s.days == nil {
		s.days = map[int32]int64{}
	}
	_, seen := s.days[days]
	s.days[days]++
	s.claims++
	if denied {
		s.denied++
	}
	return !seen
}

// bins appends the histogram in its stored form, days << 32 | claims, in
// order of days. An upload is bounded in bytes, far below 2^32 claims in
// one bin.
func (s *side) bins(dst []int64) []int64 {
	for _, d := range slices.Sorted(maps.Keys(s.days)) {
		dst = append(dst, packBin(d, s.days[d]))
	}
	return dst
}

// packBin and unpackBin convert a histogram bin to and from its stored
// form: days in the high 32 bits, claims in the low 32 (claim_stats).
func packBin(days int32, claims int64) int64 { return int64(days)<<32 | claims&0xffffffff }

func unpackBin(v int64) (days int32, claims int64) { return int32(v >> 32), v & 0xffffffff }

type entry struct{ submitted, decided side }

// Accumulator collects the statistics of the claims an upload streams,
// while they stay few enough to hold.
type Accumulator struct {
	max, bins int // histogram bins and driver keys held
	entries   map[key]*entry
	drivers   map[driverKey]*driverCounts
	overflow  bool
}

// NewAccumulator holds at most maxBins histogram bins (DefaultMaxBins when
// maxBins <= 0) before it gives up and Store reads the claims back.
func NewAccumulator(maxBins int) *Accumulator {
	if maxBins <= 0 {
		maxBins = DefaultMaxBins
	}
	return &Accumulator{max: maxBins, entries: map[key]*entry{}, drivers: map[driverKey]*driverCounts{}}
}

func (a *Accumulator) entry(day time.Time, c Claim) *entry {
	k := key{day: day, payer: c.Payer, cptGroup: c.CPTGroup}
	e := a.entries[k]
	if e == nil {
		e = &entry{}
		a.entries[k] = e
	}
	return e
}

// Add counts one PAID or DENIED claim, on the day it was submitted and on
// the day it was decided.
func (a *Accumulator) Add(c Claim) {
	if a.overflow {
		return
	}
	days := c.DecisionDays()
	if a.entry(c.SubmittedDate, c).submitted.add(days, c.Denied) {
		a.bins++
	}
	if a.entry(c.DecidedDate, c).decided.add(days, c.Denied) {
		a.bins++
	}
	a.bins += a.addDriver(c, DriverCPT, c.CPT) + a.addDriver(c, DriverReason, c.ReasonCode)
	if a.bins > a.max {
		a.overflow, a.entries, a.drivers = true, nil, nil
	}
}

// Store adds the statistics inside the upload's transaction (q): from
// memory, or, past the bound, from the upload's claims just stored.
func (a *Accumulator) Store(ctx context.Context, q *db.Queries, customerID, uploadID int64) error {
	if a.overflow {
		if err := q.ClaimStatsAddUpload(ctx, db.ClaimStatsAddUploadParams{CustomerID: customerID, UploadID: uploadID}); err != nil {
			return fmt.Errorf("update claim statistics from stored claims: %w", err)
		}
		if err := q.ClaimDriversAddUpload(ctx, db.ClaimDriversAddUploadParams{CustomerID: customerID, UploadID: uploadID}); err != nil {
			return fmt.Errorf("update claim drivers from stored claims: %w", err)
		}
		return nil
	}
	keys := slices.SortedFunc(maps.Keys(a.entries), compareKeys) // the lock order; see the package comment
	p := db.ClaimStatsAddParams{CustomerID: customerID}
	for _, k := range keys {
		e := a.entries[k]
		p.Days = append(p.Days, k.day)
		p.Payers = append(p.Payers, k.payer)
		p.CPTGroups = append(p.CPTGroups, k.cptGroup)
		p.SubmittedClaims = append(p.SubmittedClaims, e.submitted.claims)
		p.SubmittedDenied = append(p.SubmittedDenied, e.submitted.denied)
		p.SubmittedFrom = append(p.SubmittedFrom, int32(len(p.SubmittedBins)+1))
		p.SubmittedBins = e.submitted.bins(p.SubmittedBins)
		p.SubmittedTo = append(p.SubmittedTo, int32(len(p.SubmittedBins)))
		p.DecidedClaims = append(p.DecidedClaims, e.decided.claims)
		p.DecidedDenied = append(p.DecidedDenied, e.decided.denied)
		p.DecidedFrom = append(p.DecidedFrom, int32(len(p.DecidedBins)+1))
		p.DecidedBins = e.decided.bins(p.DecidedBins)
		p.DecidedTo = append(p.DecidedTo, int32(len(p.DecidedBins)))
	}
	if err := q.ClaimStatsAdd(ctx, p); err != nil {
		return fmt.Errorf("update claim statistics: %w", err)
	}
	return a.storeDrivers(ctx, q, customerID)
}

// SubtractUpload takes an upload's claims out of the statistics, before the
// caller deletes them in the same transaction. Each table is written in its
// lock order, claim_stats before claim_drivers as an upload does.
func SubtractUpload(ctx context.Context, q *db.Queries, customerID, uploadID int64) error {
	if err := q.ClaimStatsSubtractUpload(ctx, db.ClaimStatsSubtractUploadParams{CustomerID: customerID, UploadID: uploadID}); err != nil {
		return fmt.Errorf("subtract upload %d from the statistics: %w", uploadID, err)
	}
	if err := q.ClaimStatsDeleteEmpty(ctx, customerID); err != nil {
		return fmt.Errorf("delete emptied statistics: %w", err)
	}
	if err := q.ClaimDriversSubtractUpload(ctx, db.ClaimDriversSubtractUploadParams{CustomerID: customerID, UploadID: uploadID}); err != nil {
		return fmt.Errorf("subtract upload %d from the drivers: %w", uploadID, err)
	}
	if err := q.ClaimDriversDeleteEmpty(ctx, customerID); err != nil {
		return fmt.Errorf("delete emptied drivers: %w", err)
	}
	return nil
}

// Rebuild recomputes a customer's statistics from its stored claims (after
// they were reclassified). The caller holds the customer's row lock FOR
// UPDATE, so no upload writes the same rows meanwhile.
func Rebuild(ctx context.Context, q *db.Queries, customerID int64) error {
	if err := q.ClaimStatsDeleteByCustomer(ctx, customerID); err != nil {
		return fmt.Errorf("delete statistics: %w", err)
	}
	if err := q.ClaimStatsRebuildCustomer(ctx, customerID); err != nil {
		return fmt.Errorf("rebuild statistics: %w", err)
	}
	if err := q.ClaimDriversDeleteByCustomer(ctx, customerID); err != nil {
		return fmt.Errorf("delete drivers: %w", err)
	}
	if err := q.ClaimDriversRebuildCustomer(ctx, customerID); err != nil {
		return fmt.Errorf("rebuild drivers: %w", err)
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

// Group is one (payer, CPT group) with its windows by submission date (the
// claims submitted in each window) and by decision date (the claims
// decided in each window).
type Group struct {
	Payer, CPTGroup   string
	Baseline, Current Window // by submission date
	// DecidedBaseline and DecidedCurrent are by decision date.
	DecidedBaseline, DecidedCurrent Window
}

// denseDays bounds the days to decision summed in a slice rather than a
// map while aggregating: almost every claim is decided within a year.
const denseDays = 512

// windowSum adds histograms into one window.
type windowSum struct {
	volume, denied int64
	dense          []int64
	sparse         map[int32]int64
}

func (w *windowSum) window() Window {
	out := Window{Volume: w.volume, Denied: w.denied}
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
// decided in the baseline window [baselineStart, currentStart) or the
// current window [currentStart, currentEnd), with each window's volume,
// denials and histogram of days to decision, on both bases; ordered by
// payer and CPT group (bytewise).
//
// It runs sqlc's ClaimStatsListDays but reads the rows' binary values
// itself: decoding two arrays per row through pgx's generic array codec
// cost five times the query (see BenchmarkDriftComputation), and the sums
// need no intermediate slices.
func Aggregate(ctx context.Context, conn db.DBTX, customerID int64, baselineStart, currentStart, currentEnd time.Time) ([]Group, error) {
	rows, err := conn.Query(ctx, db.ClaimStatsListDays, customerID, baselineStart, currentEnd)
	if err != nil {
		return nil, fmt.Errorf("read claim statistics: %w", err)
	}
	defer rows.Close()
	for i, fd := range rows.FieldDescriptions() {
		// payer and cpt_group are text, the same bytes in either format.
		if i != 1 && i != 2 && fd.Format != pgx.BinaryFormatCode {
			return nil, fmt.Errorf("read claim statistics: column %d (%s) not in binary format", i, fd.Name)
		}
	}
	type cell struct{ payer, cptGroup string }
	type sums struct{ baseline, current, decidedBaseline, decidedCurrent windowSum }
	cells := map[cell]*sums{}
	split := pgDate(currentStart)
	for rows.Next() {
		v := rows.RawValues() // day, payer, cpt_group, then claims, denied, days on each basis
		if len(v) != 9 || len(v[0]) != 4 || len(v[3]) != 8 || len(v[4]) != 8 || len(v[6]) != 8 || len(v[7]) != 8 {
			return nil, fmt.Errorf("read claim statistics: unexpected row shape")
		}
		c := cell{string(v[1]), string(v[2])}
		s := cells[c]
		if s == nil {
			s = &sums{}
			cells[c] = s
		}
		submitted, decided := &s.baseline, &s.decidedBaseline
		if int32(binary.BigEndian.Uint32(v[0])) >= split {
			submitted, decided = &s.current, &s.decidedCurrent
		}
		if err := submitted.addBinary(v[3], v[4], v[5]); err != nil {
			return nil, fmt.Errorf("read claim statistics: %w", err)
		}
		if err := decided.addBinary(v[6], v[7], v[8]); err != nil {
			return nil, fmt.Errorf("read claim statistics: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read claim statistics: %w", err)
	}
	groups := make([]Group, 0, len(cells))
	for c, s := range cells {
		groups = append(groups, Group{Payer: c.payer, CPTGroup: c.cptGroup,
			Baseline: s.baseline.window(), Current: s.current.window(),
			DecidedBaseline: s.decidedBaseline.window(), DecidedCurrent: s.decidedCurrent.window()})
	}
	slices.SortFunc(groups, func(a, b Group) int {
		return cmp.Or(cmp.Compare(a.Payer, b.Payer), cmp.Compare(a.CPTGroup, b.CPTGroup))
	})
	return groups, nil
}

// pgDate is a date in PostgreSQL's binary form: days since 2000-01-01.
func pgDate(t time.Time) int32 {
	return int32((t.Unix() - time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Unix()) / 86400)
}

// addBinary adds one row's side from binary values: claims and denied as
// int8, days as a one-dimensional int8[] of stored bins.
func (w *windowSum) addBinary(claims, denied, array []byte) error {
	w.volume += int64(binary.BigEndian.Uint64(claims))
	w.denied += int64(binary.BigEndian.Uint64(denied))
	// Array header: ndim, has-null flag, element OID, then (length, lower
	// bound) per dimension; each element is a length and its bytes.
	if len(array) < 12 {
		return fmt.Errorf("histogram array of %d bytes", len(array))
	}
	ndim := binary.BigEndian.Uint32(array)
	if ndim == 0 {
		return nil
	}
	if ndim != 1 || len(array) < 20 {
		return fmt.Errorf("histogram array of %d dimensions", ndim)
	}
	n := int(binary.BigEndian.Uint32(array[12:]))
	elems := array[20:]
	if len(elems) != n*12 {
		return fmt.Errorf("histogram array of %d elements in %d bytes", n, len(elems))
	}
	for i := range n {
		e := elems[i*12:]
		if binary.BigEndian.Uint32(e) != 8 {
			return fmt.Errorf("histogram array with a null element")
		}
		days, count := unpackBin(int64(binary.BigEndian.Uint64(e[4:])))
		w.addBin(int64(days), count)
	}
	return nil
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

// Add returns the sum of two histograms.
func (h Histogram) Add(o Histogram) Histogram {
	var w windowSum
	for _, b := range h {
		w.addBin(int64(b.Days), b.Claims)
	}
	for _, b := range o {
		w.addBin(int64(b.Days), b.Claims)
	}
	return w.window().Days
}
