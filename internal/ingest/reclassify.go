package ingest

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/upstream-rcm/upstream/internal/claimstats"
	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/store"
)

// Reclassified says what re-applying the mappings changed.
type Reclassified struct {
	PayerClaims int64 `json:"payer_claims_renamed"`
	GroupClaims int64 `json:"cpt_group_claims_moved"`
	JobID       int64 `json:"job_id"`
}

// Reclassify re-applies the customer's current mappings to its stored
// claims and rebuilds its statistics, with a drift request and job, in one
// transaction. It locks the customer row FOR UPDATE: it waits for uploads
// and computations in flight and holds new ones off until it commits.
//
// Stored claims keep their trimmed raw payer only while unmapped, so a
// payer mapping applies to names stored raw (the usual mistake: uploading
// before loading mappings); CPT codes are stored raw, so groups are always
// recomputed.
func (u *Uploader) Reclassify(ctx context.Context, customerID int64) (*Reclassified, error) {
	tx, err := u.Pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin reclassification: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	res, err := u.reclassifyTx(ctx, store.New(tx), customerID)
	if err != nil {
		return nil, err
	}
	job, err := u.enqueueDrift(ctx, tx, customerID)
	if err != nil {
		return nil, err
	}
	res.JobID = job.JobID
	if err := commit(ctx, tx); err != nil {
		return nil, fmt.Errorf("commit reclassification: %w", err)
	}
	return res, nil
}

func (u *Uploader) reclassifyTx(ctx context.Context, q *db.Queries, customerID int64) (*Reclassified, error) {
	if err := lockCustomerExclusive(ctx, q, customerID); err != nil {
		return nil, err
	}
	m, err := LoadMappings(ctx, q, customerID)
	if err != nil {
		return nil, err
	}
	// The distinct values, mapped by the code the upload path uses, so a
	// reclassified claim is exactly what a fresh upload would store.
	payers, err := q.ClaimDistinctPayers(ctx, customerID)
	if err != nil {
		return nil, fmt.Errorf("list payers: %w", err)
	}
	var oldPayers, newPayers []string
	for _, p := range payers {
		if n := m.Payer(p); n != p {
			oldPayers, newPayers = append(oldPayers, p), append(newPayers, n)
		}
	}
	cpts, err := q.ClaimDistinctCPTs(ctx, customerID)
	if err != nil {
		return nil, fmt.Errorf("list CPT codes: %w", err)
	}
	groups := make([]string, len(cpts))
	for i, c := range cpts {
		groups[i] = m.CPTGroup(c)
	}
	res := &Reclassified{}
	if res.PayerClaims, err = q.ClaimReclassifyPayers(ctx, db.ClaimReclassifyPayersParams{CustomerID: customerID,
		OldPayers: oldPayers, NewPayers: newPayers}); err != nil {
		return nil, fmt.Errorf("rename payers: %w", err)
	}
	if res.GroupClaims, err = q.ClaimReclassifyCPTGroups(ctx, db.ClaimReclassifyCPTGroupsParams{CustomerID: customerID,
		CPTs: cpts, CPTGroups: groups}); err != nil {
		return nil, fmt.Errorf("regroup CPT codes: %w", err)
	}
	if err := claimstats.Rebuild(ctx, q, customerID); err != nil {
		return nil, err
	}
	// The payers' spans, by their new names.
	all := db.UploadPayerSpansDeleteParams{CustomerID: customerID, FirstUpload: 0, LastUpload: math.MaxInt64}
	if err := q.UploadPayerSpansDelete(ctx, all); err != nil {
		return nil, fmt.Errorf("delete payer spans: %w", err)
	}
	if err := q.UploadPayerSpansRebuild(ctx, db.UploadPayerSpansRebuildParams(all)); err != nil {
		return nil, fmt.Errorf("rebuild payer spans: %w", err)
	}
	if _, err := q.DriftRequestCreate(ctx, db.DriftRequestCreateParams{CustomerID: customerID}); err != nil {
		return nil, fmt.Errorf("request drift computation: %w", err)
	}
	return res, nil
}

// lockCustomerExclusive takes the customer's row FOR UPDATE: it waits for
// uploads, deletions and computations in flight and holds new ones off
// until the transaction ends. Taking it again in one transaction is free.
func lockCustomerExclusive(ctx context.Context, q *db.Queries, customerID int64) error {
	_, err := q.CustomerLockExclusive(ctx, customerID)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("customer %d: %w", customerID, ErrCustomerNotFound)
	}
	if err != nil {
		return fmt.Errorf("lock customer %d: %w", customerID, err)
	}
	return nil
}
