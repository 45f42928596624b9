package main

import (
	"context"
	"fmt"

	"github.com/upstream-rcm/upstream/jobs"
)

// WorkerCmd runs job workers only.
type WorkerCmd struct {
	WorkOpts
}

// Run works jobs until SIGINT or SIGTERM.
func (c *WorkerCmd) Run(ctx context.Context, e *env) error {
	if err := c.WorkOpts.Validate(); err != nil {
		return err
	}
	pool, err := e.openPool(ctx, c.poolSize(0))
	if err != nil {
		return err
	}
	defer pool.Close()
	client, err := e.riverClient(pool, c.workers(), func(cfg *riverConfig) { cfg.JobTimeout = c.JobTimeout })
	if err != nil {
		return err
	}
	if err := client.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start River client: %w", err)
	}
	e.logger.Info("worker started", "drift_workers", c.DriftWorkers)
	<-ctx.Done()
	e.logger.Info("shutting down: letting running jobs finish", "timeout", c.ShutdownTimeout)
	if err := jobs.StopGracefully(client, c.ShutdownTimeout, e.logger); err != nil {
		return err
	}
	e.logger.Info("worker stopped")
	return nil
}
