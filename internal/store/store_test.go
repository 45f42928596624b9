package store_test

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/upstream-rcm/upstream/internal/store"
	"github.com/upstream-rcm/upstream/internal/testdb"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// A single-row query that finds nothing is ErrNotFound, through a pool
// and a transaction alike; a found row and other errors pass unchanged.
func TestMissingRowIsErrNotFound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	if _, err := store.New(pool).CustomerGetByID(ctx, 424242); !errors.Is(err, store.ErrNotFound) || errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("missing customer through the pool: %v, want store.ErrNotFound", err)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	q := store.New(tx)
	c, err := q.CustomerCreate(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := q.CustomerGetByID(ctx, c.ID); err != nil || got.Name != "acme" {
		t.Fatalf("found row: %+v, %v", got, err)
	}
	if _, err := q.CustomerCreate(ctx, "acme"); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a unique violation became %v", err)
	}
}
