package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// JobCount is the number of River jobs of one kind in one state.
type JobCount struct {
	Kind  string `json:"kind"`
	State string `json:"state"`
	Count int64  `json:"count"`
}

// Counts returns job counts by kind and state. River's table is River's
// schema, not upstream's, so this reads it with plain SQL instead of sqlc.
func Counts(ctx context.Context, pool *pgxpool.Pool) ([]JobCount, error) {
	rows, err := pool.Query(ctx, `SELECT kind, state::text, count(*) FROM river_job GROUP BY kind, state ORDER BY kind, state`)
	if err != nil {
		return nil, fmt.Errorf("count jobs: %w", err)
	}
	counts, err := pgx.CollectRows(rows, pgx.RowToStructByPos[JobCount])
	if err != nil {
		return nil, fmt.Errorf("count jobs: %w", err)
	}
	return counts, nil
}

// Unfinished counts jobs that are available, scheduled, running or
// retryable: work that is still to happen.
func Unfinished(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	var n int64
	err := pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE state IN ('available', 'scheduled', 'running', 'retryable')`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count unfinished jobs: %w", err)
	}
	return n, nil
}

// WaitIdle polls until no job is unfinished, or ctx ends.
func WaitIdle(ctx context.Context, pool *pgxpool.Pool, poll time.Duration) error {
	for {
		n, err := Unfinished(ctx, pool)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d jobs still unfinished: %w", n, ctx.Err())
		case <-time.After(poll):
		}
	}
}

// WaitFinalized polls until job id is completed, cancelled or discarded and
// returns that state.
func WaitFinalized(ctx context.Context, pool *pgxpool.Pool, id int64, poll time.Duration) (string, error) {
	for {
		var state string
		if err := pool.QueryRow(ctx, `SELECT state::text FROM river_job WHERE id = $1`, id).Scan(&state); err != nil {
			return "", fmt.Errorf("read job %d: %w", id, err)
		}
		switch state {
		case "completed", "cancelled", "discarded":
			return state, nil
		}
		select {
		case <-ctx.Done():
			return state, fmt.Errorf("job %d still %s: %w", id, state, ctx.Err())
		case <-time.After(poll):
		}
	}
}
