package webhooks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/upstream-rcm/upstream/internal/alerts"
	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/store"
)

// DeliverTransitions stores, in tx, one delivery per transition and
// enabled endpoint of the customer that wants it (by its minimum
// severity), each with its message built once and a webhook-id derived
// from (endpoint, episode, seq), and enqueues each delivery's job. A
// transition already delivered to an endpoint gets no second delivery,
// whoever asks (the constraint on (endpoint, transition) decides). It
// returns the new deliveries' ids.
func DeliverTransitions(ctx context.Context, tx pgx.Tx, jobs Jobs, cust db.Customer, ts []alerts.Transition, link string, now time.Time) ([]int64, error) {
	if len(ts) == 0 {
		return nil, nil
	}
	q := store.New(tx)
	endpoints, err := q.WebhookEndpointListDeliverable(ctx, db.WebhookEndpointListDeliverableParams{CustomerID: cust.ID, Severity: 1})
	if err != nil {
		return nil, fmt.Errorf("list webhook endpoints: %w", err)
	}
	var ids []int64
	for _, ep := range endpoints {
		for _, t := range ts {
			if t.Severity < ep.MinSeverity {
				continue
			}
			p := Payload{Type: TypeOf(t.Kind), Timestamp: now.UTC(),
				Data: Data{Customer: Customer{ID: cust.ID, Name: cust.Name}, Transition: NewTransition(t), Link: link}}
			if t.Alert != nil {
				p.Data.Alert = NewAlert(*t.Alert)
			}
			body, err := Build(ep.Format, p)
			if err != nil {
				return nil, err
			}
			id, err := q.WebhookDeliveryCreate(ctx, db.WebhookDeliveryCreateParams{CustomerID: cust.ID, EndpointID: ep.ID,
				ReportRunID: t.RunID, TransitionID: &t.ID, MessageID: TransitionMessageID(ep.ID, t.EpisodeID, t.Seq), Payload: body})
			if errors.Is(err, store.ErrNotFound) {
				continue // this transition's delivery to this endpoint exists
			}
			if err != nil {
				return nil, fmt.Errorf("store webhook delivery: %w", err)
			}
			if _, err := jobs.EnqueueDeliveryTx(ctx, tx, id); err != nil {
				return nil, err
			}
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// DeliverReminders stores, in tx, a reminder for every enabled endpoint
// that asks for them (repeat_after_days) and episode of the customer still
// open and unacknowledged whose last message to it came from a
// computation at least that many days before asOf, and enqueues each. The
// reminder carries the subject's alert of this run when it alerted
// (alerting, by subject). One message per (endpoint, episode, reminder),
// by constraint and derived webhook-id.
func DeliverReminders(ctx context.Context, tx pgx.Tx, jobs Jobs, cust db.Customer, runID int64, asOf time.Time,
	alerting map[alerts.Subject]drift.EventView, link string, now time.Time) ([]int64, error) {
	q := store.New(tx)
	due, err := q.WebhookReminderDue(ctx, db.WebhookReminderDueParams{CustomerID: cust.ID, AsOf: asOf})
	if err != nil {
		return nil, fmt.Errorf("find reminders due: %w", err)
	}
	var ids []int64
	for _, r := range due {
		ep, err := q.WebhookEndpointGetByID(ctx, db.WebhookEndpointGetByIDParams{CustomerID: cust.ID, ID: r.EndpointID})
		if err != nil {
			return nil, fmt.Errorf("look up webhook endpoint %d: %w", r.EndpointID, err)
		}
		e, err := q.AlertEpisodeGet(ctx, db.AlertEpisodeGetParams{CustomerID: cust.ID, ID: r.EpisodeID})
		if err != nil {
			return nil, fmt.Errorf("look up alert episode %d: %w", r.EpisodeID, err)
		}
		seq := int(r.Reminders) + 1
		s := alerts.Subject{Payer: e.Payer, CPTGroup: e.CPTGroup, DriftType: drift.Type(e.DriftType)}
		t := alerts.Transition{EpisodeID: e.ID, Seq: seq, Kind: alerts.KindReminder, Subject: s, Severity: e.Severity,
			Direction: int(e.Direction), OpenedAsOf: e.OpenedAsOf, Actor: "system", At: now, RunID: &runID}
		p := Payload{Type: TypeAlertReminder, Timestamp: now.UTC(),
			Data: Data{Customer: Customer{ID: cust.ID, Name: cust.Name}, Transition: NewTransition(t), Link: link}}
		if a, ok := alerting[s]; ok {
			p.Data.Alert = NewAlert(a)
		}
		body, err := Build(ep.Format, p)
		if err != nil {
			return nil, err
		}
		n := int32(seq)
		id, err := q.WebhookDeliveryCreate(ctx, db.WebhookDeliveryCreateParams{CustomerID: cust.ID, EndpointID: ep.ID, ReportRunID: &runID,
			EpisodeID: &e.ID, ReminderSeq: &n, MessageID: reminderMessageID(ep.ID, e.ID, seq), Payload: body})
		if errors.Is(err, store.ErrNotFound) {
			continue // sent already
		}
		if err != nil {
			return nil, fmt.Errorf("store webhook reminder: %w", err)
		}
		if _, err := jobs.EnqueueDeliveryTx(ctx, tx, id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// reminderMessageID is the webhook-id of an endpoint's n-th reminder of an
// episode.
func reminderMessageID(endpointID, episodeID int64, n int) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "upstream/reminder/%d/%d/%d", endpointID, episodeID, n))
	return "msg_" + hex.EncodeToString(sum[:16])
}

// Notifier returns the alerts.Notify that delivers a customer's
// transitions, enqueueing with jobs.
func Notifier(jobs Jobs, customerID int64, link string, now time.Time) alerts.Notify {
	return func(ctx context.Context, tx pgx.Tx, ts []alerts.Transition) error {
		if len(ts) == 0 {
			return nil
		}
		cust, err := store.New(tx).CustomerGetByID(ctx, customerID)
		if err != nil {
			return fmt.Errorf("look up customer %d: %w", customerID, err)
		}
		_, err = DeliverTransitions(ctx, tx, jobs, cust, ts, link, now)
		return err
	}
}

// TransitionMessageID is the webhook-id of a transition's message to an
// endpoint: derived from them, so that no re-run, recomputation or retry
// can give one transition two ids (a receiver de-duplicates on it).
func TransitionMessageID(endpointID, episodeID int64, seq int) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "upstream/transition/%d/%d/%d", endpointID, episodeID, seq))
	return "msg_" + hex.EncodeToString(sum[:16])
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
		Data: Data{Customer: Customer{ID: cust.ID, Name: cust.Name}}})
	if err != nil {
		return 0, err
	}
	return createTestDelivery(ctx, q, cust.ID, ep.ID, body)
}

// createTestDelivery stores a test message: a fresh id every time (a test
// is not a transition).
func createTestDelivery(ctx context.Context, q *db.Queries, customerID, endpointID int64, body []byte) (int64, error) {
	msgID, err := NewMessageID()
	if err != nil {
		return 0, err
	}
	id, err := q.WebhookDeliveryCreate(ctx, db.WebhookDeliveryCreateParams{CustomerID: customerID, EndpointID: endpointID,
		MessageID: msgID, Payload: body})
	if err != nil {
		return 0, fmt.Errorf("store webhook delivery: %w", err)
	}
	return id, nil
}
