package ingest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/upstream-rcm/upstream/internal/claimstats"
	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/store"
)

// DefaultMaxBytes is the default upload size limit.
const DefaultMaxBytes int64 = 512 << 20

// ErrTooLarge is returned when a file exceeds the byte limit.
var ErrTooLarge = errors.New("file exceeds the upload size limit")

// TooLargeError carries the limit that was exceeded.
type TooLargeError struct{ Limit int64 }

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%v of %d bytes: split the file or raise the limit", ErrTooLarge, e.Limit)
}

// Is makes errors.Is(err, ErrTooLarge) hold.
func (e *TooLargeError) Is(target error) bool { return target == ErrTooLarge }

// DuplicateError is returned for a file the customer already uploaded.
type DuplicateError struct {
	First db.Upload
}

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("duplicate upload: this file (sha256 %s) was already uploaded as upload %d (%q, %s)",
		*e.First.SHA256, e.First.ID, e.First.Filename, e.First.CreatedAt.UTC().Format(time.RFC3339))
}

// NoValidRowsError is returned when every row of a file was rejected.
type NoValidRowsError struct {
	Stats Stats
}

func (e *NoValidRowsError) Error() string {
	msg := fmt.Sprintf("no valid rows: all %d rows were rejected", e.Stats.Rows)
	if e.Stats.Rows == 0 {
		msg = "no valid rows: the file has a header but no data rows"
	}
	if len(e.Stats.Errors) > 0 {
		first := e.Stats.Errors[0]
		msg += fmt.Sprintf(" (first: row %d, %s: %s)", first.Row, first.Field, first.Message)
	}
	return msg
}

// DriftJob is what enqueuing the customer's drift job reported.
type DriftJob struct {
	JobID int64
	// Coalesced is true when River skipped the insert as a duplicate of a
	// job for the customer that is still waiting or running.
	Coalesced bool
}

// Jobs inserts the jobs ingestion needs inside the caller's transaction,
// so that a job exists if and only if the transaction commits. The jobs
// package implements it with River's transactional insert.
type Jobs interface {
	// EnqueueDriftTx inserts the customer's drift job, unique while
	// unfinished: a burst of uploads coalesces into one computation.
	EnqueueDriftTx(ctx context.Context, tx pgx.Tx, customerID int64) (DriftJob, error)
}

// Uploader stores uploads, deletes them and reclassifies stored claims:
// the flows the CLI and the HTTP API share. One serves a whole process.
type Uploader struct {
	Pool *pgxpool.Pool
	Jobs Jobs
}

// NewUploader returns the ingestion flows over pool, enqueueing with jobs.
func NewUploader(pool *pgxpool.Pool, jobs Jobs) *Uploader {
	return &Uploader{Pool: pool, Jobs: jobs}
}

// UploadOptions are one upload's settings; the zero value is the default.
type UploadOptions struct {
	// MaxBytes limits the file size; DefaultMaxBytes when zero.
	MaxBytes int64
	// MaxStatRows bounds the drift statistics accumulated in memory while
	// streaming; claimstats.DefaultMaxRows when zero.
	MaxStatRows int
	// DateFormat is how slash dates are read; DateAuto detects D/M/YYYY
	// files and refuses them rather than swap days and months.
	DateFormat DateFormat
	// MaxRejectShare refuses a file with a larger share of rejected rows
	// (DefaultMaxRejectShare when zero) unless AllowRejects.
	MaxRejectShare float64
	AllowRejects   bool
	// Now is the clock for future-date warnings; time.Now when nil.
	Now func() time.Time
	// ClaimIDColumn names the CSV column of claim ids when it is not
	// claim_id.
	ClaimIDColumn string
	// Format is FormatCSV or FormatX12; detected from the content when
	// empty (X12 when the first non-blank bytes are ISA).
	Format string
	// Overlap is what a file without claim ids does when it overlaps an
	// earlier upload (OverlapRefuse when empty). OverlapReplace takes the
	// customer's row exclusively, as a reclassification does: it rewrites
	// other uploads' claims.
	Overlap OverlapMode
}

// DefaultMaxRejectShare is the share of rejected rows past which a file is
// refused: a file mostly rejected is a wrong file, not a few bad rows.
const DefaultMaxRejectShare = 0.5

// TooManyRejectsError is a file with too large a share of rejected rows.
// Front-ends say how to store its valid rows anyway (AllowRejects).
type TooManyRejectsError struct {
	Stats    Stats
	MaxShare float64
}

func (e *TooManyRejectsError) Error() string {
	return fmt.Sprintf("%d of %d rows rejected (more than %.0f%%): nothing stored; fix the file, or allow the rejects to store its %d valid rows",
		e.Stats.Rejected, e.Stats.Rows, 100*e.MaxShare, e.Stats.Accepted)
}

// File formats an upload reads.
const (
	FormatCSV = "csv"
	FormatX12 = "x12" // X12 835 remittance advice
)

// detectFormat is format when set, else X12 when the first non-blank
// bytes are ISA, else CSV.
func detectFormat(br *bufio.Reader, format string) (string, error) {
	switch format {
	case FormatCSV, FormatX12:
		return format, nil
	case "":
	default:
		return "", &HeaderError{Message: fmt.Sprintf("format must be %s or %s, got %q", FormatCSV, FormatX12, format)}
	}
	// Whatever of the first 4 KiB there is (a short file is all there).
	head, err := br.Peek(4096)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return "", err
	}
	head = bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\xef\xbb\xbf")), " \t\r\n")
	if bytes.HasPrefix(head, []byte("ISA")) {
		return FormatX12, nil
	}
	return FormatCSV, nil
}

// Upload streams one claims file, CSV or X12 835 (detected, or as
// opts.Format says), into the customer's claims (see UploadRecords); nil
// opts are the defaults.
func (u *Uploader) Upload(ctx context.Context, customerID int64, filename string, r io.Reader, opts *UploadOptions) (*Upload, error) {
	if opts == nil {
		opts = &UploadOptions{}
	}
	return u.UploadRecords(ctx, customerID, filename, r, opts, func(in io.Reader) (RecordReader, error) {
		br := bufio.NewReaderSize(in, 64<<10)
		format, err := detectFormat(br, opts.Format)
		if err != nil {
			return nil, err
		}
		if format == FormatX12 {
			if opts.ClaimIDColumn != "" {
				return nil, &HeaderError{Message: "an X12 835 file has no claim id column: its identity comes from the remittance (payer, CLP07, REF*6R)"}
			}
			return NewX12Reader(br), nil
		}
		csv, err := NewCSVReader(br, opts.ClaimIDColumn)
		if err != nil {
			return nil, err
		}
		csv.DateFormat = opts.DateFormat
		now := time.Now
		if opts.Now != nil {
			now = opts.Now
		}
		csv.Today = now().UTC()
		return csv, nil
	})
}

// UploadRecords stores one file, read by the record stream that open
// returns. In one transaction it writes the upload record, the accepted
// claims (COPY), their statistics, a drift request and the drift job; on
// any error nothing is stored. A file whose every row is rejected is a
// *NoValidRowsError, one mostly rejected a *TooManyRejectsError, a file
// seen before a *DuplicateError, an oversized file a *TooLargeError; the
// reader's own errors (a bad header) come through as they are.
func (u *Uploader) UploadRecords(ctx context.Context, customerID int64, filename string, r io.Reader, opts *UploadOptions,
	open func(io.Reader) (RecordReader, error)) (*Upload, error) {
	maxBytes := opts.MaxBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	hasher := sha256.New()
	in := &hashingLimitReader{r: r, h: hasher, remaining: maxBytes, limit: maxBytes}

	tx, err := u.Pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin upload: %w", err)
	}
	// A cancelled ctx must not prevent the rollback from reaching the server.
	defer tx.Rollback(context.WithoutCancel(ctx))
	q := store.New(tx)
	lock := lockCustomerShared
	if opts.Overlap == OverlapReplace {
		lock = lockCustomerExclusive
	}
	if err := lock(ctx, q, customerID); err != nil {
		return nil, err
	}
	// After the lock: a reclassification in flight has committed, so these
	// are the mappings the stored claims have.
	mappings, err := LoadMappings(ctx, q, customerID)
	if err != nil {
		return nil, err
	}
	records, err := open(in)
	if err != nil {
		return nil, err
	}
	if c, ok := records.(io.Closer); ok {
		defer c.Close() // a reader with a goroutine of its own stops with the upload
	}
	uploadID, err := q.UploadCreate(ctx, db.UploadCreateParams{CustomerID: customerID, Filename: filename})
	if err != nil {
		return nil, fmt.Errorf("create upload: %w", err)
	}
	// 1. The record stream, mapped and accumulated, into COPY.
	src := newClaimSource(records, mappings, customerID, uploadID, claimstats.NewAccumulator(opts.MaxStatRows))
	defer src.finish()
	// pgx's CopyFrom with a streaming CopyFromSource, not sqlc's :copyfrom:
	// the generated method takes a slice of every row, and a file of any
	// size must stream through in constant memory.
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"claim_records"}, claimColumns, src)
	src.finish()
	if err != nil {
		if records.Err() != nil {
			return nil, records.Err()
		}
		return nil, fmt.Errorf("store claims: %w", err)
	}
	// The hash covers every byte, including any the reader left unread.
	if _, err := io.Copy(io.Discard, in); err != nil {
		return nil, err
	}
	// 2. The check of what was parsed.
	stats := records.Stats()
	notices, err := checkParsed(parsed{stats: stats, mappings: mappings, otherGroups: src.other, fileProblem: records.FileProblem()}, opts)
	if err != nil {
		return nil, err
	}
	// 3. The rest of the transaction.
	row, err := u.completeUpload(ctx, tx, customerID, uploadID, hex.EncodeToString(hasher.Sum(nil)), stats, notices, src, opts.Overlap)
	if err != nil {
		return nil, err
	}
	if err := commit(ctx, tx); err != nil {
		return nil, fmt.Errorf("commit upload %d of %s: %w", uploadID, filename, err)
	}
	return UploadFromRow(row)
}

// completeUpload resolves the upload's claims, records its counts and
// digest, stores its statistics, requests the drift computation and
// enqueues its job, in tx.
func (u *Uploader) completeUpload(ctx context.Context, tx pgx.Tx, customerID, uploadID int64, digest string,
	stats Stats, notices []Notice, src *claimSource, overlap OverlapMode) (db.Upload, error) {
	q := store.New(tx)
	// A file seen before is a duplicate before it is an overlap (the unique
	// constraint below is what guarantees it; this says it first).
	if _, err := q.UploadGetBySHA256(ctx, db.UploadGetBySHA256Params{CustomerID: customerID, SHA256: &digest}); err == nil {
		_ = tx.Rollback(ctx)
		return db.Upload{}, u.duplicateError(ctx, customerID, digest)
	} else if !errors.Is(err, store.ErrNotFound) {
		return db.Upload{}, fmt.Errorf("look up the file's digest: %w", err)
	}
	replaced, err := settleOverlap(ctx, q, customerID, uploadID, src, overlap)
	if err != nil {
		return db.Upload{}, err
	}
	counts, uncounted, err := resolveClaims(ctx, q, customerID, uploadID, stats.Accepted, src.withID, src.ids.unique(), src.stats)
	if err != nil {
		return db.Upload{}, err
	}
	uncounted.UploadIDs = append(uncounted.UploadIDs, replaced.UploadIDs...)
	uncounted.SourceRows = append(uncounted.SourceRows, replaced.SourceRows...)
	errorsJSON, err := json.Marshal(nonNil(stats.Errors))
	if err != nil {
		return db.Upload{}, fmt.Errorf("encode row errors: %w", err)
	}
	warningsJSON, err := json.Marshal(nonNil(stats.WarningDetails))
	if err != nil {
		return db.Upload{}, fmt.Errorf("encode warnings: %w", err)
	}
	noticesJSON, err := json.Marshal(notices)
	if err != nil {
		return db.Upload{}, fmt.Errorf("encode notices: %w", err)
	}
	_, err = q.UploadComplete(ctx, db.UploadCompleteParams{
		ID: uploadID, SHA256: &digest,
		RowsTotal: int32(stats.Rows), Accepted: int32(stats.Accepted), Rejected: int32(stats.Rejected), Warnings: int32(stats.Warnings),
		MinSubmittedDate: &stats.MinSubmitted, MaxSubmittedDate: &stats.MaxSubmitted,
		Errors: errorsJSON, WarningDetails: warningsJSON, Notices: noticesJSON,
		ClaimsNew: int32(counts.New), ClaimsRevised: int32(counts.Revised), ClaimsUnchanged: int32(counts.Unchanged),
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == pgerrcode.UniqueViolation && pgErr.ConstraintName == "uploads_customer_sha256_key" {
		_ = tx.Rollback(ctx)
		return db.Upload{}, u.duplicateError(ctx, customerID, digest)
	}
	if err != nil {
		return db.Upload{}, fmt.Errorf("complete upload: %w", err)
	}
	if err := src.stats.Store(ctx, q, customerID, uploadID, uncounted); err != nil {
		return db.Upload{}, err
	}
	if err := deleteReplaced(ctx, q, customerID, replaced); err != nil {
		return db.Upload{}, err
	}
	if _, err := q.DriftRequestCreate(ctx, db.DriftRequestCreateParams{CustomerID: customerID, UploadID: &uploadID}); err != nil {
		return db.Upload{}, fmt.Errorf("request drift computation: %w", err)
	}
	// Last before commit: a coalesced insert holds the existing job's row
	// lock until this transaction ends, and a running drift job waits on it.
	job, err := u.enqueueDrift(ctx, tx, customerID)
	if err != nil {
		return db.Upload{}, err
	}
	row, err := q.UploadSetJob(ctx, db.UploadSetJobParams{ID: uploadID, JobID: &job.JobID, JobCoalesced: job.Coalesced})
	if err != nil {
		return db.Upload{}, fmt.Errorf("record drift job on upload: %w", err)
	}
	return row, nil
}

// ErrCustomerNotFound is an upload, deletion or reclassification for a
// customer that does not exist (or was deleted meanwhile).
var ErrCustomerNotFound = errors.New("customer not found")

// lockCustomerShared takes the customer's row FOR KEY SHARE (see the
// query): uploads and deletions run side by side but never beside a
// reclassification.
func lockCustomerShared(ctx context.Context, q *db.Queries, customerID int64) error {
	_, err := q.CustomerLockShared(ctx, customerID)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("customer %d: %w", customerID, ErrCustomerNotFound)
	}
	if err != nil {
		return fmt.Errorf("lock customer %d: %w", customerID, err)
	}
	return nil
}

func (u *Uploader) enqueueDrift(ctx context.Context, tx pgx.Tx, customerID int64) (DriftJob, error) {
	job, err := u.Jobs.EnqueueDriftTx(ctx, tx, customerID)
	if err != nil {
		return DriftJob{}, fmt.Errorf("enqueue drift job: %w", err)
	}
	return job, nil
}

// commitTimeout bounds a commit that outlives its caller's context.
const commitTimeout = time.Minute

// ErrCommitUnknown means the connection failed while a commit was on its
// way: the server may or may not have committed. Look the result up (the
// upload list, by file name and SHA-256) before trying again.
var ErrCommitUnknown = errors.New("the connection failed while committing, so whether it was stored is unknown")

// commit commits tx even when ctx is cancelled: once everything is sent, an
// interrupt (Ctrl-C) must not leave the outcome unknown, as cancelling a
// commit in flight would. Only a lost connection still can, and says so.
func commit(ctx context.Context, tx pgx.Tx) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	err := tx.Commit(ctx)
	var pgErr *pgconn.PgError
	if err == nil || errors.As(err, &pgErr) {
		return err // committed, or refused by the server (rolled back)
	}
	return fmt.Errorf("%w: %w", ErrCommitUnknown, err)
}

func (u *Uploader) duplicateError(ctx context.Context, customerID int64, digest string) error {
	first, err := store.New(u.Pool).UploadGetBySHA256(ctx, db.UploadGetBySHA256Params{CustomerID: customerID, SHA256: &digest})
	if err != nil {
		return fmt.Errorf("duplicate upload (sha256 %s), and looking up the first failed: %w", digest, err)
	}
	return &DuplicateError{First: first}
}

func nonNil(errs []RowError) []RowError {
	if errs == nil {
		return []RowError{}
	}
	return errs
}
