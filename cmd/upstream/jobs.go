package main

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/upstream-rcm/upstream/jobs"
)

// JobsCmd shows River jobs.
type JobsCmd struct {
	Counts JobsCountsCmd `cmd:"" default:"withargs" help:"Job counts by kind and state."`
	Wait   JobsWaitCmd   `cmd:"" help:"Wait until no job is available, scheduled, running or retryable."`
}

// JobsCountsCmd prints job counts.
type JobsCountsCmd struct {
	JSON bool `name:"json" help:"Print JSON."`
}

// Run prints counts by kind and state.
func (c *JobsCountsCmd) Run(ctx context.Context, e *env) error {
	pool, err := e.openPool(ctx, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	counts, err := jobs.Counts(ctx, pool)
	if err != nil {
		return err
	}
	if c.JSON {
		return printJSON(map[string]any{"jobs": counts})
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tSTATE\tCOUNT")
	for _, jc := range counts {
		fmt.Fprintf(tw, "%s\t%s\t%d\n", jc.Kind, jc.State, jc.Count)
	}
	return tw.Flush()
}

// JobsWaitCmd waits for the queue to drain.
type JobsWaitCmd struct {
	Timeout time.Duration `default:"5m" help:"Give up (exit 1) after this long."`
}

// Run polls until the queue is idle.
func (c *JobsWaitCmd) Run(ctx context.Context, e *env) error {
	pool, err := e.openPool(ctx, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	waitCtx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	if err := jobs.WaitIdle(waitCtx, pool, 200*time.Millisecond); err != nil {
		return fmt.Errorf("jobs wait: %w", err)
	}
	fmt.Println("no unfinished jobs")
	return nil
}
