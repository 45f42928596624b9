package jobs

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/rivertype"

	"github.com/upstream-rcm/upstream/internal/metrics"
)

// UnfinishedStates are the states of a job whose work is still to happen.
// They are also the states in which a unique job blocks an equal insert:
// completed is deliberately absent, so an upload that commits after a
// computation finished gets a computation of its own.
var UnfinishedStates = []rivertype.JobState{
	rivertype.JobStateAvailable,
	rivertype.JobStatePending,
	rivertype.JobStateRunning,
	rivertype.JobStateRetryable,
	rivertype.JobStateScheduled,
}

// finalStates are the states a job never leaves.
var finalStates = []rivertype.JobState{
	rivertype.JobStateCancelled,
	rivertype.JobStateCompleted,
	rivertype.JobStateDiscarded,
}

// stateNames converts states for a text[] parameter: pgx has no encode plan
// for River's enum type.
func stateNames(states []rivertype.JobState) []string {
	names := make([]string, len(states))
	for i, s := range states {
		names[i] = string(s)
	}
	return names
}

// JobCount is the number of River jobs of one kind in one state.
type JobCount = metrics.JobCount

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

// CountsFunc returns Counts over pool, as the metrics collector wants it.
func CountsFunc(pool *pgxpool.Pool) func(context.Context) ([]JobCount, error) {
	return func(ctx context.Context) ([]JobCount, error) { return Counts(ctx, pool) }
}

// Unfinished counts jobs in UnfinishedStates: work that is still to happen.
func Unfinished(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	var n int64
	err := pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE state::text = ANY($1::text[])`, stateNames(UnfinishedStates)).Scan(&n)
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
func WaitFinalized(ctx context.Context, pool *pgxpool.Pool, id int64, poll time.Duration) (rivertype.JobState, error) {
	for {
		var state rivertype.JobState
		if err := pool.QueryRow(ctx, `SELECT state::text FROM river_job WHERE id = $1`, id).Scan(&state); err != nil {
			return "", fmt.Errorf("read job %d: %w", id, err)
		}
		if slices.Contains(finalStates, state) {
			return state, nil
		}
		select {
		case <-ctx.Done():
			return state, fmt.Errorf("job %d still %s: %w", id, state, ctx.Err())
		case <-time.After(poll):
		}
	}
}

// WorkerAlive reports whether a River client that works jobs is running
// against the database: started clients elect a leader and keep renewing
// it (insert-only clients never do).
func WorkerAlive(ctx context.Context, pool *pgxpool.Pool) (bool, error) {
	var alive bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM river_leader WHERE expires_at > now())`).Scan(&alive); err != nil {
		return false, fmt.Errorf("look for a running worker: %w", err)
	}
	return alive, nil
}
