package ingest

import (
	"context"
	"fmt"

	"github.com/upstream-rcm/upstream/internal/claimstats"
	"github.com/upstream-rcm/upstream/internal/db"
)

// ClaimCounts says what an upload did to the customer's claims: new
// claims (every row without a claim id is one), claims it revised (a new
// initial or final version, or a version with other content), and claims
// it repeated exactly.
type ClaimCounts struct {
	New       int `json:"claims_new"`
	Revised   int `json:"claims_revised"`
	Unchanged int `json:"claims_unchanged"`
}

// resolveClaims decides, in the upload's transaction, which of its
// versions are their claims' initial and final ones (SPEC "Claim
// identity"): new claims are inserted, known ones revised. It takes back
// from stats, which counted every row, the upload's versions that do not
// count, and returns the counts and the versions of other uploads that
// are no longer counted. accepted rows were stored, withID of them with a
// claim id; uniqueIDs says no id repeats among them.
func resolveClaims(ctx context.Context, q *db.Queries, customerID, uploadID int64, accepted, withID int, uniqueIDs bool,
	stats *claimstats.Accumulator) (ClaimCounts, claimstats.Versions, error) {
	counts := ClaimCounts{New: accepted - withID}
	var uncounted claimstats.Versions
	if withID == 0 {
		return counts, uncounted, nil
	}
	if err := lockClaims(ctx, q, customerID); err != nil {
		return counts, uncounted, err
	}
	restore, err := preferIndexScans(ctx, q)
	if err != nil {
		return counts, uncounted, err
	}
	defer restore()
	distinct := withID
	if !uniqueIDs {
		n, err := q.ClaimCountOfUpload(ctx, db.ClaimCountOfUploadParams{CustomerID: customerID, UploadID: uploadID})
		if err != nil {
			return counts, uncounted, fmt.Errorf("count the upload's claims: %w", err)
		}
		distinct = int(n)
	}
	// Under lockClaims no other transaction changes the customer's claims
	// meanwhile: every claim of the upload is new or known, and stays so.
	inserted, err := q.ClaimInsertNewOfUpload(ctx, db.ClaimInsertNewOfUploadParams{CustomerID: customerID, UploadID: uploadID, IdsUnique: uniqueIDs})
	if err != nil {
		return counts, uncounted, fmt.Errorf("store new claims: %w", err)
	}
	counts.New += int(inserted)
	if known := distinct - int(inserted); known > 0 {
		rev, err := q.ClaimReviseFromUpload(ctx, db.ClaimReviseFromUploadParams{CustomerID: customerID, UploadID: uploadID, IdsUnique: uniqueIDs})
		if err != nil {
			return counts, uncounted, fmt.Errorf("revise known claims: %w", err)
		}
		if int(rev.ClaimsRevised+rev.ClaimsUnchanged) != known {
			return counts, uncounted, fmt.Errorf("resolve claims: %d revised and unchanged of %d known: the claims changed under the lock",
				rev.ClaimsRevised+rev.ClaimsUnchanged, known)
		}
		counts.Revised, counts.Unchanged = int(rev.ClaimsRevised), int(rev.ClaimsUnchanged)
		uncounted = claimstats.Versions{UploadIDs: rev.UncountedUploadIds, SourceRows: rev.UncountedSourceRows}
	} else if uniqueIDs {
		return counts, uncounted, nil // every row is a new claim's only version: all count
	}
	return counts, uncounted, uncountVersions(ctx, q, customerID, uploadID, stats)
}

// uncountBatch is how many of an upload's uncounted versions one query
// reads back.
const uncountBatch = 10_000

// uncountVersions takes out of stats the upload's rows with claim ids
// that are not their claims' initial versions, read back in pages. Past
// its bound stats holds nothing, and the statistics are read back from
// the counted rows instead.
func uncountVersions(ctx context.Context, q *db.Queries, customerID, uploadID int64, stats *claimstats.Accumulator) error {
	if stats.Overflowed() {
		return nil
	}
	after := int32(0)
	for {
		rows, err := q.ClaimUncountedOfUpload(ctx, db.ClaimUncountedOfUploadParams{CustomerID: customerID, UploadID: uploadID, After: after, MaxRows: uncountBatch})
		if err != nil {
			return fmt.Errorf("read the upload's uncounted versions: %w", err)
		}
		for _, r := range rows {
			if err := stats.Remove(claimstats.Claim{SubmittedDate: r.SubmittedDate, DecidedDate: r.DecidedDate, Payer: r.Payer,
				CPTGroup: r.CPTGroup, CPT: r.CPT, ReasonCode: r.ReasonCode, Denied: r.Denied, AmountCents: r.AmountCents, HasAmount: r.HasAmount}); err != nil {
				return fmt.Errorf("upload %d, row %d: %w", uploadID, r.SourceRow, err)
			}
		}
		if len(rows) < uncountBatch {
			return nil
		}
		after = rows[len(rows)-1].SourceRow
	}
}

// withdrawClaims takes an upload's versions out of its claims, before the
// upload is deleted in the same transaction: the statistics lose its
// counted rows and gain the versions of other uploads that become initial,
// and each claim's initial and final versions are chosen again among the
// rest (a claim with none left is gone).
func withdrawClaims(ctx context.Context, q *db.Queries, customerID, uploadID int64) error {
	if err := lockClaims(ctx, q, customerID); err != nil {
		return err
	}
	restore, err := preferIndexScans(ctx, q)
	if err != nil {
		return err
	}
	defer restore()
	rows, err := q.ClaimNextVersionsWithoutUpload(ctx, db.ClaimNextVersionsWithoutUploadParams{CustomerID: customerID, UploadID: uploadID})
	if err != nil {
		return fmt.Errorf("find the claims' other versions: %w", err)
	}
	var recounted claimstats.Versions
	set := db.ClaimSetVersionsParams{CustomerID: customerID}
	var gone []string
	for _, r := range rows {
		if !r.HasVersions {
			gone = append(gone, r.ClaimID)
			continue
		}
		if r.InitialWasInUpload {
			recounted.UploadIDs = append(recounted.UploadIDs, r.InitialUploadID)
			recounted.SourceRows = append(recounted.SourceRows, r.InitialSourceRow)
		}
		set.ClaimIds = append(set.ClaimIds, r.ClaimID)
		set.InitialUploadIds = append(set.InitialUploadIds, r.InitialUploadID)
		set.InitialSourceRows = append(set.InitialSourceRows, r.InitialSourceRow)
		set.InitialDecided = append(set.InitialDecided, r.InitialDecided)
		set.InitialOutcomes = append(set.InitialOutcomes, r.InitialOutcome)
		set.FinalUploadIds = append(set.FinalUploadIds, r.FinalUploadID)
		set.FinalSourceRows = append(set.FinalSourceRows, r.FinalSourceRow)
		set.FinalDecided = append(set.FinalDecided, r.FinalDecided)
		set.FinalOutcomes = append(set.FinalOutcomes, r.FinalOutcome)
	}
	// The statistics first: what the upload counts is read from the
	// claims' current versions.
	if err := claimstats.WithdrawUpload(ctx, q, customerID, uploadID, recounted); err != nil {
		return err
	}
	if len(set.ClaimIds) > 0 {
		if err := q.ClaimSetVersions(ctx, set); err != nil {
			return fmt.Errorf("choose the claims' versions again: %w", err)
		}
	}
	if len(gone) > 0 {
		if err := q.ClaimDeleteMany(ctx, db.ClaimDeleteManyParams{CustomerID: customerID, ClaimIds: gone}); err != nil {
			return fmt.Errorf("delete claims without versions: %w", err)
		}
	}
	return nil
}

// preferIndexScans turns sequential scans off in the transaction until
// restore: the identity statements read versions this transaction stored
// after the planner's statistics were taken, and a nested loop that
// believes a table empty would scan it once per row (a 35k-row upload took
// minutes). Their joins all have indexes. restore is best effort: the
// transaction ends soon after, and the setting with it.
func preferIndexScans(ctx context.Context, q *db.Queries) (restore func(), err error) {
	if err := q.ClaimsPreferIndexScans(ctx, "off"); err != nil {
		return nil, fmt.Errorf("prefer index scans: %w", err)
	}
	return func() { _ = q.ClaimsPreferIndexScans(context.WithoutCancel(ctx), "on") }, nil
}

// lockClaims serializes the customer's claim decisions until commit (see
// CustomerClaimsLock). Without it, two uploads of many shared new claims
// met each other's inserts, and a second round of locks held the first
// round's: a deadlock one run in twenty.
func lockClaims(ctx context.Context, q *db.Queries, customerID int64) error {
	if err := q.CustomerClaimsLock(ctx, customerID); err != nil {
		return fmt.Errorf("lock the customer's claims: %w", err)
	}
	return nil
}
