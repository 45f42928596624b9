package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/store"
)

// Upload is a stored upload's summary, with SPEC's JSON field names.
type Upload struct {
	ID         int64      `json:"id"`
	CustomerID int64      `json:"customer_id"`
	Filename   string     `json:"filename"`
	SHA256     string     `json:"sha256"`
	Status     string     `json:"status"`
	Rows       int        `json:"rows"`
	Accepted   int        `json:"accepted"`
	Rejected   int        `json:"rejected"`
	Warnings   int        `json:"warnings"`
	Errors     []RowError `json:"errors"`
	// WarningDetails lists the first row warnings; Notices what to fix
	// about the file as a whole.
	WarningDetails []RowError `json:"warning_details"`
	Notices        []Notice   `json:"notices"`
	MinSubmitted   *string    `json:"min_submitted_date"`
	MaxSubmitted   *string    `json:"max_submitted_date"`
	ClaimCounts
	DuplicateOf  *int64    `json:"duplicate_of"`
	JobID        *int64    `json:"job_id"`
	JobCoalesced bool      `json:"job_coalesced"`
	CreatedAt    time.Time `json:"created_at"`
}

// UploadFromRow converts a stored upload row.
func UploadFromRow(u db.Upload) (*Upload, error) {
	out := &Upload{
		ID: u.ID, CustomerID: u.CustomerID, Filename: u.Filename, Status: u.Status,
		Rows: int(u.RowsTotal), Accepted: int(u.Accepted), Rejected: int(u.Rejected), Warnings: int(u.Warnings),
		JobID: u.JobID, JobCoalesced: u.JobCoalesced, CreatedAt: u.CreatedAt,
		ClaimCounts:  ClaimCounts{New: int(u.ClaimsNew), Revised: int(u.ClaimsRevised), Unchanged: int(u.ClaimsUnchanged)},
		MinSubmitted: formatDate(u.MinSubmittedDate), MaxSubmitted: formatDate(u.MaxSubmittedDate),
	}
	if u.SHA256 != nil {
		out.SHA256 = *u.SHA256
	}
	if err := json.Unmarshal(u.Errors, &out.Errors); err != nil {
		return nil, fmt.Errorf("decode row errors of upload %d: %w", u.ID, err)
	}
	if err := json.Unmarshal(u.WarningDetails, &out.WarningDetails); err != nil {
		return nil, fmt.Errorf("decode warnings of upload %d: %w", u.ID, err)
	}
	if err := json.Unmarshal(u.Notices, &out.Notices); err != nil {
		return nil, fmt.Errorf("decode notices of upload %d: %w", u.ID, err)
	}
	return out, nil
}

// ErrUploadNotFound is returned for an upload the customer does not have.
var ErrUploadNotFound = errors.New("upload not found")

// GetUpload returns one of the customer's uploads.
func GetUpload(ctx context.Context, q *db.Queries, customerID, uploadID int64) (*Upload, error) {
	row, err := q.UploadGetByID(ctx, db.UploadGetByIDParams{CustomerID: customerID, ID: uploadID})
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("upload %d: %w", uploadID, ErrUploadNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("look up upload %d: %w", uploadID, err)
	}
	return UploadFromRow(row)
}

func formatDate(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := t.Format(time.DateOnly)
	return &s
}
