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

// Run polls until the queue is idle, saying how many jobs remain, and
// fails fast when jobs wait and no worker is running.
func (c *JobsWaitCmd) Run(ctx context.Context, e *env) error {
	pool, err := e.openPool(ctx, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	waitCtx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	const noWorkerGrace = 10 * time.Second // a worker starting up, or between leader terms
	var idleSince time.Time
	last := int64(-1)
	for {
		n, err := jobs.Unfinished(waitCtx, pool)
		if err != nil {
			return fmt.Errorf("jobs wait: %w", err)
		}
		if n == 0 {
			fmt.Println("no unfinished jobs")
			return nil
		}
		if n != last {
			fmt.Fprintf(os.Stderr, "%d unfinished jobs...\n", n)
			last = n
		}
		alive, err := jobs.WorkerAlive(waitCtx, pool)
		if err != nil {
			return fmt.Errorf("jobs wait: %w", err)
		}
		switch {
		case alive:
			idleSince = time.Time{}
		case idleSince.IsZero():
			idleSince = time.Now()
		case time.Since(idleSince) > noWorkerGrace:
			return fmt.Errorf("jobs wait: %s waiting and no worker is running: start one with `upstream worker` (or `upstream serve`)",
				map[bool]string{true: "1 job is", false: count(int(n), "job") + " are"}[n == 1])
		}
		select {
		case <-waitCtx.Done():
			return fmt.Errorf("jobs wait: %s still unfinished after %s", count(int(n), "job"), c.Timeout)
		case <-time.After(500 * time.Millisecond):
		}
	}
}
