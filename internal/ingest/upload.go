package ingest

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/upstream-rcm/upstream/internal/claimstats"
	"github.com/upstream-rcm/upstream/internal/db"
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

// DriftEnqueuer inserts the customer's drift job inside tx. River's
// transactional insert makes the job exist if and only if tx commits.
type DriftEnqueuer func(ctx context.Context, tx pgx.Tx, customerID int64) (DriftJob, error)

// Uploader stores uploads.
type Uploader struct {
	Pool *pgxpool.Pool
	// EnqueueDrift inserts the drift job in the upload's transaction.
	EnqueueDrift DriftEnqueuer
	// MaxBytes limits the file size; DefaultMaxBytes when zero.
	MaxBytes int64
	// MaxStatBins bounds the drift statistics accumulated in memory while
	// streaming; claimstats.DefaultMaxBins when zero.
	MaxStatBins int
	// DateFormat is how slash dates are read; DateAuto detects D/M/YYYY
	// files and refuses them rather than swap days and months.
	DateFormat DateFormat
	// MaxRejectShare refuses a file with a larger share of rejected rows
	// (DefaultMaxRejectShare when zero) unless AllowRejects.
	MaxRejectShare float64
	AllowRejects   bool
	// Now is the clock for future-date warnings; time.Now when nil.
	Now func() time.Time
}

// DefaultMaxRejectShare is the share of rejected rows past which a file is
// refused: a file mostly rejected is a wrong file, not a few bad rows.
const DefaultMaxRejectShare = 0.5

// TooManyRejectsError is a file with too large a share of rejected rows.
type TooManyRejectsError struct {
	Stats    Stats
	MaxShare float64
}

func (e *TooManyRejectsError) Error() string {
	msg := fmt.Sprintf("%d of %d rows rejected (more than %.0f%%): nothing stored; fix the file or pass --allow-rejects (API: allow_rejects=true)",
		e.Stats.Rejected, e.Stats.Rows, 100*e.MaxShare)
	if len(e.Stats.Errors) > 0 {
		first := e.Stats.Errors[0]
		msg += fmt.Sprintf(" (first: row %d, %s: %s)", first.Row, first.Field, first.Message)
	}
	return msg
}

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
	Notices        []string   `json:"notices"`
	MinSubmitted   *string    `json:"min_submitted_date"`
	MaxSubmitted   *string    `json:"max_submitted_date"`
	DuplicateOf    *int64     `json:"duplicate_of"`
	JobID          *int64     `json:"job_id"`
	JobCoalesced   bool       `json:"job_coalesced"`
	CreatedAt      time.Time  `json:"created_at"`
}

// UploadFromRow converts a stored upload row.
func UploadFromRow(u db.Upload) (*Upload, error) {
	out := &Upload{
		ID: u.ID, CustomerID: u.CustomerID, Filename: u.Filename, Status: u.Status,
		Rows: int(u.RowsTotal), Accepted: int(u.Accepted), Rejected: int(u.Rejected), Warnings: int(u.Warnings),
		JobID: u.JobID, JobCoalesced: u.JobCoalesced, CreatedAt: u.CreatedAt,
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
	if errors.Is(err, pgx.ErrNoRows) {
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

// Upload streams one CSV file into the customer's claims. In one
// transaction it writes the upload record, the accepted claims (COPY), a
// drift request and the drift job; on any error nothing is stored. A file
// whose every row is rejected is a *NoValidRowsError, a file seen before a
// *DuplicateError, a bad header a *HeaderError, an oversized file a
// *TooLargeError.
func (u *Uploader) Upload(ctx context.Context, customerID int64, filename string, r io.Reader) (*Upload, error) {
	maxBytes := u.MaxBytes
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
	q := db.New(tx)

	mappings, err := LoadMappings(ctx, q, customerID)
	if err != nil {
		return nil, err
	}
	parser, err := NewParser(in, mappings)
	if err != nil {
		return nil, err
	}
	parser.DateFormat = u.DateFormat
	now := time.Now
	if u.Now != nil {
		now = u.Now
	}
	parser.Today = now().UTC()
	uploadID, err := q.UploadCreate(ctx, db.UploadCreateParams{CustomerID: customerID, Filename: filename})
	if err != nil {
		return nil, fmt.Errorf("create upload: %w", err)
	}
	src := newClaimSource(parser, customerID, uploadID, claimstats.NewAccumulator(u.MaxStatBins))
	defer src.finish()
	// pgx's CopyFrom with a streaming CopyFromSource, not sqlc's :copyfrom:
	// the generated method takes a slice of every row, and a file of any
	// size must stream through in constant memory.
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"claim_records"}, claimColumns, src)
	src.finish()
	if err != nil {
		if parser.Err() != nil {
			return nil, parser.Err()
		}
		return nil, fmt.Errorf("store claims: %w", err)
	}
	// The hash covers every byte, including any the CSV reader left unread.
	if _, err := io.Copy(io.Discard, in); err != nil {
		return nil, err
	}
	stats := parser.Stats()
	if err := parser.DateOrderProblem(); err != nil {
		return nil, err
	}
	if stats.Accepted == 0 {
		return nil, &NoValidRowsError{Stats: stats}
	}
	maxShare := cmp.Or(u.MaxRejectShare, DefaultMaxRejectShare)
	if !u.AllowRejects && float64(stats.Rejected) > maxShare*float64(stats.Rows) {
		return nil, &TooManyRejectsError{Stats: stats, MaxShare: maxShare}
	}
	notices := []string{}
	if len(mappings.Payers) == 0 && len(mappings.CPTGroups) == 0 {
		notices = append(notices, "this customer has no payer or CPT group mappings: every CPT code went to group OTHER and payers keep their spellings; "+
			"load them with `upstream mappings load --reclassify` to fix this upload too")
	} else if src.other*2 > stats.Accepted {
		notices = append(notices, fmt.Sprintf("%d of %d claims landed in CPT group OTHER: the CPT group mappings miss most of this file's codes; "+
			"complete them and load them with --reclassify", src.other, stats.Accepted))
	}
	for _, w := range stats.WarningDetails {
		if w.Field == ColDecidedDate { // the future-date warning
			notices = append(notices, "some claims are decided in the future: check the file's dates")
			break
		}
	}

	digest := hex.EncodeToString(hasher.Sum(nil))
	errorsJSON, err := json.Marshal(nonNil(stats.Errors))
	if err != nil {
		return nil, fmt.Errorf("encode row errors: %w", err)
	}
	warningsJSON, err := json.Marshal(nonNil(stats.WarningDetails))
	if err != nil {
		return nil, fmt.Errorf("encode warnings: %w", err)
	}
	noticesJSON, err := json.Marshal(notices)
	if err != nil {
		return nil, fmt.Errorf("encode notices: %w", err)
	}
	_, err = q.UploadComplete(ctx, db.UploadCompleteParams{
		ID: uploadID, SHA256: &digest,
		RowsTotal: int32(stats.Rows), Accepted: int32(stats.Accepted), Rejected: int32(stats.Rejected), Warnings: int32(stats.Warnings),
		MinSubmittedDate: &stats.MinSubmitted, MaxSubmittedDate: &stats.MaxSubmitted,
		Errors: errorsJSON, WarningDetails: warningsJSON, Notices: noticesJSON,
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == pgerrcode.UniqueViolation && pgErr.ConstraintName == "uploads_customer_sha256_key" {
		_ = tx.Rollback(ctx)
		return nil, u.duplicateError(ctx, customerID, digest)
	}
	if err != nil {
		return nil, fmt.Errorf("complete upload: %w", err)
	}
	if err := src.stats.Store(ctx, q, customerID, uploadID); err != nil {
		return nil, err
	}
	if _, err := q.DriftRequestCreate(ctx, db.DriftRequestCreateParams{CustomerID: customerID, UploadID: &uploadID}); err != nil {
		return nil, fmt.Errorf("request drift computation: %w", err)
	}
	// Last before commit: a coalesced insert holds the existing job's row
	// lock until this transaction ends, and a running drift job waits on it.
	job, err := u.EnqueueDrift(ctx, tx, customerID)
	if err != nil {
		return nil, fmt.Errorf("enqueue drift job: %w", err)
	}
	row, err := q.UploadSetJob(ctx, db.UploadSetJobParams{ID: uploadID, JobID: &job.JobID, JobCoalesced: job.Coalesced})
	if err != nil {
		return nil, fmt.Errorf("record drift job on upload: %w", err)
	}
	if err := commit(ctx, tx); err != nil {
		return nil, fmt.Errorf("commit upload %d of %s: %w", uploadID, filename, err)
	}
	return UploadFromRow(row)
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
	first, err := db.New(u.Pool).UploadGetBySHA256(ctx, db.UploadGetBySHA256Params{CustomerID: customerID, SHA256: &digest})
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

var claimColumns = []string{
	"customer_id", "upload_id", "source_row", "payer", "cpt", "cpt_group",
	"submitted_date", "decided_date", "outcome", "allowed_amount",
	"denial_reason_code", "denial_reason_text",
}

// claimSource feeds parsed claims to COPY. A goroutine parses the file and
// accumulates the statistics a few batches ahead, beside pgx's encoding and
// send loop: on one goroutine the three bound the upload while the server
// waited (see README, "Ingest versus COPY").
type claimSource struct {
	customerID, uploadID int64
	batches              chan []Claim
	free                 chan []Claim // batches COPY is done with, to reuse
	stop, done           chan struct{}
	stopOnce             sync.Once
	errMu                sync.Mutex
	err                  error // the parser's, once the producer has ended
	cur                  []Claim
	i                    int
	values               []any

	// The producer's; read only after done is closed.
	parser *Parser
	stats  *claimstats.Accumulator
	other  int // accepted claims in group OTHER
}

const (
	claimBatch   = 256
	claimBatches = 8 // in flight between the producer and COPY
)

func newClaimSource(parser *Parser, customerID, uploadID int64, stats *claimstats.Accumulator) *claimSource {
	s := &claimSource{customerID: customerID, uploadID: uploadID, parser: parser, stats: stats,
		batches: make(chan []Claim, claimBatches), free: make(chan []Claim, claimBatches+2),
		stop: make(chan struct{}), done: make(chan struct{}), i: -1}
	go s.produce()
	return s
}

func (s *claimSource) produce() {
	defer close(s.done)
	defer close(s.batches)
	defer func() {
		s.errMu.Lock()
		defer s.errMu.Unlock()
		s.err = s.parser.Err()
	}()
	for {
		var batch []Claim
		select {
		case batch = <-s.free:
		default:
			batch = make([]Claim, 0, claimBatch)
		}
		for len(batch) < claimBatch && s.parser.Next() {
			c := s.parser.Claim()
			if c.CPTGroup == UnmappedCPTGroup {
				s.other++
			}
			if c.Outcome == OutcomePaid || c.Outcome == OutcomeDenied {
				s.stats.Add(claimstats.Claim{SubmittedDate: c.SubmittedDate, DecidedDate: c.DecidedDate,
					Payer: c.Payer, CPTGroup: c.CPTGroup, CPT: c.CPT, ReasonCode: deref(c.DenialReasonCode),
					Denied: c.Outcome == OutcomeDenied})
			}
			batch = append(batch, *c)
		}
		if len(batch) == 0 {
			return
		}
		select {
		case s.batches <- batch:
		case <-s.stop:
			return
		}
		if len(batch) < claimBatch {
			return // the parser is done
		}
	}
}

// finish stops the producer if COPY ended early and waits for it: after
// it, the parser, the statistics and other are the caller's.
func (s *claimSource) finish() {
	s.stopOnce.Do(func() { close(s.stop) })
	<-s.done
}

func (s *claimSource) Next() bool {
	s.i++
	for s.i >= len(s.cur) {
		if s.cur != nil {
			select {
			case s.free <- s.cur[:0]:
			default:
			}
		}
		batch, ok := <-s.batches
		if !ok {
			s.cur = nil
			return false
		}
		s.cur, s.i = batch, 0
	}
	return true
}

func (s *claimSource) Values() ([]any, error) {
	c := &s.cur[s.i]
	// pgx encodes the row before asking for the next, so one slice serves,
	// and the batch is reused only once COPY has moved past it.
	s.values = append(s.values[:0], s.customerID, s.uploadID, int32(c.SourceRow), c.Payer, c.CPT, c.CPTGroup,
		c.SubmittedDate, c.DecidedDate, c.Outcome, c.AllowedAmount, c.DenialReasonCode, c.DenialReasonText)
	return s.values, nil
}

// Err is the parser's read error once the producer has ended; pgx asks
// while COPY runs too.
func (s *claimSource) Err() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// hashingLimitReader hashes what it reads and fails past a byte limit.
type hashingLimitReader struct {
	r         io.Reader
	h         hash.Hash
	remaining int64
	limit     int64
}

func (l *hashingLimitReader) Read(p []byte) (int, error) {
	if l.remaining < 0 {
		return 0, &TooLargeError{Limit: l.limit}
	}
	// Read one byte past the limit to tell "exactly at" from "over".
	if int64(len(p)) > l.remaining+1 {
		p = p[:l.remaining+1]
	}
	n, err := l.r.Read(p)
	l.h.Write(p[:n])
	l.remaining -= int64(n)
	if l.remaining < 0 {
		return n, &TooLargeError{Limit: l.limit}
	}
	return n, err
}
