package ingest

import (
	"context"
	"errors"
	"fmt"

	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/store"
)

// MaxUploadsListed bounds an upload listing.
const MaxUploadsListed = 500

// ListUploads returns the customer's uploads, newest first, limit of them
// before the upload id before (0: from the newest).
func ListUploads(ctx context.Context, q *db.Queries, customerID int64, limit int, before int64) ([]*Upload, error) {
	p := db.UploadListByCustomerParams{CustomerID: customerID, MaxRows: int32(min(max(limit, 1), MaxUploadsListed))}
	if before > 0 {
		p.BeforeID = &before
	}
	rows, err := q.UploadListByCustomer(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("list uploads: %w", err)
	}
	out := make([]*Upload, len(rows))
	for i, r := range rows {
		if out[i], err = UploadFromRow(r); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Deleted is what deleting an upload did.
type Deleted struct {
	Upload *Upload   `json:"upload"`
	Job    *DriftJob `json:"-"`
	JobID  int64     `json:"job_id"`
}

// DeleteUpload removes one of the customer's uploads and its claims,
// subtracts them from the statistics and requests a drift computation, all
// in one transaction: like an upload in reverse.
func (u *Uploader) DeleteUpload(ctx context.Context, customerID, uploadID int64) (*Deleted, error) {
	tx, err := u.Pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin upload deletion: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	q := store.New(tx)
	if err := lockCustomerShared(ctx, q, customerID); err != nil {
		return nil, err
	}
	row, err := q.UploadGetForDelete(ctx, db.UploadGetForDeleteParams{CustomerID: customerID, ID: uploadID})
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("upload %d: %w", uploadID, ErrUploadNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("look up upload %d: %w", uploadID, err)
	}
	up, err := UploadFromRow(row)
	if err != nil {
		return nil, err
	}
	if err := withdrawClaims(ctx, q, customerID, uploadID); err != nil {
		return nil, err
	}
	if err := q.UploadDelete(ctx, db.UploadDeleteParams{CustomerID: customerID, ID: uploadID}); err != nil {
		return nil, fmt.Errorf("delete upload %d: %w", uploadID, err)
	}
	if _, err := q.DriftRequestCreate(ctx, db.DriftRequestCreateParams{CustomerID: customerID}); err != nil {
		return nil, fmt.Errorf("request drift computation: %w", err)
	}
	job, err := u.enqueueDrift(ctx, tx, customerID)
	if err != nil {
		return nil, err
	}
	if err := commit(ctx, tx); err != nil {
		return nil, fmt.Errorf("commit upload deletion: %w", err)
	}
	return &Deleted{Upload: up, Job: &job, JobID: job.JobID}, nil
}
