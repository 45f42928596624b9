package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/upstream-rcm/upstream/jobs"
)

// WorkerCmd runs job workers only.
type WorkerCmd struct {
	WorkOpts
	MetricsAddr string `name:"metrics-addr" env:"UPSTREAM_METRICS_ADDR" help:"Also serve Prometheus /metrics on this address (e.g. 127.0.0.1:9101), so scaled-out workers report their computations."`
}

// Run works jobs until SIGINT or SIGTERM.
func (c *WorkerCmd) Run(ctx context.Context, e *env) error {
	if err := c.WorkOpts.Validate(); err != nil {
		return usage(err)
	}
	pool, err := e.openPool(ctx, c.poolSize(0))
	if err != nil {
		return err
	}
	defer pool.Close()
	client, err := e.riverClient(pool, c.workers(), func(cfg *riverConfig) { jobs.SetJobTimeout(cfg, c.JobTimeout) })
	if err != nil {
		return err
	}
	if err := client.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start River client: %w", err)
	}
	if c.MetricsAddr != "" {
		listener, err := net.Listen("tcp", c.MetricsAddr)
		if err != nil {
			return fmt.Errorf("--metrics-addr %s: %w", c.MetricsAddr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.Handler())
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second}
		go func() {
			if err := srv.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
				e.logger.Error("metrics server", "error", err)
			}
		}()
		defer srv.Close()
		e.logger.Info("serving metrics", "addr", listener.Addr().String())
	}
	e.logger.Info("worker started", "drift_workers", c.DriftWorkers, "webhook_workers", c.WebhookWorkers)
	<-ctx.Done()
	e.logger.Info("shutting down: letting running jobs finish", "timeout", c.ShutdownTimeout)
	if err := jobs.StopGracefully(client, c.ShutdownTimeout, e.logger); err != nil {
		return err
	}
	e.logger.Info("worker stopped")
	return nil
}
