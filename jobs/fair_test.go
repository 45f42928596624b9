package jobs_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/store"
	"github.com/upstream-rcm/upstream/internal/webhooks"
	"github.com/upstream-rcm/upstream/jobs"
)

// hangingReceiver accepts requests and never answers: each hangs until
// the sender gives up. It records the most requests in flight at once.
type hangingReceiver struct {
	server            *httptest.Server
	inFlight, maxSeen atomic.Int32
	received          atomic.Int32
}

func newHangingReceiver(t *testing.T) *hangingReceiver {
	r := &hangingReceiver{}
	done := make(chan struct{})
	r.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.received.Add(1)
		n := r.inFlight.Add(1)
		defer r.inFlight.Add(-1)
		for {
			seen := r.maxSeen.Load()
			if n <= seen || r.maxSeen.CompareAndSwap(seen, n) {
				break
			}
		}
		select {
		case <-req.Context().Done():
		case <-done:
		}
	}))
	t.Cleanup(r.server.Close)
	t.Cleanup(func() { close(done) }) // before Close: no handler outlives the test
	return r
}

// queueTestMessages stores n test messages for an endpoint and their
// delivery jobs.
func (h *harness) queueTestMessages(t *testing.T, cust int64, ep testEndpoint, n int) {
	t.Helper()
	ctx := context.Background()
	for range n {
		id, err := webhooks.CreateTestDelivery(ctx, store.New(h.pool), db.Customer{ID: cust, Name: "c"}, ep.WebhookEndpoint, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.inserter.Insert(ctx, jobs.WebhookDeliveryArgs{DeliveryID: id}, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// One customer's hanging endpoint with 50 messages queued first, then
// another customer's healthy endpoint with 5: the healthy messages arrive
// while the hanging endpoint has seen only its first requests, and it
// never has two in flight. Without the endpoint lease both webhook
// workers sit on hanging requests and the healthy five wait behind all
// fifty (minutes).
func TestHangingEndpointDoesNotDelayOtherEndpoints(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	hanging := newHangingReceiver(t)
	healthy := newReceiver(t, nil)
	slow, fast := h.customer(t, "slow"), h.customer(t, "fast")
	h.queueTestMessages(t, slow, h.endpoint(t, slow, hanging.server.URL), 50)
	h.queueTestMessages(t, fast, h.endpoint(t, fast, healthy.server.URL), 5)

	// Each hanging attempt lasts 3 s, the sender's timeout here.
	h.startClientWith(t, 1, &jobs.Deps{Now: h.deps.Now, Sender: webhooks.NewSender(webhooks.Guard{AllowPrivate: true}, 3*time.Second)})
	deadline := time.Now().Add(90 * time.Second)
	for len(healthy.received()) < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("healthy endpoint got %d of 5 messages; the hanging one %d requests", len(healthy.received()), hanging.received.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := hanging.received.Load(); got > 3 {
		t.Fatalf("the hanging endpoint got %d requests before the healthy one's 5 arrived: they waited behind it", got)
	}
	if m := hanging.maxSeen.Load(); m > 1 {
		t.Fatalf("%d requests in flight at once to one endpoint, want at most 1", m)
	}
}

// Racing takers of one endpoint's lease: exactly one holds it; released,
// the next taker gets it; an expired lease is taken over.
func TestEndpointLeaseHasOneHolder(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cust := h.customer(t, "acme")
	ep := h.endpoint(t, cust, "http://127.0.0.1:9/")
	ctx := context.Background()
	q := store.New(h.pool)
	for round := range 10 {
		var taken atomic.Int32
		var holder atomic.Int64
		var wg sync.WaitGroup
		for i := range 16 {
			job := int64(round*100 + i + 1)
			wg.Go(func() {
				l, err := q.WebhookEndpointLease(ctx, db.WebhookEndpointLeaseParams{CustomerID: cust, ID: ep.ID, JobID: job, Seconds: 60})
				if err != nil {
					t.Error(err)
					return
				}
				if l.Taken {
					taken.Add(1)
					holder.Store(job)
				} else if time.Until(l.HeldUntil) < 50*time.Second {
					t.Errorf("refused lease held until %v, want about a minute away", l.HeldUntil)
				}
			})
		}
		wg.Wait()
		if taken.Load() != 1 {
			t.Fatalf("round %d: %d racing takers hold the lease, want 1", round, taken.Load())
		}
		// Only the holder releases it.
		if err := q.WebhookEndpointRelease(ctx, db.WebhookEndpointReleaseParams{CustomerID: cust, ID: ep.ID, JobID: -1}); err != nil {
			t.Fatal(err)
		}
		if l, _ := q.WebhookEndpointLease(ctx, db.WebhookEndpointLeaseParams{CustomerID: cust, ID: ep.ID, JobID: -2, Seconds: 60}); l.Taken {
			t.Fatal("a non-holder's release freed the lease")
		}
		if err := q.WebhookEndpointRelease(ctx, db.WebhookEndpointReleaseParams{CustomerID: cust, ID: ep.ID, JobID: holder.Load()}); err != nil {
			t.Fatal(err)
		}
	}
	if l, _ := q.WebhookEndpointLease(ctx, db.WebhookEndpointLeaseParams{CustomerID: cust, ID: ep.ID, JobID: 1, Seconds: 0.05}); !l.Taken {
		t.Fatal("a released lease was not taken")
	}
	time.Sleep(100 * time.Millisecond)
	if l, _ := q.WebhookEndpointLease(ctx, db.WebhookEndpointLeaseParams{CustomerID: cust, ID: ep.ID, JobID: 2, Seconds: 60}); !l.Taken {
		t.Fatal("an expired lease (its holder died) was not taken over")
	}
}
