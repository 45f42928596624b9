package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/upstream-rcm/upstream/internal/alerts"
	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/store"
	"github.com/upstream-rcm/upstream/internal/webhooks"
)

// WebhookDeliveryArgs delivers one stored message to its endpoint. It is
// inserted in the transaction that creates the delivery, unique per
// delivery, and retried with River's backoff for days (MaxAttempts 20:
// about 6 days of attempts; TestWebhookRetriesSpanMoreThanADay).
type WebhookDeliveryArgs struct {
	DeliveryID int64 `json:"delivery_id" river:"unique"`
}

// Kind identifies the job type to River.
func (WebhookDeliveryArgs) Kind() string { return "webhook_delivery" }

// InsertOpts puts the job on the webhooks queue, unique per delivery.
func (WebhookDeliveryArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueWebhooks, MaxAttempts: 20, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// WebhookTimeout bounds one delivery attempt.
const WebhookTimeout = 10 * time.Second

func (d *Deps) sender() *webhooks.Sender {
	if d.Sender != nil {
		return d.Sender
	}
	return defaultSender
}

var defaultSender = webhooks.NewSender(webhooks.Guard{}, WebhookTimeout)

// notifyAlerts reconciles a run's alerts with their subjects and, for the
// alerts to deliver, creates one delivery per enabled endpoint and its job,
// all in the run's transaction.
func notifyAlerts(ctx context.Context, d *Deps, tx pgx.Tx, run db.ReportRun) error {
	q := store.New(tx)
	loaded, err := drift.LoadRun(ctx, q, run.CustomerID, run.ID)
	if err != nil {
		return err
	}
	deliver, err := alerts.Reconcile(ctx, tx, run.CustomerID, run.ID, loaded.Events, d.now())
	if err != nil || len(deliver) == 0 {
		return err
	}
	cust, err := q.CustomerGetByID(ctx, run.CustomerID)
	if err != nil {
		return fmt.Errorf("look up customer %d: %w", run.CustomerID, err)
	}
	link := ""
	if d.PublicURL != "" {
		link = fmt.Sprintf("%s/customers/%d?run=%d", strings.TrimRight(d.PublicURL, "/"), run.CustomerID, run.ID)
	}
	ids, err := webhooks.CreateDeliveries(ctx, q, cust, loaded.ReportRun, deliver, link, d.now())
	if err != nil || len(ids) == 0 {
		return err
	}
	params := make([]river.InsertManyParams, len(ids))
	for i, id := range ids {
		params[i] = river.InsertManyParams{Args: WebhookDeliveryArgs{DeliveryID: id}}
	}
	if _, err := river.ClientFromContext[pgx.Tx](ctx).InsertManyTx(ctx, tx, params); err != nil {
		return fmt.Errorf("enqueue webhook deliveries: %w", err)
	}
	return nil
}

// WebhookDeliveryWorker sends a delivery and records the attempt.
type WebhookDeliveryWorker struct {
	river.WorkerDefaults[WebhookDeliveryArgs]
	deps *Deps
}

// Timeout leaves room for the attempt and its recording.
func (w *WebhookDeliveryWorker) Timeout(*river.Job[WebhookDeliveryArgs]) time.Duration {
	return WebhookTimeout + 20*time.Second
}

// Work sends the delivery's message, signed with the endpoint's current
// secret (and the previous one during a rotation's grace period), records
// the attempt, and returns an error on anything but 2xx so River retries.
func (w *WebhookDeliveryWorker) Work(ctx context.Context, job *river.Job[WebhookDeliveryArgs]) error {
	q := store.New(w.deps.Pool)
	d, err := q.WebhookDeliveryGetForSend(ctx, job.Args.DeliveryID)
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(fmt.Errorf("delivery %d is gone (endpoint deleted)", job.Args.DeliveryID))
	}
	if err != nil {
		return fmt.Errorf("load delivery %d: %w", job.Args.DeliveryID, err)
	}
	if d.Status == "delivered" {
		return nil
	}
	if !d.Enabled {
		return river.JobCancel(fmt.Errorf("endpoint %d is disabled", d.EndpointID))
	}
	now := time.Now()
	secrets := []string{d.Secret}
	if d.PreviousSecret != nil && d.PreviousSecretExpiresAt != nil && d.PreviousSecretExpiresAt.After(now) {
		secrets = append(secrets, *d.PreviousSecret)
	}
	res := w.deps.sender().Send(ctx, d.URL, webhooks.Message{ID: d.MessageID, Body: d.Payload, Secrets: secrets}, now)

	// The attempt is recorded even when the job's context is ending.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := recordAttempt(rctx, w.deps, d.ID, res, job.Attempt >= job.MaxAttempts); err != nil {
		return err
	}
	logger := w.deps.logger().With("job_id", job.ID, "customer_id", d.CustomerID, "delivery_id", d.ID, "attempt", job.Attempt)
	if res.OK() {
		logger.InfoContext(ctx, "webhook delivered", "status", res.StatusCode, "latency_ms", res.Latency.Milliseconds())
		return nil
	}
	err = fmt.Errorf("delivery %d: status %d", d.ID, res.StatusCode)
	if res.Err != nil {
		err = fmt.Errorf("delivery %d: %w", d.ID, res.Err)
	}
	logger.WarnContext(ctx, "webhook attempt failed", "error", err)
	if errors.Is(res.Err, webhooks.ErrForbiddenDestination) {
		return river.JobCancel(err) // retrying cannot help until the endpoint changes
	}
	return err
}

func recordAttempt(ctx context.Context, d *Deps, deliveryID int64, res webhooks.Result, last bool) error {
	tx, err := d.Pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("record webhook attempt: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	q := store.New(tx)
	p := db.WebhookAttemptInsertParams{DeliveryID: deliveryID, LatencyMs: int32(res.Latency.Milliseconds())}
	if res.StatusCode != 0 {
		p.StatusCode = ptr(int32(res.StatusCode))
	}
	if res.Err != nil {
		p.Error = ptr(res.Err.Error())
	}
	if res.Response != "" {
		p.Response = &res.Response
	}
	if err := q.WebhookAttemptInsert(ctx, p); err != nil {
		return fmt.Errorf("record webhook attempt: %w", err)
	}
	if _, err := q.WebhookDeliveryRecordAttempt(ctx, db.WebhookDeliveryRecordAttemptParams{ID: deliveryID, Delivered: res.OK()}); err != nil {
		return fmt.Errorf("record webhook attempt: %w", err)
	}
	if last && !res.OK() {
		if err := q.WebhookDeliveryMarkFailed(ctx, deliveryID); err != nil {
			return fmt.Errorf("mark webhook delivery failed: %w", err)
		}
	}
	return tx.Commit(ctx)
}

func ptr[T any](v T) *T { return &v }
