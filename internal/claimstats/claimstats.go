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
	"context"
	"fmt"

	"github.com/upstream-rcm/upstream/internal/db"
)

// packBin and unpackBin convert a histogram bin to and from its stored
// form: days in the high 32 bits, claims in the low 32 (claim_stats).
func packBin(days int32, claims int64) int64 { return int64(days)<<32 | claims&0xffffffff }

func unpackBin(v int64) (days int32, claims int64) { return int32(v >> 32), v & 0xffffffff }

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
		var err error
		if keys, err = a.keyParams(); err != nil {
			return err
		}
		lockUpload = 0
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
	// In batches, in lock order (see the package comment): the order holds
	// across them, and no one statement's parameters hold the whole
	// upload's statistics.
	var p db.ClaimStatsAddParams
	var literal []byte
	n := 0
	flush := func() error {
		if n == 0 {
			return nil
		}
		p.CustomerID = customerID
		if err := q.ClaimStatsAdd(ctx, p); err != nil {
			return fmt.Errorf("update claim statistics: %w", err)
		}
		p, n = db.ClaimStatsAddParams{}, 0
		return nil
	}
	err := a.each(func(k *keyStats) error {
		a.appendKey(&p, k, &literal)
		n++
		if n == storeBatch || len(p.SubmittedBins)+len(p.DecidedBins)+len(p.CPTCounts)+len(p.ReasonCounts) >= storeBatchValues {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// storeBatch is how many keys one statement of Store writes, and
// storeBatchValues how many histogram bins and code counts: a year of a
// busy export's keys carry tens of values each, and 10,000 of them encoded
// as one statement's parameters held 45 MB (half an upload's peak heap).
const (
	storeBatch       = 10_000
	storeBatchValues = 50_000
)

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
	if err := q.ClaimStatsAddOf(ctx, db.ClaimStatsAddOfParams{CustomerID: customerID, UploadID: uploadID,
		VersionUploadIds: nonNilSlice(v.UploadIDs), VersionSourceRows: nonNilSlice(v.SourceRows)}); err != nil {
		return err
	}
	return amountsOf(ctx, q, customerID, uploadID, v, 1)
}

// amountsOf adds (sign 1) or subtracts (-1) the amounts of the upload's
// counted rows or of the versions, to rows the statement before it wrote
// (so locked already, in lock order).
func amountsOf(ctx context.Context, q *db.Queries, customerID, uploadID int64, v Versions, sign int64) error {
	if err := q.ClaimStatsAddAmountsOf(ctx, db.ClaimStatsAddAmountsOfParams{Sign: sign, CustomerID: customerID, UploadID: uploadID,
		VersionUploadIds: nonNilSlice(v.UploadIDs), VersionSourceRows: nonNilSlice(v.SourceRows)}); err != nil {
		return fmt.Errorf("update the statistics' amounts: %w", err)
	}
	return nil
}

// subtractOf subtracts the statistics of the upload's counted rows (none
// for upload 0) or of the versions.
func subtractOf(ctx context.Context, q *db.Queries, customerID, uploadID int64, v Versions) error {
	if err := q.ClaimStatsSubtractOf(ctx, db.ClaimStatsSubtractOfParams{CustomerID: customerID, UploadID: uploadID,
		VersionUploadIds: nonNilSlice(v.UploadIDs), VersionSourceRows: nonNilSlice(v.SourceRows)}); err != nil {
		return err
	}
	return amountsOf(ctx, q, customerID, uploadID, v, -1)
}

// deleteEmpty deletes the rows a change emptied (or locked and left empty).
func deleteEmpty(ctx context.Context, q *db.Queries, customerID int64) error {
	if err := q.ClaimStatsDeleteEmpty(ctx, customerID); err != nil {
		return fmt.Errorf("delete emptied statistics: %w", err)
	}
	return nil
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
	if err := q.ClaimStatsRebuildAmounts(ctx, customerID); err != nil {
		return fmt.Errorf("rebuild the statistics' amounts: %w", err)
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
