package webhooks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/store"
)

// CreateDeliveries stores, in the caller's transaction (q), one delivery
// per enabled endpoint of the customer that wants at least one of the
// alerts (by its minimum severity), each with its message built once. A
// (run, endpoint) that already has its delivery gets no second one. It
// returns the new deliveries' ids.
func CreateDeliveries(ctx context.Context, q *db.Queries, cust db.Customer, run drift.RunView, alerts []drift.EventView, link string, now time.Time) ([]int64, error) {
	endpoints, err := q.WebhookEndpointListDeliverable(ctx, db.WebhookEndpointListDeliverableParams{CustomerID: cust.ID, Severity: 1})
	if err != nil {
		return nil, fmt.Errorf("list webhook endpoints: %w", err)
	}
	var ids []int64
	for _, ep := range endpoints {
		var wanted []drift.EventView
		for _, a := range alerts {
			if a.Severity >= ep.MinSeverity {
				wanted = append(wanted, a)
			}
		}
		if len(wanted) == 0 {
			continue
		}
		body, err := Build(ep.Format, Payload{Type: TypeAlerts, Timestamp: now.UTC(),
			Data: Data{Customer: Customer{ID: cust.ID, Name: cust.Name}, Run: &run, Alerts: NewAlerts(wanted), Link: link}})
		if err != nil {
			return nil, err
		}
		id, err := createDelivery(ctx, q, cust.ID, ep.ID, &run.ID, body)
		if err != nil {
			return nil, err
		}
		if id != 0 {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// Jobs inserts delivery jobs inside the caller's transaction; the jobs
// package implements it with River's transactional insert.
type Jobs interface {
	EnqueueDeliveryTx(ctx context.Context, tx pgx.Tx, deliveryID int64) (jobID int64, err error)
}

// TestDelivery is a test message queued for an endpoint.
type TestDelivery struct {
	EndpointID int64 `json:"endpoint_id"`
	DeliveryID int64 `json:"delivery_id"`
	JobID      int64 `json:"job_id"`
}

// SendTest queues a test message to one of the customer's endpoints, in
// one transaction with the job that sends it. An endpoint of another
// customer is ErrEndpointNotFound.
func SendTest(ctx context.Context, pool *pgxpool.Pool, jobs Jobs, cust db.Customer, endpointID int64, now time.Time) (TestDelivery, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return TestDelivery{}, fmt.Errorf("begin test delivery: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	q := store.New(tx)
	ep, err := GetEndpoint(ctx, q, cust.ID, endpointID)
	if err != nil {
		return TestDelivery{}, err
	}
	deliveryID, err := CreateTestDelivery(ctx, q, cust, ep, now)
	if err != nil {
		return TestDelivery{}, err
	}
	jobID, err := jobs.EnqueueDeliveryTx(ctx, tx, deliveryID)
	if err != nil {
		return TestDelivery{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return TestDelivery{}, fmt.Errorf("commit test delivery: %w", err)
	}
	return TestDelivery{EndpointID: ep.ID, DeliveryID: deliveryID, JobID: jobID}, nil
}

// CreateTestDelivery stores a test message for one endpoint.
func CreateTestDelivery(ctx context.Context, q *db.Queries, cust db.Customer, ep db.WebhookEndpoint, now time.Time) (int64, error) {
	body, err := Build(ep.Format, Payload{Type: TypeTest, Timestamp: now.UTC(),
		Data: Data{Customer: Customer{ID: cust.ID, Name: cust.Name}, Alerts: []Alert{}}})
	if err != nil {
		return 0, err
	}
	return createDelivery(ctx, q, cust.ID, ep.ID, nil, body)
}

func createDelivery(ctx context.Context, q *db.Queries, customerID, endpointID int64, runID *int64, body []byte) (int64, error) {
	msgID, err := NewMessageID()
	if err != nil {
		return 0, err
	}
	id, err := q.WebhookDeliveryCreate(ctx, db.WebhookDeliveryCreateParams{CustomerID: customerID, EndpointID: endpointID,
		ReportRunID: runID, MessageID: msgID, Payload: body})
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil // this run's delivery to this endpoint exists
	}
	if err != nil {
		return 0, fmt.Errorf("store webhook delivery: %w", err)
	}
	return id, nil
}
