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
	"fmt"
	"slices"
	"time"

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

// remove takes back one claim add counted; false if it holds none such.
func (s *side) remove(days int32, denied bool) (emptiedBin, ok bool) {
	i, found := slices.BinarySearchFunc(s.bins, days, func(b int64, d int32) int { return cmp.Compare(int32(b>>32), d) })
	if !found || (denied && s.denied == 0) {
		return false, false
	}
	s.claims--
	if denied {
		s.denied--
	}
	if _, n := unpackBin(s.bins[i]); n > 1 {
		s.bins[i]--
		return false, true
	}
	s.bins = slices.Delete(s.bins, i, i+1)
	return true, true
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

func removeCode(codes []codeCount, code int32, denied bool) ([]codeCount, bool, bool) {
	for i := range codes {
		if codes[i].code != code || (denied && codes[i].denied == 0) {
			continue
		}
		if codes[i].claims > 1 {
			codes[i].claims--
			if denied {
				codes[i].denied--
			}
			return codes, false, true
		}
		return slices.Delete(codes, i, i+1), true, true
	}
	return codes, false, false
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

// Remove takes back a claim Add counted: an upload accumulates every row
// as it streams, and takes out those that turn out not to count (versions
// of claims counted at another version). An error means the claim was
// never added, and the accumulator must not be stored: the upload fails.
func (a *Accumulator) Remove(c Claim) error {
	if a.overflow {
		return nil
	}
	notAdded := fmt.Errorf("statistics: removing a claim never added (%s, %s, decided %s)",
		c.Payer, c.CPTGroup, c.DecidedDate.Format(time.DateOnly))
	cell, okCell := a.cells.ids[[2]string{c.Payer, c.CPTGroup}]
	sub, okSub := a.keys.ids[key{day: epochDay(c.SubmittedDate), cell: cell}]
	dec, okDec := a.keys.ids[key{day: epochDay(c.DecidedDate), cell: cell}]
	cpt, okCPT := a.codes.ids[c.CPT]
	reason, okReason := a.codes.ids[c.ReasonCode]
	if !okCell || !okSub || !okDec || !okCPT || !okReason {
		return notAdded
	}
	days, e := c.DecisionDays(), a.at(dec)
	var emptied, ok [4]bool
	emptied[0], ok[0] = a.at(sub).submitted.remove(days, c.Denied)
	emptied[1], ok[1] = e.decided.remove(days, c.Denied)
	e.cpts, emptied[2], ok[2] = removeCode(e.cpts, cpt, c.Denied)
	e.reasons, emptied[3], ok[3] = removeCode(e.reasons, reason, c.Denied)
	for i := range ok {
		if !ok[i] {
			return notAdded
		}
		if emptied[i] {
			a.used--
		}
	}
	return nil
}

// Overflowed says whether the accumulator gave up (past its bound): Store
// then reads the statistics back from the stored claims.
func (a *Accumulator) Overflowed() bool { return a.overflow }

// Store stores the upload's statistics inside its transaction (q), after
// its claims were resolved: from memory (every row Add counted, less those
// Remove took back), or, past the bound, from the upload's counted rows
// just stored; minus the versions of other uploads the upload made
// uncounted. Without those, one statement or batches in lock order write;
// with them, every row is locked first, in one statement in lock order,
// so the statements that follow cannot deadlock with a concurrent upload
// or deletion.
func (a *Accumulator) Store(ctx context.Context, q *db.Queries, customerID, uploadID int64, uncounted Versions) error {
	if a.overflow {
		// The read-back sorts and groups the upload's claims: room to do it
		// in memory rather than in temporary files, for this transaction.
		if err := q.SetLocalWorkMem(ctx); err != nil {
			return fmt.Errorf("set work_mem: %w", err)
		}
	}
	if len(uncounted.UploadIDs) == 0 {
		return a.add(ctx, q, customerID, uploadID)
	}
	var keys db.ClaimStatsLockKeysParams
	lockUpload := uploadID // overflowed, the upload's rows are read back: their keys too
	if !a.overflow {
		keys, lockUpload = a.keyParams(), 0
	}
	if err := lockKeys(ctx, q, customerID, keys, lockUpload, uncounted); err != nil {
		return err
	}
	if err := a.add(ctx, q, customerID, uploadID); err != nil {
		return err
	}
	if err := subtractOf(ctx, q, customerID, 0, uncounted); err != nil {
		return fmt.Errorf("subtract replaced versions from the statistics: %w", err)
	}
	return deleteEmpty(ctx, q, customerID)
}

// add adds the upload's statistics: from memory, in batches in lock
// order, or read back from its counted rows in one statement.
func (a *Accumulator) add(ctx context.Context, q *db.Queries, customerID, uploadID int64) error {
	if a.overflow {
		if err := addOf(ctx, q, customerID, uploadID, Versions{}); err != nil {
			return fmt.Errorf("update claim statistics from stored claims: %w", err)
		}
		return nil
	}
	// The lock order (see the package comment): day, then payer and CPT
	// group bytewise. Keys Remove emptied are left out.
	order := make([]int32, 0, len(a.keys.values))
	for i := range a.keys.values {
		if e := a.at(int32(i)); e.submitted.claims > 0 || e.decided.claims > 0 {
			order = append(order, int32(i))
		}
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

// Versions names stored claim rows (claim_records' primary key within a
// customer): Versions{UploadIDs[i], SourceRows[i]}.
type Versions struct {
	UploadIDs  []int64
	SourceRows []int32
}

// WithdrawUpload takes an upload's counted rows out of the statistics,
// before the caller deletes it in the same transaction, and adds the
// versions of other uploads that become their claims' initial ones
// (recounted). With none, one statement in the upload path's lock order
// does; otherwise every row is locked first, as Store does.
func WithdrawUpload(ctx context.Context, q *db.Queries, customerID, uploadID int64, recounted Versions) error {
	if len(recounted.UploadIDs) > 0 {
		if err := lockKeys(ctx, q, customerID, db.ClaimStatsLockKeysParams{}, uploadID, recounted); err != nil {
			return err
		}
	}
	if err := subtractOf(ctx, q, customerID, uploadID, Versions{}); err != nil {
		return fmt.Errorf("subtract upload %d from the statistics: %w", uploadID, err)
	}
	if len(recounted.UploadIDs) > 0 {
		if err := addOf(ctx, q, customerID, 0, recounted); err != nil {
			return fmt.Errorf("add the claims' remaining versions to the statistics: %w", err)
		}
	}
	return deleteEmpty(ctx, q, customerID)
}

// lockKeys locks the accumulated keys given, the upload's rows' and the
// versions' (ClaimStatsLockKeys).
func lockKeys(ctx context.Context, q *db.Queries, customerID int64, keys db.ClaimStatsLockKeysParams, uploadID int64, v Versions) error {
	keys.CustomerID, keys.UploadID = customerID, uploadID
	keys.Days, keys.Payers, keys.CPTGroups = nonNilSlice(keys.Days), nonNilSlice(keys.Payers), nonNilSlice(keys.CPTGroups)
	keys.VersionUploadIds, keys.VersionSourceRows = nonNilSlice(v.UploadIDs), nonNilSlice(v.SourceRows)
	if err := q.ClaimStatsLockKeys(ctx, keys); err != nil {
		return fmt.Errorf("lock claim statistics: %w", err)
	}
	return nil
}

// addOf adds the statistics of the upload's counted rows (none for upload
// 0) or of the versions.
func addOf(ctx context.Context, q *db.Queries, customerID, uploadID int64, v Versions) error {
	return q.ClaimStatsAddOf(ctx, db.ClaimStatsAddOfParams{CustomerID: customerID, UploadID: uploadID,
		VersionUploadIds: nonNilSlice(v.UploadIDs), VersionSourceRows: nonNilSlice(v.SourceRows)})
}

// subtractOf subtracts the statistics of the upload's counted rows (none
// for upload 0) or of the versions.
func subtractOf(ctx context.Context, q *db.Queries, customerID, uploadID int64, v Versions) error {
	return q.ClaimStatsSubtractOf(ctx, db.ClaimStatsSubtractOfParams{CustomerID: customerID, UploadID: uploadID,
		VersionUploadIds: nonNilSlice(v.UploadIDs), VersionSourceRows: nonNilSlice(v.SourceRows)})
}

// deleteEmpty deletes the rows a change emptied (or locked and left empty).
func deleteEmpty(ctx context.Context, q *db.Queries, customerID int64) error {
	if err := q.ClaimStatsDeleteEmpty(ctx, customerID); err != nil {
		return fmt.Errorf("delete emptied statistics: %w", err)
	}
	return nil
}

// keyParams returns the accumulated keys, to lock.
func (a *Accumulator) keyParams() db.ClaimStatsLockKeysParams {
	var p db.ClaimStatsLockKeysParams
	for _, k := range a.keys.values {
		cell := a.cells.values[k.cell]
		p.Days = append(p.Days, time.Unix(int64(k.day)*86400, 0).UTC())
		p.Payers = append(p.Payers, cell[0])
		p.CPTGroups = append(p.CPTGroups, cell[1])
	}
	return p
}

func nonNilSlice[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
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
