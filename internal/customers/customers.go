// Package customers manages tenants: each customer's claims, mappings and
// results are separate from every other customer's.
package customers

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/upstream-rcm/upstream/internal/db"
)

// ErrExists is returned when creating a customer whose name is taken.
var ErrExists = errors.New("a customer with this name already exists")

// ErrNotFound is returned for an unknown customer.
var ErrNotFound = errors.New("customer not found")

// Create creates a customer named name (trimmed, non-empty).
func Create(ctx context.Context, q *db.Queries, name string) (db.Customer, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return db.Customer{}, errors.New("customer name must not be empty")
	}
	c, err := q.CustomerCreate(ctx, name)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == pgerrcode.UniqueViolation {
		return db.Customer{}, fmt.Errorf("create customer %q: %w", name, ErrExists)
	}
	if err != nil {
		return db.Customer{}, fmt.Errorf("create customer %q: %w", name, err)
	}
	return c, nil
}

// ByName returns the customer named name.
func ByName(ctx context.Context, q *db.Queries, name string) (db.Customer, error) {
	c, err := q.CustomerGetByName(ctx, strings.TrimSpace(name))
	if errors.Is(err, pgx.ErrNoRows) {
		return db.Customer{}, fmt.Errorf("customer %q: %w (create it with `upstream customer create`)", name, ErrNotFound)
	}
	if err != nil {
		return db.Customer{}, fmt.Errorf("look up customer %q: %w", name, err)
	}
	return c, nil
}

// Delete removes a customer with all its uploads, claims, mappings, runs
// and events, in one transaction. Jobs already queued for it find no
// customer and are cancelled.
func Delete(ctx context.Context, pool *pgxpool.Pool, id int64) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin customer deletion: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	q := db.New(tx)
	// Serialize with any drift computation of this customer.
	if _, err := q.CustomerLockForDrift(ctx, id); err != nil {
		return fmt.Errorf("lock customer %d: %w", id, err)
	}
	steps := []func(context.Context, int64) error{
		q.CustomerDeleteDriftEvents, q.CustomerDeleteReportRuns, q.CustomerDeleteDriftRequests, q.CustomerDeleteUploads, q.CustomerDelete,
	}
	for _, step := range steps {
		if err := step(ctx, id); err != nil {
			return fmt.Errorf("delete customer %d: %w", id, err)
		}
	}
	return tx.Commit(ctx)
}
