package ingest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/upstream-rcm/upstream/internal/claimstats"
	"github.com/upstream-rcm/upstream/internal/db"
)

// OverlapMode says what an upload without claim ids does when its decided
// dates overlap an earlier upload's for a payer in both.
type OverlapMode string

// Overlap modes.
const (
	// OverlapRefuse refuses the file (*OverlapError): the same claims
	// would count twice. The default.
	OverlapRefuse OverlapMode = "refuse"
	// OverlapReplace replaces the earlier uploads' claims without ids of
	// the file's payers decided within its span for that payer: a "last N
	// days" snapshot.
	OverlapReplace OverlapMode = "replace"
	// OverlapAppend stores the file as different claims.
	OverlapAppend OverlapMode = "append"
)

// ParseOverlapMode reads an overlap mode; empty is OverlapRefuse.
func ParseOverlapMode(s string) (OverlapMode, error) {
	switch m := OverlapMode(strings.ToLower(strings.TrimSpace(s))); m {
	case "":
		return OverlapRefuse, nil
	case OverlapRefuse, OverlapReplace, OverlapAppend:
		return m, nil
	}
	return "", fmt.Errorf("overlap %q: use refuse, replace or append", s)
}

// Overlap is an earlier upload whose claims of a payer were decided within
// the new file's dates for that payer.
type Overlap struct {
	UploadID int64     `json:"upload_id"`
	Filename string    `json:"filename"`
	Payer    string    `json:"payer"`
	From     time.Time `json:"from"`      // the earlier upload's first decision for the payer
	To       time.Time `json:"to"`        // and its last
	FileFrom time.Time `json:"file_from"` // the new file's, for the payer
	FileTo   time.Time `json:"file_to"`
}

// OverlapError refuses a file without claim ids that overlaps earlier
// uploads. Front-ends say how to go on (add ids, replace or append).
type OverlapError struct {
	Overlaps []Overlap
}

func (e *OverlapError) Error() string {
	var parts []string
	for _, o := range e.Overlaps[:min(len(e.Overlaps), 5)] {
		parts = append(parts, fmt.Sprintf("upload %d (%s) has %s claims decided %s to %s, within this file's %s to %s", o.UploadID, o.Filename, o.Payer,
			o.From.Format(time.DateOnly), o.To.Format(time.DateOnly), o.FileFrom.Format(time.DateOnly), o.FileTo.Format(time.DateOnly)))
	}
	more := ""
	if len(e.Overlaps) > 5 {
		more = fmt.Sprintf("; and %d more", len(e.Overlaps)-5)
	}
	return "the file has no claim ids and overlaps earlier uploads, so the same claims would count twice: " + strings.Join(parts, "; ") + more +
		". Add a claim id column, or replace those earlier claims within this file's dates (a \"last N days\" export), or append the file as different claims"
}

// spanParams lists an upload's payer spans in payer order.
func (s *claimSource) spanParams() (payers []string, first, last []time.Time, claims []int32) {
	payers = make([]string, 0, len(s.spans))
	for p := range s.spans {
		payers = append(payers, p)
	}
	slices.Sort(payers)
	for _, p := range payers {
		sp := s.spans[p]
		first, last, claims = append(first, sp.first), append(last, sp.last), append(claims, int32(sp.claims))
	}
	return payers, first, last, claims
}

// settleOverlap records the upload's payer spans and, for a file without
// claim ids, checks them against the other uploads': refused by default,
// appended, or replacing the earlier claims without ids within its spans,
// which it returns (their statistics go with the upload's; the caller
// deletes them after).
func settleOverlap(ctx context.Context, q *db.Queries, customerID, uploadID int64, src *claimSource, mode OverlapMode) (claimstats.Versions, error) {
	if src.spansOverflow {
		// Too many payers to have tracked: the spans from the stored rows.
		span := db.UploadPayerSpansRebuildParams{CustomerID: customerID, FirstUpload: uploadID, LastUpload: uploadID}
		if err := q.UploadPayerSpansRebuild(ctx, span); err != nil {
			return claimstats.Versions{}, fmt.Errorf("record the upload's payer spans: %w", err)
		}
	} else {
		payers, first, last, claims := src.spanParams()
		if err := q.UploadPayerSpansInsert(ctx, db.UploadPayerSpansInsertParams{CustomerID: customerID, UploadID: uploadID,
			Payers: payers, FirstDecided: first, LastDecided: last, Claims: claims}); err != nil {
			return claimstats.Versions{}, fmt.Errorf("record the upload's payer spans: %w", err)
		}
	}
	if src.withID > 0 || mode == OverlapAppend {
		return claimstats.Versions{}, nil
	}
	if err := lockClaims(ctx, q, customerID); err != nil {
		return claimstats.Versions{}, err
	}
	rows, err := q.UploadPayerSpansOverlapping(ctx, db.UploadPayerSpansOverlappingParams{CustomerID: customerID, UploadID: uploadID})
	if err != nil {
		return claimstats.Versions{}, fmt.Errorf("check overlapping uploads: %w", err)
	}
	if len(rows) == 0 {
		return claimstats.Versions{}, nil
	}
	if mode != OverlapReplace {
		e := &OverlapError{}
		for _, r := range rows {
			e.Overlaps = append(e.Overlaps, Overlap{UploadID: r.UploadID, Filename: r.Filename, Payer: r.Payer,
				From: r.FirstDecided, To: r.LastDecided, FileFrom: r.NewFirstDecided, FileTo: r.NewLastDecided})
		}
		return claimstats.Versions{}, e
	}
	replaced, err := q.ClaimRecordsWithoutIDInSpans(ctx, db.ClaimRecordsWithoutIDInSpansParams{CustomerID: customerID, UploadID: uploadID})
	if err != nil {
		return claimstats.Versions{}, fmt.Errorf("find the claims this file replaces: %w", err)
	}
	return claimstats.Versions{UploadIDs: replaced.UploadIds, SourceRows: replaced.SourceRows}, nil
}

// deleteReplaced deletes the rows a replacing upload took out of the
// statistics, and rebuilds the payer spans of the uploads they were in.
func deleteReplaced(ctx context.Context, q *db.Queries, customerID int64, replaced claimstats.Versions) error {
	if len(replaced.UploadIDs) == 0 {
		return nil
	}
	if err := q.ClaimRecordsDeleteVersions(ctx, db.ClaimRecordsDeleteVersionsParams{CustomerID: customerID,
		UploadIds: replaced.UploadIDs, SourceRows: replaced.SourceRows}); err != nil {
		return fmt.Errorf("delete replaced claims: %w", err)
	}
	span := db.UploadPayerSpansDeleteParams{CustomerID: customerID, FirstUpload: slices.Min(replaced.UploadIDs), LastUpload: slices.Max(replaced.UploadIDs)}
	if err := q.UploadPayerSpansDelete(ctx, span); err != nil {
		return fmt.Errorf("delete payer spans: %w", err)
	}
	if err := q.UploadPayerSpansRebuild(ctx, db.UploadPayerSpansRebuildParams(span)); err != nil {
		return fmt.Errorf("rebuild payer spans: %w", err)
	}
	return nil
}
