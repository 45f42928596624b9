package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
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

// notifyAlerts applies a run to the customer's alert episodes and, for
// the transitions to deliver, creates one delivery per transition and
// enabled endpoint with its job, all in the run's transaction.
func notifyAlerts(ctx context.Context, d *Deps, tx pgx.Tx, outcome *drift.Outcome) error {
	run := outcome.Run
	q := store.New(tx)
	loaded, err := drift.LoadRun(ctx, q, run.CustomerID, run.ID)
	if err != nil {
		return err
	}
	ts, err := alerts.Reconcile(ctx, tx, run.CustomerID, alerts.Computation{RunID: run.ID, AsOf: run.AsOf, Events: loaded.Events,
		Tested: outcome.Tested, Withdrawn: outcome.Withdrawn, Today: d.now()})
	if err != nil {
		return err
	}
	link := ""
	if d.PublicURL != "" {
		link = fmt.Sprintf("%s/customers/%d?run=%d", strings.TrimRight(d.PublicURL, "/"), run.CustomerID, run.ID)
	}
	enqueuer := NewEnqueuer(river.ClientFromContext[pgx.Tx](ctx))
	if err := webhooks.Notifier(enqueuer, run.CustomerID, link, d.now())(ctx, tx, ts); err != nil {
		return err
	}
	// Reminders of the episodes still open, for the endpoints that ask.
	cust, err := q.CustomerGetByID(ctx, run.CustomerID)
	if err != nil {
		return fmt.Errorf("look up customer %d: %w", run.CustomerID, err)
	}
	alerting := map[alerts.Subject]drift.EventView{}
	for _, e := range loaded.Events {
		if e.Alert {
			alerting[alerts.Subject{Payer: e.Payer, CPTGroup: e.CPTGroup, DriftType: e.DriftType}] = e
		}
	}
	_, err = webhooks.DeliverReminders(ctx, tx, enqueuer, cust, run.ID, run.AsOf, alerting, link, d.now())
	return err
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
	if d.Status != "pending" {
		return nil // delivered, or ended already
	}
	if !d.Enabled {
		return w.cancel(ctx, d.ID, fmt.Errorf("endpoint %d is disabled", d.EndpointID))
	}
	now := time.Now()
	secrets, err := webhooks.SigningSecrets(w.deps.Keyring, webhooks.StoredSecrets{CustomerID: d.CustomerID,
		Secret: d.Secret, KeyID: d.SecretKeyID, Sealed: d.SecretSealed, PreviousSecret: d.PreviousSecret,
		PreviousKeyID: d.PreviousSecretKeyID, PreviousSealed: d.PreviousSecretSealed, PreviousExpiresAt: d.PreviousSecretExpiresAt}, now)
	if err != nil {
		// Not sent unsigned: River retries, so a server started without its
		// key delivers once it has it again.
		return fmt.Errorf("delivery %d: %w", d.ID, err)
	}
	// One attempt in flight per endpoint: a hanging endpoint holds one
	// worker, and its other messages wait without holding any.
	lease, err := q.WebhookEndpointLease(ctx, db.WebhookEndpointLeaseParams{CustomerID: d.CustomerID, ID: d.EndpointID,
		JobID: job.ID, Seconds: endpointLease.Seconds()})
	if err != nil {
		return fmt.Errorf("lease endpoint %d: %w", d.EndpointID, err)
	}
	if !lease.Taken {
		return river.JobSnooze(leaseWait(job.Metadata, time.Until(lease.HeldUntil)))
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		// Not released (the database is gone): the lease expires.
		_ = store.New(w.deps.Pool).WebhookEndpointRelease(rctx, db.WebhookEndpointReleaseParams{CustomerID: d.CustomerID,
			ID: d.EndpointID, JobID: job.ID})
	}()
	// The attempt is in the log before the request leaves: a worker killed
	// while it is in flight leaves it 'sending', and the next attempt marks
	// it 'unknown'.
	attemptID, err := store.New(w.deps.Pool).WebhookAttemptBegin(ctx, d.ID)
	if err != nil {
		return fmt.Errorf("record webhook attempt: %w", err)
	}
	res := w.deps.sender().Send(ctx, d.URL, webhooks.Message{ID: d.MessageID, Body: d.Payload, Secrets: secrets}, now)

	// The attempt is completed even when the job's context is ending.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := finishAttempt(rctx, w.deps, d.ID, attemptID, res, job.Attempt >= job.MaxAttempts); err != nil {
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
		return w.cancel(rctx, d.ID, err) // retrying cannot help until the endpoint changes
	}
	return err
}

// endpointLease is how long an endpoint's sending lease lasts unless
// released: past the job's own timeout, so only a holder that died loses
// it.
const endpointLease = WebhookTimeout + 30*time.Second

// leaseWait is how long a delivery whose endpoint is busy snoozes: 250 ms
// doubling with each snooze, at most 5 s and never past the holder's
// lease, with jitter so waiters do not wake together. A fast endpoint
// frees its lease in milliseconds and its waiters soon find it free; a
// hanging one keeps them asleep, not polling.
func leaseWait(metadata []byte, held time.Duration) time.Duration {
	var m struct {
		Snoozes int `json:"snoozes"`
	}
	_ = json.Unmarshal(metadata, &m) // River's; no snoozes yet when absent
	wait := 5 * time.Second
	if m.Snoozes < 5 {
		wait = 250 * time.Millisecond << m.Snoozes
	}
	wait = min(wait, max(held, 100*time.Millisecond))
	return wait/2 + rand.N(wait/2+1)
}

// cancel ends a delivery that will not be sent, with why, and cancels its
// job: a cancelled delivery is never left pending.
func (w *WebhookDeliveryWorker) cancel(ctx context.Context, deliveryID int64, why error) error {
	if err := store.New(w.deps.Pool).WebhookDeliveryCancel(ctx, db.WebhookDeliveryCancelParams{ID: deliveryID, Reason: ptr(why.Error())}); err != nil {
		return fmt.Errorf("cancel webhook delivery %d: %w", deliveryID, err)
	}
	return river.JobCancel(why)
}

func finishAttempt(ctx context.Context, d *Deps, deliveryID, attemptID int64, res webhooks.Result, last bool) error {
	tx, err := d.Pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("record webhook attempt: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	q := store.New(tx)
	p := db.WebhookAttemptFinishParams{ID: attemptID, LatencyMs: ptr(int32(res.Latency.Milliseconds()))}
	if res.StatusCode != 0 {
		p.StatusCode = ptr(int32(res.StatusCode))
	}
	if res.Err != nil {
		p.Error = ptr(res.Err.Error())
	}
	if res.Response != "" {
		p.Response = &res.Response
	}
	if err := q.WebhookAttemptFinish(ctx, p); err != nil {
		return fmt.Errorf("record webhook attempt: %w", err)
	}
	if res.OK() {
		if err := q.WebhookDeliveryMarkDelivered(ctx, deliveryID); err != nil {
			return fmt.Errorf("record webhook delivery: %w", err)
		}
	} else if last {
		if err := q.WebhookDeliveryMarkFailed(ctx, deliveryID); err != nil {
			return fmt.Errorf("mark webhook delivery failed: %w", err)
		}
	}
	return tx.Commit(ctx)
}

func ptr[T any](v T) *T { return &v }

// WebhookDigestArgs writes the digests due: the last whole day's or week's
// alert changes, for the endpoints that take digests. Periodic (hourly,
// and on start); a digest is written once per endpoint and period however
// often it runs.
type WebhookDigestArgs struct{}

// Kind identifies the job type to River.
func (WebhookDigestArgs) Kind() string { return "webhook_digest" }

// InsertOpts puts the job on the webhooks queue, once per hour at most.
func (WebhookDigestArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueWebhooks, UniqueOpts: river.UniqueOpts{ByPeriod: time.Hour}}
}

// WebhookDigestWorker writes the digests due.
type WebhookDigestWorker struct {
	river.WorkerDefaults[WebhookDigestArgs]
	deps *Deps
}

// Work writes the digests due now, each with its delivery job.
func (w *WebhookDigestWorker) Work(ctx context.Context, job *river.Job[WebhookDigestArgs]) error {
	n, err := webhooks.DeliverDigests(ctx, w.deps.Pool, NewEnqueuer(river.ClientFromContext[pgx.Tx](ctx)), w.deps.now())
	if err != nil {
		return err
	}
	if n > 0 {
		w.deps.logger().InfoContext(ctx, "webhook digests written", "job_id", job.ID, "digests", n)
	}
	return nil
}

// DigestPeriodicJob runs WebhookDigestWorker hourly and on start.
func DigestPeriodicJob() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(time.Hour), func() (river.JobArgs, *river.InsertOpts) {
		return WebhookDigestArgs{}, nil
	}, &river.PeriodicJobOpts{ID: "webhook_digests", RunOnStart: true})
}
