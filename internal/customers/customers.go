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
