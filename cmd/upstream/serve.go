package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/upstream-rcm/upstream/internal/claimstats"
	"github.com/upstream-rcm/upstream/internal/httpapi"
	"github.com/upstream-rcm/upstream/internal/metrics"
	"github.com/upstream-rcm/upstream/jobs"
)

// WorkOpts configure job processing, shared by serve and worker.
type WorkOpts struct {
	DriftWorkers    int           `name:"drift-workers" env:"UPSTREAM_DRIFT_WORKERS" default:"${drift_workers}" help:"Concurrent drift computations in this process."`
	WebhookWorkers  int           `name:"webhook-workers" env:"UPSTREAM_WEBHOOK_WORKERS" default:"${webhook_workers}" help:"Concurrent webhook deliveries in this process (their own queue: a slow endpoint never holds a drift worker)."`
	JobTimeout      time.Duration `name:"job-timeout" env:"UPSTREAM_JOB_TIMEOUT" default:"${job_timeout}" help:"Longest a drift job may run before it is cancelled and retried."`
	ShutdownTimeout time.Duration `name:"shutdown-timeout" env:"UPSTREAM_SHUTDOWN_TIMEOUT" default:"30s" help:"How long running jobs may finish after SIGINT/SIGTERM before they are cancelled (and retried elsewhere)."`
}

// Validate checks the options at start-up.
func (o WorkOpts) Validate() error {
	switch {
	case o.DriftWorkers < 1:
		return fmt.Errorf("--drift-workers (UPSTREAM_DRIFT_WORKERS) must be at least 1, got %d", o.DriftWorkers)
	case o.WebhookWorkers < 1 || o.WebhookWorkers > 100:
		return fmt.Errorf("--webhook-workers (UPSTREAM_WEBHOOK_WORKERS) must be from 1 to 100, got %d", o.WebhookWorkers)
	case o.JobTimeout < time.Second:
		return fmt.Errorf("--job-timeout (UPSTREAM_JOB_TIMEOUT) must be at least 1s, got %s", o.JobTimeout)
	case o.ShutdownTimeout < 0:
		return fmt.Errorf("--shutdown-timeout (UPSTREAM_SHUTDOWN_TIMEOUT) must not be negative, got %s", o.ShutdownTimeout)
	}
	return nil
}

// workers is how many jobs of each queue the process works at once.
func (o WorkOpts) workers() jobs.Workers {
	return jobs.Workers{jobs.QueueDrift: o.DriftWorkers, jobs.QueueWebhooks: o.WebhookWorkers}
}

// poolSize is the connections a process needs: one per worker of every
// queue, five for River (the notifier's LISTEN connection, fetches, leader
// election, maintenance) and extra for HTTP requests.
func (o WorkOpts) poolSize(http int) int32 {
	n := 5 + http
	for _, workers := range o.workers() {
		n += workers
	}
	return int32(n)
}

// ServeCmd runs the HTTP server, the workers and the weekly schedule.
type ServeCmd struct {
	Addr           string        `env:"UPSTREAM_ADDR" default:"127.0.0.1:8080" help:"HTTP listen address."`
	AdminKey       string        `name:"admin-key" env:"UPSTREAM_ADMIN_KEY" help:"Admin key for customers, API keys and River UI (empty: admin endpoints disabled)."`
	Schedule       string        `env:"UPSTREAM_WEEKLY_SCHEDULE" default:"${weekly_schedule}" help:"Cron schedule (UTC) of the weekly drift fan-out."`
	FanoutInterval time.Duration `name:"fanout-interval" env:"UPSTREAM_FANOUT_INTERVAL" default:"15m" help:"Also run the fan-out this often (and at start) to make up missed ticks."`
	MaxUploadBytes int64         `name:"max-upload-bytes" env:"UPSTREAM_MAX_UPLOAD_BYTES" default:"${max_upload_bytes}" help:"Upload size limit in bytes."`
	UploadTimeout  time.Duration `name:"upload-timeout" env:"UPSTREAM_UPLOAD_TIMEOUT" default:"30m" help:"How long one upload request may take."`
	StallTimeout   time.Duration `name:"upload-stall-timeout" env:"UPSTREAM_UPLOAD_STALL_TIMEOUT" default:"30s" help:"Abort an upload whose body sends nothing for this long."`
	MaxUploads     int           `name:"max-uploads" env:"UPSTREAM_MAX_UPLOADS" default:"4" help:"Uploads in flight at once (each holds a database connection while it streams); more get 429."`
	MaxCustUploads int           `name:"max-uploads-per-customer" env:"UPSTREAM_MAX_UPLOADS_PER_CUSTOMER" default:"2" help:"Uploads in flight at once for one customer; more get 429."`
	MemoryLimitMB  int64         `name:"memory-limit-mb" env:"UPSTREAM_MEMORY_LIMIT_MB" default:"512" help:"Soft memory limit of the process in MiB (Go's runtime limit; GOMEMLIMIT, when set, wins). Half of it bounds the statistics the uploads in flight hold in memory."`
	WorkOpts
}

// Run serves until SIGINT or SIGTERM, then shuts down gracefully.
func (c *ServeCmd) Run(ctx context.Context, e *env) error {
	if err := c.WorkOpts.Validate(); err != nil {
		return usage(err)
	}
	schedule, err := jobs.ParseWeeklySchedule(c.Schedule)
	if err != nil {
		return usage(fmt.Errorf("--schedule (UPSTREAM_WEEKLY_SCHEDULE): %w", err))
	}
	if c.FanoutInterval < time.Minute {
		return usage(fmt.Errorf("--fanout-interval (UPSTREAM_FANOUT_INTERVAL) must be at least 1m, got %s", c.FanoutInterval))
	}
	if c.MaxUploadBytes < 1 {
		return usage(fmt.Errorf("--max-upload-bytes (UPSTREAM_MAX_UPLOAD_BYTES) must be positive, got %d", c.MaxUploadBytes))
	}
	if c.MemoryLimitMB < 128 {
		return usage(fmt.Errorf("--memory-limit-mb (UPSTREAM_MEMORY_LIMIT_MB) must be at least 128, got %d", c.MemoryLimitMB))
	}
	if c.AdminKey != "" && len(c.AdminKey) < 16 {
		return usage(errors.New("UPSTREAM_ADMIN_KEY must be at least 16 characters"))
	}
	listener, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s (--addr, UPSTREAM_ADDR): %w", c.Addr, err)
	}
	defer listener.Close()

	// Uploads hold connections while they stream; reads and /readyz keep
	// ten of their own beside them.
	pool, err := e.openPool(ctx, c.poolSize(10+max(c.MaxUploads, 0)))
	if err != nil {
		return err
	}
	defer pool.Close()
	client, err := e.riverClient(pool, c.workers(), func(cfg *riverConfig) {
		jobs.SetJobTimeout(cfg, c.JobTimeout)
		cfg.PeriodicJobs = append(jobs.PeriodicJobs(schedule, c.FanoutInterval), jobs.DigestPeriodicJob())
	})
	if err != nil {
		return err
	}
	if err := metrics.RegisterJobCounts(prometheus.DefaultRegisterer, jobs.CountsFunc(pool), e.logger); err != nil {
		return err
	}
	kr, err := e.keyring()
	if err != nil {
		return err
	}
	limit := memoryLimit(c.MemoryLimitMB)
	maxStatRows := claimstats.MaxRowsFor(limit/2, max(c.MaxUploads, 1))
	e.logger.Info("memory", "soft_limit_mb", limit>>20, "upload_stat_rows", maxStatRows, "max_uploads", c.MaxUploads)
	srv, err := httpapi.New(httpapi.Config{Pool: pool, River: client, Logger: e.logger, AdminKey: c.AdminKey, Keyring: kr,
		MaxUploadBytes: c.MaxUploadBytes, UploadTimeout: c.UploadTimeout, UploadStallTimeout: c.StallTimeout,
		MaxUploads: c.MaxUploads, MaxUploadsPerCustomer: c.MaxCustUploads, MaxStatRows: maxStatRows, WebhookGuard: e.webhookGuard()})
	if err != nil {
		return err
	}
	if err := client.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start River client: %w", err)
	}
	if err := srv.Start(ctx); err != nil {
		return err
	}
	// Short defaults; the upload handler extends its own deadlines.
	httpServer := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- httpServer.Serve(listener) }()
	e.logger.Info("serving", "addr", listener.Addr().String(), "drift_workers", c.DriftWorkers,
		"weekly_schedule", c.Schedule, "next_fanout", schedule.Next(time.Now()).UTC().Format(time.RFC3339),
		"river_ui", c.AdminKey != "")

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		e.logger.Error("HTTP server failed", "error", err)
	}
	e.logger.Info("shutting down: no new requests; letting running jobs finish", "timeout", c.ShutdownTimeout)
	httpCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := httpServer.Shutdown(httpCtx); err != nil {
		e.logger.Warn("HTTP shutdown", "error", err)
	}
	if err := jobs.StopGracefully(client, c.ShutdownTimeout, e.logger); err != nil {
		return err
	}
	e.logger.Info("stopped")
	return nil
}

// memoryLimit sets the runtime's soft memory limit to mb MiB, unless
// GOMEMLIMIT set one already, and returns the limit in force. Near it the
// garbage collector works harder rather than let the heap grow.
func memoryLimit(mb int64) int64 {
	if os.Getenv("GOMEMLIMIT") != "" {
		return debug.SetMemoryLimit(-1)
	}
	debug.SetMemoryLimit(mb << 20)
	return mb << 20
}
