// Package claimstats owns the drift statistics (claim_stats): one row per
// (customer, day, payer, CPT group) holding the PAID/DENIED claims
// submitted that day and those decided that day, each with its count of
// denials and its histogram of days to decision. They are maintained in
// each upload's transaction, so a drift computation reads them instead of
// every claim. The package accumulates an upload's statistics while the
// claims stream, stores them, reads them back from stored claims when there
// are too many to hold, and aggregates them per (payer, CPT group) and
// window, by submission date and by decision date.
//
// The same rows keep, on the decision-date basis, the claims by CPT code and
// by denial reason code (drivers.go), which say what moved an alert's
// denial rate.
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

// DefaultMaxBins bounds the histogram bins and codes an upload accumulates
// in memory (about 30 bytes each with their share of the keys and the
// allocator's slack); past it, the statistics are computed from the stored
// claims instead. At this bound `upstream upload` stays under 100 MB RSS
// (BenchmarkCLIUploadVersusPsqlCopy); a realistic 1M-row export needs about
// 2.6M, so exports from about 400k rows take the slower read-back.
const DefaultMaxBins = 1_200_000

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

// key is one claim_stats row of the upload: a day (days since the Unix
// epoch) and a (payer, CPT group) cell, interned.
type key struct {
	day  int32
	cell int32
}

// side is one basis of one key: claims, denials and the histogram of days
// to decision as packed bins (days << 32 | claims), sorted by days. Slices
// rather than maps: an upload holds millions of bins.
type side struct {
	claims, denied int64
	bins           []int64
}

func (s *side) add(days int32, denied bool) (newBin bool) {
	s.claims++
	if denied {
		s.denied++
	}
	i, found := slices.BinarySearchFunc(s.bins, days, func(b int64, d int32) int { return cmp.Compare(int32(b>>32), d) })
	if found {
		s.bins[i]++ // days < 2^31 and claims < 2^32 per bin in one upload (bounded in bytes)
		return false
	}
	s.bins = slices.Insert(s.bins, i, packBin(days, 1))
	return true
}

// packBin and unpackBin convert a histogram bin to and from its stored
// form: days in the high 32 bits, claims in the low 32 (claim_stats).
func packBin(days int32, claims int64) int64 { return int64(days)<<32 | claims&0xffffffff }

func unpackBin(v int64) (days int32, claims int64) { return int32(v >> 32), v & 0xffffffff }

// codeCount is one code's claims and denials on a key's decision day.
type codeCount struct {
	code           int32 // interned
	claims, denied uint32
}

func addCode(codes []codeCount, code int32, denied bool) ([]codeCount, bool) {
	for i := range codes {
		if codes[i].code == code {
			codes[i].claims++
			if denied {
				codes[i].denied++
			}
			return codes, false
		}
	}
	c := codeCount{code: code, claims: 1}
	if denied {
		c.denied = 1
	}
	return append(codes, c), true
}

type entry struct {
	submitted, decided side
	cpts, reasons      []codeCount // decision-date basis
}

// Accumulator collects the statistics of the claims an upload streams,
// while they stay few enough to hold: histogram bins and codes are counted
// against a bound, past which Store reads the stored claims back instead.
type Accumulator struct {
	max, used int
	keys      interner[key]
	entries   [][]entry // keys' entries, in chunks of entryChunk, so growing never copies them
	cells     interner[[2]string]
	codes     interner[string]
	overflow  bool
}

// interner numbers distinct values in the order they are first seen, so
// that keys and entries hold small ids rather than strings.
type interner[K comparable] struct {
	ids    map[K]int32
	values []K
}

// id returns v's id, and whether v was new.
func (n *interner[K]) id(v K) (int32, bool) {
	if i, ok := n.ids[v]; ok {
		return i, false
	}
	if n.ids == nil {
		n.ids = map[K]int32{}
	}
	i := int32(len(n.values))
	n.ids[v] = i
	n.values = append(n.values, v)
	return i, true
}

// NewAccumulator holds at most maxBins histogram bins and codes
// (DefaultMaxBins when maxBins <= 0) before it gives up and Store reads the
// claims back.
func NewAccumulator(maxBins int) *Accumulator {
	if maxBins <= 0 {
		maxBins = DefaultMaxBins
	}
	return &Accumulator{max: maxBins}
}

// epochDay is a UTC calendar date as days since 1970-01-01.
func epochDay(t time.Time) int32 { return int32(t.Unix() / 86400) }

const entryChunk = 4096

func (a *Accumulator) entry(day time.Time, cell int32) *entry {
	i, added := a.keys.id(key{day: epochDay(day), cell: cell})
	if added {
		if int(i)%entryChunk == 0 {
			a.entries = append(a.entries, make([]entry, 0, entryChunk))
		}
		last := len(a.entries) - 1
		a.entries[last] = append(a.entries[last], entry{})
	}
	return a.at(i)
}

func (a *Accumulator) at(i int32) *entry { return &a.entries[i/entryChunk][i%entryChunk] }

func (a *Accumulator) code(code string) int32 {
	i, _ := a.codes.id(code)
	return i
}

// Add counts one PAID or DENIED claim, on the day it was submitted and on
// the day it was decided (with its CPT and reason codes).
func (a *Accumulator) Add(c Claim) {
	if a.overflow {
		return
	}
	days := c.DecisionDays()
	cell, _ := a.cells.id([2]string{c.Payer, c.CPTGroup})
	if a.entry(c.SubmittedDate, cell).submitted.add(days, c.Denied) {
		a.used++
	}
	e := a.entry(c.DecidedDate, cell)
	if e.decided.add(days, c.Denied) {
		a.used++
	}
	var added bool
	if e.cpts, added = addCode(e.cpts, a.code(c.CPT), c.Denied); added {
		a.used++
	}
	if e.reasons, added = addCode(e.reasons, a.code(c.ReasonCode), c.Denied); added {
		a.used++
	}
	if a.used > a.max {
		*a = Accumulator{max: a.max, overflow: true}
	}
}

// Store adds the statistics inside the upload's transaction (q): from
// memory, or, past the bound, from the upload's claims just stored.
func (a *Accumulator) Store(ctx context.Context, q *db.Queries, customerID, uploadID int64) error {
	if a.overflow {
		// The read-back sorts and groups the upload's claims: room to do it
		// in memory rather than in temporary files, for this transaction.
		if err := q.SetLocalWorkMem(ctx); err != nil {
			return fmt.Errorf("set work_mem: %w", err)
		}
		if err := q.ClaimStatsAddUpload(ctx, db.ClaimStatsAddUploadParams{CustomerID: customerID, UploadID: uploadID}); err != nil {
			return fmt.Errorf("update claim statistics from stored claims: %w", err)
		}
		return nil
	}
	// The lock order (see the package comment): day, then payer and CPT
	// group bytewise.
	order := make([]int32, len(a.keys.values))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(i, j int32) int {
		ki, kj := a.keys.values[i], a.keys.values[j]
		ci, cj := a.cells.values[ki.cell], a.cells.values[kj.cell]
		return cmp.Or(cmp.Compare(ki.day, kj.day), cmp.Compare(ci[0], cj[0]), cmp.Compare(ci[1], cj[1]))
	})
	// In batches, in order: the lock order holds across them, and no one
	// statement's parameters hold the whole upload's statistics.
	for len(order) > 0 {
		n := min(len(order), storeBatch)
		if err := q.ClaimStatsAdd(ctx, a.params(customerID, order[:n])); err != nil {
			return fmt.Errorf("update claim statistics: %w", err)
		}
		order = order[n:]
	}
	return nil
}

// storeBatch is how many keys one statement of Store writes.
const storeBatch = 10_000

func (a *Accumulator) params(customerID int64, keys []int32) db.ClaimStatsAddParams {
	p := db.ClaimStatsAddParams{CustomerID: customerID}
	var literal []byte
	appendCodes := func(codes []codeCount, names *[]string, counts *[]int64, from, to *[]int32) {
		slices.SortFunc(codes, func(x, y codeCount) int { return cmp.Compare(a.codes.values[x.code], a.codes.values[y.code]) })
		*from = append(*from, int32(len(*counts)+1))
		literal = append(literal[:0], '{')
		for i, c := range codes {
			if i > 0 {
				literal = append(literal, ',')
			}
			literal = appendArrayElement(literal, a.codes.values[c.code])
			*counts = append(*counts, int64(c.claims)<<32|int64(c.denied))
		}
		*names = append(*names, string(append(literal, '}')))
		*to = append(*to, int32(len(*counts)))
	}
	for _, i := range keys {
		k, e := a.keys.values[i], a.at(i)
		cell := a.cells.values[k.cell]
		p.Days = append(p.Days, time.Unix(int64(k.day)*86400, 0).UTC())
		p.Payers = append(p.Payers, cell[0])
		p.CPTGroups = append(p.CPTGroups, cell[1])
		p.SubmittedClaims = append(p.SubmittedClaims, e.submitted.claims)
		p.SubmittedDenied = append(p.SubmittedDenied, e.submitted.denied)
		p.SubmittedFrom = append(p.SubmittedFrom, int32(len(p.SubmittedBins)+1))
		p.SubmittedBins = append(p.SubmittedBins, e.submitted.bins...)
		p.SubmittedTo = append(p.SubmittedTo, int32(len(p.SubmittedBins)))
		p.DecidedClaims = append(p.DecidedClaims, e.decided.claims)
		p.DecidedDenied = append(p.DecidedDenied, e.decided.denied)
		p.DecidedFrom = append(p.DecidedFrom, int32(len(p.DecidedBins)+1))
		p.DecidedBins = append(p.DecidedBins, e.decided.bins...)
		p.DecidedTo = append(p.DecidedTo, int32(len(p.DecidedBins)))
		appendCodes(e.cpts, &p.CPTCodes, &p.CPTCounts, &p.CPTFrom, &p.CPTTo)
		appendCodes(e.reasons, &p.ReasonCodes, &p.ReasonCounts, &p.ReasonFrom, &p.ReasonTo)
	}
	return p
}

// SubtractUpload takes an upload's claims out of the statistics, before the
// caller deletes them in the same transaction, in the upload path's lock
// order.
func SubtractUpload(ctx context.Context, q *db.Queries, customerID, uploadID int64) error {
	if err := q.ClaimStatsSubtractUpload(ctx, db.ClaimStatsSubtractUploadParams{CustomerID: customerID, UploadID: uploadID}); err != nil {
		return fmt.Errorf("subtract upload %d from the statistics: %w", uploadID, err)
	}
	if err := q.ClaimStatsDeleteEmpty(ctx, customerID); err != nil {
		return fmt.Errorf("delete emptied statistics: %w", err)
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

// appendArrayElement appends s to a text[] literal as a quoted element:
// any text round-trips, commas, quotes and backslashes included.
func appendArrayElement(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			dst = append(dst, '\\')
		}
		dst = append(dst, s[i])
	}
	return append(dst, '"')
}
