// Package jobs holds upstream's River job arguments and workers. A worker
// decodes its arguments, opens the transaction, calls the domain package and
// completes its job in that same transaction.
package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/upstream-rcm/upstream/internal/ingest"
)

// Queues. Webhook deliveries have their own, so a slow or dead endpoint
// never holds a drift worker.
const (
	QueueDrift    = "drift"
	QueueWebhooks = "webhooks"
)

// CustomerDriftArgs asks for a drift computation of a customer's latest
// data, as of today, with default parameters. Uploads enqueue it, and so
// does a computation that finds requests left when it finishes. It is unique
// per customer while unfinished, so bursts of uploads coalesce.
type CustomerDriftArgs struct {
	CustomerID int64 `json:"customer_id" river:"unique"`
}

// Kind identifies the job type to River.
func (CustomerDriftArgs) Kind() string { return "customer_drift" }

// InsertOpts makes the job unique per customer while unfinished.
func (CustomerDriftArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		Queue:      QueueDrift,
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: UnfinishedStates},
	}
}

// Enqueuer inserts upstream's jobs inside the caller's transaction with
// River's transactional insert, so a job exists if and only if the
// transaction commits. It implements the domain's small job interfaces
// (ingest.Jobs, webhooks.Jobs), which keep River out of the domain.
type Enqueuer struct {
	Client *river.Client[pgx.Tx]
}

// NewEnqueuer returns an Enqueuer inserting through client (an insert-only
// client serves).
func NewEnqueuer(client *river.Client[pgx.Tx]) Enqueuer { return Enqueuer{Client: client} }

// EnqueueDriftTx inserts the customer's drift job, unique while unfinished.
func (e Enqueuer) EnqueueDriftTx(ctx context.Context, tx pgx.Tx, customerID int64) (ingest.DriftJob, error) {
	res, err := e.Client.InsertTx(ctx, tx, CustomerDriftArgs{CustomerID: customerID}, nil)
	if err != nil {
		return ingest.DriftJob{}, fmt.Errorf("insert drift job for customer %d: %w", customerID, err)
	}
	return ingest.DriftJob{JobID: res.Job.ID, Coalesced: res.UniqueSkippedAsDuplicate}, nil
}

// EnqueueDeliveryTx inserts the job that sends a webhook delivery.
func (e Enqueuer) EnqueueDeliveryTx(ctx context.Context, tx pgx.Tx, deliveryID int64) (int64, error) {
	res, err := e.Client.InsertTx(ctx, tx, WebhookDeliveryArgs{DeliveryID: deliveryID}, nil)
	if err != nil {
		return 0, fmt.Errorf("insert webhook delivery job for delivery %d: %w", deliveryID, err)
	}
	return res.Job.ID, nil
}

// NewUploader returns the ingestion flows over pool, enqueueing with client.
func NewUploader(pool *pgxpool.Pool, client *river.Client[pgx.Tx]) *ingest.Uploader {
	return ingest.NewUploader(pool, NewEnqueuer(client))
}

// DefaultJobTimeout is how long a drift job may run before River cancels
// and retries it, in every process that works jobs (River's own default is
// one minute).
const DefaultJobTimeout = 10 * time.Minute

// RescueGrace is how long past its timeout a job may stay running before
// River's rescuer takes it back (its worker died: kill -9, lost machine).
// River's own default is an hour past the timeout.
const RescueGrace = time.Minute

// SetJobTimeout sets a configuration's job timeout and, with it, how soon
// a job whose worker died is rescued and retried elsewhere.
func SetJobTimeout(cfg *river.Config, timeout time.Duration) {
	cfg.JobTimeout = timeout
	cfg.RescueStuckJobsAfter = timeout + RescueGrace
}

// FetchCooldown is the least time between two fetches of a process's
// producers. River's default (100 ms) caps a process at MaxWorkers jobs per
// 100 ms whatever the jobs cost: 40 drift jobs/s with 4 workers, 4.2
// minutes for a 10k-customer weekly fan-out (BenchmarkWeeklyFanOut). At 20
// ms the cap is 200/s and the computations decide; fetches run this often
// only while jobs keep coming (idle queues poll at FetchPollInterval).
const FetchCooldown = 20 * time.Millisecond

// Default workers per process (serve, worker): the production
// configuration, which BenchmarkWeeklyFanOut measures as it is.
const (
	DefaultDriftWorkers   = 4
	DefaultWebhookWorkers = 4
)

// DefaultWorkers is a process's default queues and workers.
func DefaultWorkers() Workers {
	return Workers{QueueDrift: DefaultDriftWorkers, QueueWebhooks: DefaultWebhookWorkers}
}

// Workers is how many jobs of each queue a process works at once. A queue
// that is absent (or at 0) is not worked there; nil means insert only.
type Workers map[string]int

// Config returns the River configuration of a process that works the given
// queues; every worker is registered, so any process can work any queue.
func Config(deps *Deps, workers Workers) *river.Config {
	cfg := &river.Config{Logger: deps.logger(), FetchCooldown: FetchCooldown}
	SetJobTimeout(cfg, DefaultJobTimeout)
	queues := map[string]river.QueueConfig{}
	for queue, n := range workers {
		if n > 0 {
			queues[queue] = river.QueueConfig{MaxWorkers: n}
		}
	}
	if len(queues) > 0 {
		registry := river.NewWorkers()
		AddDriftWorkers(registry, deps)
		river.AddWorker(registry, &WebhookDeliveryWorker{deps: deps})
		river.AddWorker(registry, &WebhookDigestWorker{deps: deps})
		cfg.Workers = registry
		cfg.Queues = queues
	}
	return cfg
}

// StopGracefully stops a client: running jobs get timeout to finish, then
// they are cancelled. A cancelled drift job rolls its transaction back,
// records a failed run and is retried by the next worker.
func StopGracefully(client *river.Client[pgx.Tx], timeout time.Duration, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := client.Stop(ctx); err == nil {
		return nil
	}
	logger.Warn("jobs still running at shutdown timeout; cancelling them", "timeout", timeout)
	hardCtx, hardCancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer hardCancel()
	if err := client.StopAndCancel(hardCtx); err != nil {
		return fmt.Errorf("stop River client: %w", err)
	}
	return nil
}
