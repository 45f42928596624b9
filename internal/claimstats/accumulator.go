package claimstats

import (
	"cmp"
	"container/heap"
	"fmt"
	"slices"
	"time"

	"github.com/upstream-rcm/upstream/internal/db"
)

// DefaultMaxRows bounds the claims an upload accumulates in memory (four
// 8-byte records each, 48 MB at the bound); past it, Store reads the
// statistics back from the stored claims instead. At this bound `upstream
// upload` stays under 100 MB RSS (BenchmarkCLIUploadVersusPsqlCopy).
const DefaultMaxRows = 1_500_000

// BytesPerRow is what one claim costs the accumulator: four 8-byte
// records. A process bounds its uploads' memory with maxRows = its share
// of memory / BytesPerRow (see MaxRowsFor).
const BytesPerRow = 32

// MaxRowsFor returns the bound that keeps the accumulators of uploads
// concurrent uploads within budget bytes in all: at most DefaultMaxRows,
// at least 10,000 (below that the read-back path costs more than it
// saves).
func MaxRowsFor(budget int64, uploads int) int {
	if uploads < 1 {
		uploads = 1
	}
	return int(min(max(budget/int64(uploads)/BytesPerRow, 10_000), DefaultMaxRows))
}

// Claim is what the statistics need of a PAID or DENIED claim.
type Claim struct {
	SubmittedDate, DecidedDate time.Time // UTC calendar dates
	Payer, CPTGroup            string
	CPT                        string
	ReasonCode                 string // "" when the claim has none
	Denied                     bool
	// AmountCents is the claim's amount (charge, else allowed) when
	// HasAmount.
	AmountCents int64
	HasAmount   bool
}

// DecisionDays is the whole days from submission to decision. Unix seconds,
// unlike time.Sub, do not saturate for dates centuries apart.
func (c Claim) DecisionDays() int32 {
	return int32((c.DecidedDate.Unix() - c.SubmittedDate.Unix()) / 86400)
}

// Accumulator collects the statistics of the claims an upload streams, as
// packed records: per claim, its histogram bin on the day it was submitted
// and on the day it was decided, and its CPT and reason codes on the day
// it was decided. Store sorts them into claimstats' lock order and sums
// equal records, so memory is a fixed 32 bytes a claim, whatever the
// number of days, cells and codes (a map per day and cell cost about 250
// bytes a claim on real exports). Remove records a claim to take back.
//
// A record, most significant bits first: day (17 bits, days since
// 1900-01-01), cell (20, payer and CPT group), kind (2: submitted bin,
// decided bin, CPT code, reason code), value (24: days to decision, or the
// code), denied (1). Sorted, records are in (day, cell) order, and equal
// records are adjacent.
type Accumulator struct {
	maxRows, rows int
	added         records
	removed       records
	cells         interner[[2]string]
	codes         interner[string]
	// amounts sums the claims' amounts per decision day and cell id: a
	// map, as sums do not pack into records. cellOfRank maps a cell's rank
	// back to its id once the records are ranked.
	amounts    map[dayCell]Amounts
	cellOfRank []int32
	overflow   bool
	ranked     bool
}

// dayCell keys amounts: days since the Unix epoch, and a cell.
type dayCell struct{ day, cell int32 }

// maxAmountKeys bounds the (day, cell) sums an upload holds (about 50
// bytes each; a real export has one per busy cell-day); past it the
// statistics are read back from the stored claims.
const maxAmountKeys = 400_000

const (
	dayBits, cellBits, kindBits, valueBits = 17, 20, 2, 24
	valueShift                             = 1
	kindShift                              = valueShift + valueBits
	cellShift                              = kindShift + kindBits
	dayShift                               = cellShift + cellBits

	kindSubmitted, kindDecided, kindCPT, kindReason = 0, 1, 2, 3

	// epoch1900 is 1900-01-01 in days since the Unix epoch.
	epoch1900 = -25567
	// maxInterned bounds the distinct cells and codes an upload holds (a
	// hostile file can name a new one per row).
	maxInterned = 200_000
)

// Every interned id fits its record field (a compile error otherwise).
const _ = uint(1<<cellBits-maxInterned) + uint(1<<valueBits-maxInterned)

// records holds packed records in fixed chunks: growing never copies them.
type records struct{ chunks [][]uint64 }

const recordChunk = 1 << 16

func (r *records) add(v uint64) {
	if n := len(r.chunks); n == 0 || len(r.chunks[n-1]) == recordChunk {
		r.chunks = append(r.chunks, make([]uint64, 0, recordChunk))
	}
	last := len(r.chunks) - 1
	r.chunks[last] = append(r.chunks[last], v)
}

// interner numbers distinct values in the order they are first seen, so
// that records hold small ids rather than strings.
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

// NewAccumulator holds at most maxRows claims, added and removed
// (DefaultMaxRows when maxRows <= 0), before it gives up and Store reads
// the claims back.
func NewAccumulator(maxRows int) *Accumulator {
	if maxRows <= 0 {
		maxRows = DefaultMaxRows
	}
	return &Accumulator{maxRows: maxRows}
}

// epochDay is a UTC calendar date as days since 1970-01-01.
func epochDay(t time.Time) int32 { return int32(t.Unix() / 86400) }

// pack returns a claim's four records, or false when a field does not fit
// (a date before 1900 or after 2258, too many cells or codes): the
// accumulator then gives up.
func (a *Accumulator) pack(c Claim, intern bool) ([4]uint64, bool) {
	var out [4]uint64
	sub, dec := int64(epochDay(c.SubmittedDate))-epoch1900, int64(epochDay(c.DecidedDate))-epoch1900
	days := int64(c.DecisionDays())
	if sub < 0 || dec < 0 || sub >= 1<<dayBits || dec >= 1<<dayBits || days < 0 || days >= 1<<valueBits {
		return out, false
	}
	cellID, ok := internIn(&a.cells, [2]string{c.Payer, c.CPTGroup}, intern)
	if !ok {
		return out, false
	}
	cptID, ok := internIn(&a.codes, c.CPT, intern)
	if !ok {
		return out, false
	}
	reasonID, ok := internIn(&a.codes, c.ReasonCode, intern)
	if !ok {
		return out, false
	}
	cell, cpt, reason := uint64(cellID), uint64(cptID), uint64(reasonID)
	denied := uint64(0)
	if c.Denied {
		denied = 1
	}
	record := func(day int64, kind, value uint64) uint64 {
		return uint64(day)<<dayShift | cell<<cellShift | kind<<kindShift | value<<valueShift | denied
	}
	out[0] = record(sub, kindSubmitted, uint64(days))
	out[1] = record(dec, kindDecided, uint64(days))
	out[2] = record(dec, kindCPT, cpt)
	out[3] = record(dec, kindReason, reason)
	return out, true
}

// internIn returns v's id, interning it when add (unless the interner
// holds maxInterned values, which every record field can number); false
// when it has none.
func internIn[K comparable](n *interner[K], v K, add bool) (int32, bool) {
	if i, ok := n.ids[v]; ok {
		return i, true
	}
	if !add || len(n.values) >= maxInterned {
		return 0, false
	}
	i, _ := n.id(v)
	return i, true
}

// Add counts one PAID or DENIED claim, on the day it was submitted and on
// the day it was decided (with its CPT and reason codes).
func (a *Accumulator) Add(c Claim) {
	if a.overflow {
		return
	}
	r, ok := a.pack(c, true)
	if !ok || a.rows == a.maxRows {
		a.giveUp()
		return
	}
	a.rows++
	for _, v := range r {
		a.added.add(v)
	}
	a.addAmount(c, 1)
}

// addAmount adds (sign 1) or takes back (-1) a packed claim's amount.
func (a *Accumulator) addAmount(c Claim, sign int64) {
	if !c.HasAmount || a.overflow {
		return
	}
	cell, _ := internIn(&a.cells, [2]string{c.Payer, c.CPTGroup}, false) // interned by pack
	k := dayCell{epochDay(c.DecidedDate), cell}
	if a.amounts == nil {
		a.amounts = map[dayCell]Amounts{}
	}
	m, ok := a.amounts[k]
	if !ok && len(a.amounts) == maxAmountKeys {
		a.giveUp()
		return
	}
	denied := int64(0)
	if c.Denied {
		denied = c.AmountCents
	}
	a.amounts[k] = m.Add(Amounts{sign, sign * c.AmountCents, sign * denied})
}

// giveUp frees what was accumulated: Store reads the claims back.
func (a *Accumulator) giveUp() {
	*a = Accumulator{maxRows: a.maxRows, overflow: true}
}

// Remove takes back a claim Add counted: an upload accumulates every row
// as it streams, and takes out those that turn out not to count (versions
// of claims counted at another version). A claim never added makes this
// or Store fail: the statistics would be wrong, so the upload must fail.
func (a *Accumulator) Remove(c Claim) error {
	if a.overflow {
		return nil
	}
	r, ok := a.pack(c, false)
	if !ok {
		return fmt.Errorf("statistics: removing a claim never added (%s, %s, decided %s)",
			c.Payer, c.CPTGroup, c.DecidedDate.Format(time.DateOnly))
	}
	if a.rows == a.maxRows {
		a.giveUp()
		return nil
	}
	a.rows++
	for _, v := range r {
		a.removed.add(v)
	}
	a.addAmount(c, -1)
	return nil
}

// Overflowed says whether the accumulator gave up (past its bound): Store
// then reads the statistics back from the stored claims.
func (a *Accumulator) Overflowed() bool { return a.overflow }

// rank renumbers cells and codes in byte order of their names, in every
// record, and sorts each chunk: the chunks' merge is then in lock order
// (day, then payer and CPT group bytewise), codes in the order they are
// stored. Once; no claim can be added after.
func (a *Accumulator) rank() {
	if a.ranked {
		return
	}
	a.ranked = true
	cellRank := ranks(a.cells.values, func(x, y [2]string) int { return cmp.Or(cmp.Compare(x[0], y[0]), cmp.Compare(x[1], y[1])) })
	codeRank := ranks(a.codes.values, cmp.Compare[string])
	a.cells.values = permute(a.cells.values, cellRank)
	a.codes.values = permute(a.codes.values, codeRank)
	// amounts stay keyed by cell id (a second map keyed by rank would
	// double them at the peak); each looks them up through cellOfRank.
	a.cellOfRank = make([]int32, len(cellRank))
	for id, r := range cellRank {
		a.cellOfRank[r] = int32(id)
	}
	const cellMask, valueMask = 1<<cellBits - 1, 1<<valueBits - 1
	for _, rs := range []*records{&a.added, &a.removed} {
		for _, chunk := range rs.chunks {
			for i, v := range chunk {
				v = v&^(cellMask<<cellShift) | uint64(cellRank[v>>cellShift&cellMask])<<cellShift
				if kind := v >> kindShift & 3; kind == kindCPT || kind == kindReason {
					v = v&^(valueMask<<valueShift) | uint64(codeRank[v>>valueShift&valueMask])<<valueShift
				}
				chunk[i] = v
			}
			slices.Sort(chunk)
		}
	}
}

// ranks returns each value's position in sorted order.
func ranks[K any](values []K, compare func(K, K) int) []int32 {
	order := make([]int32, len(values))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(i, j int32) int { return compare(values[i], values[j]) })
	rank := make([]int32, len(values))
	for r, i := range order {
		rank[i] = int32(r)
	}
	return rank
}

// permute returns values reordered so that the value of id i is at rank[i].
func permute[K any](values []K, rank []int32) []K {
	out := make([]K, len(values))
	for i, v := range values {
		out[rank[i]] = v
	}
	return out
}

// cursor walks one sorted chunk; sign is +1 for added records, -1 for
// removed ones.
type cursor struct {
	chunk []uint64
	sign  int64
}

type cursors []*cursor

func (h cursors) Len() int           { return len(h) }
func (h cursors) Less(i, j int) bool { return h[i].chunk[0] < h[j].chunk[0] }
func (h cursors) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *cursors) Push(x any)        { *h = append(*h, x.(*cursor)) }
func (h *cursors) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

// keyStats is one statistics row: a day and cell, with both bases'
// counts and histograms and the decision day's codes, as their ranks.
type keyStats struct {
	day, cell          int32 // days since the Unix epoch; cell rank
	submitted, decided sideStats
	cpts, reasons      []codeStats
	amounts            Amounts // of the claims decided that day
}

type sideStats struct {
	claims, denied int64
	bins           []int64 // packed (packBin), by days
}

type codeStats struct {
	code           int32 // rank
	claims, denied int64
}

// each calls fn with every non-empty statistics row, in lock order: the
// sum of the records added less those removed. A count that would go
// negative (a claim removed that was never added) is an error. The
// keyStats passed is reused across calls.
func (a *Accumulator) each(fn func(k *keyStats) error) error {
	a.rank()
	var h cursors
	for _, rs := range []struct {
		r    *records
		sign int64
	}{{&a.added, 1}, {&a.removed, -1}} {
		for _, chunk := range rs.r.chunks {
			if len(chunk) > 0 {
				h = append(h, &cursor{chunk: chunk, sign: rs.sign})
			}
		}
	}
	heap.Init(&h)
	next := func() (uint64, int64, bool) {
		if len(h) == 0 {
			return 0, 0, false
		}
		c := h[0]
		v, sign := c.chunk[0], c.sign
		if c.chunk = c.chunk[1:]; len(c.chunk) == 0 {
			heap.Pop(&h)
		} else {
			heap.Fix(&h, 0)
		}
		return v, sign, true
	}
	var k keyStats
	started := false
	flush := func() error {
		if started && (k.submitted.claims > 0 || k.decided.claims > 0) {
			k.amounts = a.amounts[dayCell{k.day, a.cellOfRank[k.cell]}]
			return fn(&k)
		}
		return nil
	}
	v, sign, ok := next()
	for ok {
		// All records equal to v, and the same with the other denied bit.
		group := v &^ 1
		var n [2]int64
		for ok && v&^1 == group {
			n[v&1] += sign
			v, sign, ok = next()
		}
		if n[0] < 0 || n[1] < 0 {
			return fmt.Errorf("statistics: a claim was removed that was never added (%s)", a.describe(group))
		}
		claims, denied := n[0]+n[1], n[1]
		if claims == 0 {
			continue
		}
		day := int32(int64(group>>dayShift) + epoch1900)
		cell := int32(group >> cellShift & (1<<cellBits - 1))
		if !started || day != k.day || cell != k.cell {
			if err := flush(); err != nil {
				return err
			}
			started = true
			k = keyStats{day: day, cell: cell, submitted: sideStats{bins: k.submitted.bins[:0]}, decided: sideStats{bins: k.decided.bins[:0]},
				cpts: k.cpts[:0], reasons: k.reasons[:0]}
		}
		value := int32(group >> valueShift & (1<<valueBits - 1))
		switch group >> kindShift & 3 {
		case kindSubmitted:
			k.submitted.add(value, claims, denied)
		case kindDecided:
			k.decided.add(value, claims, denied)
		case kindCPT:
			k.cpts = append(k.cpts, codeStats{code: value, claims: claims, denied: denied})
		case kindReason:
			k.reasons = append(k.reasons, codeStats{code: value, claims: claims, denied: denied})
		}
	}
	return flush()
}

func (s *sideStats) add(days int32, claims, denied int64) {
	s.claims += claims
	s.denied += denied
	s.bins = append(s.bins, packBin(days, claims))
}

// describe names a record's day and cell, for errors.
func (a *Accumulator) describe(group uint64) string {
	day := time.Unix(int64(int64(group>>dayShift)+epoch1900)*86400, 0).UTC()
	cell := a.cells.values[group>>cellShift&(1<<cellBits-1)]
	return fmt.Sprintf("%s, %s, %s", cell[0], cell[1], day.Format(time.DateOnly))
}

// appendKey appends one statistics row to a statement's parameters.
func (a *Accumulator) appendKey(p *db.ClaimStatsAddParams, k *keyStats, literal *[]byte) {
	appendCodes := func(codes []codeStats, names *[]string, counts *[]int64, from, to *[]int32) {
		*from = append(*from, int32(len(*counts)+1))
		lit := append((*literal)[:0], '{')
		for i, c := range codes {
			if i > 0 {
				lit = append(lit, ',')
			}
			lit = appendArrayElement(lit, a.codes.values[c.code])
			*counts = append(*counts, c.claims<<32|c.denied)
		}
		*names = append(*names, string(append(lit, '}')))
		*to = append(*to, int32(len(*counts)))
		*literal = lit
	}
	cell := a.cells.values[k.cell]
	p.Days = append(p.Days, time.Unix(int64(k.day)*86400, 0).UTC())
	p.Payers = append(p.Payers, cell[0])
	p.CPTGroups = append(p.CPTGroups, cell[1])
	p.SubmittedClaims = append(p.SubmittedClaims, k.submitted.claims)
	p.SubmittedDenied = append(p.SubmittedDenied, k.submitted.denied)
	p.SubmittedFrom = append(p.SubmittedFrom, int32(len(p.SubmittedBins)+1))
	p.SubmittedBins = append(p.SubmittedBins, k.submitted.bins...)
	p.SubmittedTo = append(p.SubmittedTo, int32(len(p.SubmittedBins)))
	p.DecidedClaims = append(p.DecidedClaims, k.decided.claims)
	p.DecidedDenied = append(p.DecidedDenied, k.decided.denied)
	p.DecidedFrom = append(p.DecidedFrom, int32(len(p.DecidedBins)+1))
	p.DecidedBins = append(p.DecidedBins, k.decided.bins...)
	p.DecidedTo = append(p.DecidedTo, int32(len(p.DecidedBins)))
	p.DecidedAmountClaims = append(p.DecidedAmountClaims, k.amounts.Claims)
	p.DecidedAmountCents = append(p.DecidedAmountCents, k.amounts.Cents)
	p.DecidedDeniedAmountCents = append(p.DecidedDeniedAmountCents, k.amounts.DeniedCents)
	appendCodes(k.cpts, &p.CPTCodes, &p.CPTCounts, &p.CPTFrom, &p.CPTTo)
	appendCodes(k.reasons, &p.ReasonCodes, &p.ReasonCounts, &p.ReasonFrom, &p.ReasonTo)
}

// keyParams returns the accumulated keys, to lock.
func (a *Accumulator) keyParams() (db.ClaimStatsLockKeysParams, error) {
	var p db.ClaimStatsLockKeysParams
	err := a.each(func(k *keyStats) error {
		cell := a.cells.values[k.cell]
		p.Days = append(p.Days, time.Unix(int64(k.day)*86400, 0).UTC())
		p.Payers = append(p.Payers, cell[0])
		p.CPTGroups = append(p.CPTGroups, cell[1])
		return nil
	})
	return p, err
}
