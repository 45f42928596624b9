package httpapi

import (
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"time"
)

// Defaults of the upload bounds (Config).
const (
	DefaultMaxUploads            = 4
	DefaultMaxUploadsPerCustomer = 2
	DefaultUploadStallTimeout    = 30 * time.Second
)

// uploadLimiter bounds the uploads in flight, in all and per customer. An
// upload holds a database connection and transaction while its body
// streams, so without a bound a few slow or stalled clients would take
// every pooled connection, and reads and /readyz with them. Past the bound
// an upload is refused at once (429), not queued: a queue would hold the
// request and its client for as long as the slowest upload.
type uploadLimiter struct {
	mu                 sync.Mutex
	max, maxPerCust    int
	inFlight           int
	inFlightByCustomer map[int64]int
}

func newUploadLimiter(max, perCustomer int) *uploadLimiter {
	return &uploadLimiter{max: max, maxPerCust: perCustomer, inFlightByCustomer: map[int64]int{}}
}

// acquire takes a slot for the customer's upload; ok is false when the
// customer or the server is at its bound. release gives the slot back.
func (l *uploadLimiter) acquire(customerID int64) (release func(), ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inFlight >= l.max || l.inFlightByCustomer[customerID] >= l.maxPerCust {
		return nil, false
	}
	l.inFlight++
	l.inFlightByCustomer[customerID]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.inFlight--
			if l.inFlightByCustomer[customerID]--; l.inFlightByCustomer[customerID] == 0 {
				delete(l.inFlightByCustomer, customerID)
			}
		})
	}, true
}

// errBodyStalled is a body that sent nothing for the stall timeout.
var errBodyStalled = errors.New("the upload body stalled")

// stallReader reads a request body with a deadline that moves with every
// read: a client may take as long as the upload timeout in all, but may
// not stop sending for longer than stall.
type stallReader struct {
	body     io.Reader
	rc       *http.ResponseController
	stall    time.Duration
	deadline time.Time // the whole upload's
}

func (s *stallReader) Read(p []byte) (int, error) {
	next := time.Now().Add(s.stall)
	stallBound := next.Before(s.deadline)
	if !stallBound {
		next = s.deadline
	}
	_ = s.rc.SetReadDeadline(next)
	n, err := s.body.Read(p)
	if err != nil && stallBound && errors.Is(err, os.ErrDeadlineExceeded) {
		return n, errBodyStalled
	}
	return n, err
}
