package ingest

import (
	"hash"
	"hash/maphash"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/upstream-rcm/upstream/internal/claimstats"
)

var claimColumns = []string{
	"customer_id", "upload_id", "source_row", "payer", "cpt", "cpt_group",
	"submitted_date", "decided_date", "outcome", "allowed_amount", "charge_amount",
	"denial_reason_code", "denial_reason_text", "claim_id",
}

// claimSource feeds a record stream to COPY. A goroutine reads the file,
// applies the mappings and accumulates the statistics a few batches ahead,
// beside pgx's encoding and send loop: on one goroutine the three bound the
// upload while the server waited (see README, "Ingest versus COPY").
type claimSource struct {
	customerID, uploadID int64
	batches              chan []Record
	free                 chan []Record // batches COPY is done with, to reuse
	stop, done           chan struct{}
	stopOnce             sync.Once
	errMu                sync.Mutex
	err                  error // the parser's, once the producer has ended
	cur                  []Record
	i                    int
	values               []any

	// The producer's; read only after done is closed.
	records  RecordReader
	mappings *Mappings
	stats    *claimstats.Accumulator
	other    int // accepted claims in group OTHER
	withID   int // accepted rows with a claim id
	ids      idSet
	spans    map[string]*payerSpan
	// spansOverflow: the file has more payers than maxTrackedPayers; their
	// spans are computed from the stored rows instead.
	spansOverflow bool
}

const (
	claimBatch   = 256
	claimBatches = 8 // in flight between the producer and COPY
)

func newClaimSource(records RecordReader, mappings *Mappings, customerID, uploadID int64, stats *claimstats.Accumulator) *claimSource {
	s := &claimSource{customerID: customerID, uploadID: uploadID, records: records, mappings: mappings, stats: stats,
		batches: make(chan []Record, claimBatches), free: make(chan []Record, claimBatches+2),
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
		s.err = s.records.Err()
	}()
	for {
		var batch []Record
		select {
		case batch = <-s.free:
		default:
			batch = make([]Record, 0, claimBatch)
		}
		for len(batch) < claimBatch && s.records.Next() {
			c := s.records.Record()
			s.mappings.apply(c)
			if c.CPTGroup == UnmappedCPTGroup {
				s.other++
			}
			s.span(c)
			if c.ClaimID != "" {
				s.withID++
				s.ids.add(c.ClaimID)
			}
			// Every row is counted here, as if each were its claim's
			// initial version; once the claims are resolved, the upload
			// takes back those that are not (uncountVersions).
			if c.Outcome == OutcomePaid || c.Outcome == OutcomeDenied {
				cents, has := c.amountCents()
				s.stats.Add(claimstats.Claim{SubmittedDate: c.SubmittedDate, DecidedDate: c.DecidedDate,
					Payer: c.Payer, CPTGroup: c.CPTGroup, CPT: c.CPT, ReasonCode: deref(c.DenialReasonCode),
					Denied: c.Outcome == OutcomeDenied, AmountCents: cents, HasAmount: has})
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
			return // the stream has ended
		}
	}
}

// finish stops the producer if COPY ended early and waits for it: after
// it, the record stream, the statistics and other are the caller's.
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
		c.SubmittedDate, c.DecidedDate, c.Outcome, c.AllowedAmount, c.ChargeAmount, c.DenialReasonCode, c.DenialReasonText, claimID(c.ClaimID))
	return s.values, nil
}

// Err is the stream's read error once the producer has ended; pgx asks
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

// claimID is a claim id as COPY stores it: NULL when the row has none.
func claimID(id string) *string {
	if id == "" {
		return nil
	}
	return &id
}

// payerSpan is an upload's decided dates for one payer.
type payerSpan struct {
	first, last time.Time
	claims      int
}

// maxTrackedPayers bounds the payers whose spans an upload keeps in
// memory (a hostile file can name a new payer per row).
const maxTrackedPayers = 10_000

func (s *claimSource) span(r *Record) {
	if s.spansOverflow {
		return
	}
	sp := s.spans[r.Payer]
	if sp == nil {
		if len(s.spans) == maxTrackedPayers {
			s.spans, s.spansOverflow = nil, true
			return
		}
		if s.spans == nil {
			s.spans = map[string]*payerSpan{}
		}
		sp = &payerSpan{first: r.DecidedDate, last: r.DecidedDate}
		s.spans[r.Payer] = sp
	}
	if r.DecidedDate.Before(sp.first) {
		sp.first = r.DecidedDate
	}
	if r.DecidedDate.After(sp.last) {
		sp.last = r.DecidedDate
	}
	sp.claims++
}

// idSet tells whether an upload's claim ids are unique within it, from
// 64-bit hashes of them (8 bytes a row, up to maxTrackedIDs rows): then
// each row is its claim's only candidate version and resolving the claims
// groups nothing. A collision only costs that grouping.
type idSet struct {
	hashes   []uint64
	overflow bool
}

// maxTrackedIDs bounds the ids an upload hashes (32 MB); past it the
// upload groups its rows by claim id.
const maxTrackedIDs = 4_000_000

var idSeed = maphash.MakeSeed()

func (s *idSet) add(id string) {
	if s.overflow {
		return
	}
	if len(s.hashes) == maxTrackedIDs {
		s.hashes, s.overflow = nil, true
		return
	}
	s.hashes = append(s.hashes, maphash.String(idSeed, id))
}

// unique reports whether no id was seen twice (false when unknown), and
// frees the hashes: the upload asks once, before the rest of its work.
func (s *idSet) unique() bool {
	defer func() { s.hashes = nil }()
	if s.overflow {
		return false
	}
	slices.Sort(s.hashes)
	for i := 1; i < len(s.hashes); i++ {
		if s.hashes[i] == s.hashes[i-1] {
			return false
		}
	}
	return true
}
