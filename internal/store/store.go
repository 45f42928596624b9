// Package store opens upstream's sqlc queries (internal/db) over a pool, a
// connection or a transaction, and maps pgx.ErrNoRows to ErrNotFound in
// one place, as River's driver maps it to rivertype.ErrNotFound. Domain
// packages turn ErrNotFound into their own sentinels (ErrUploadNotFound,
// ErrRunNotFound) and never import pgx for errors.
package store

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/upstream-rcm/upstream/internal/db"
)

// ErrNotFound is returned by a query that expected a row and found none.
var ErrNotFound = errors.New("not found")

// New returns the queries over conn, with ErrNotFound for a missing row.
func New(conn db.DBTX) *db.Queries { return db.New(notFound{conn}) }

// Interpret maps pgx.ErrNoRows to ErrNotFound, for a QueryRow a package
// runs itself.
func Interpret(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// notFound is a DBTX whose single-row queries report ErrNotFound.
type notFound struct{ db.DBTX }

func (n notFound) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return row{n.DBTX.QueryRow(ctx, sql, args...)}
}

type row struct{ pgx.Row }

func (r row) Scan(dest ...any) error { return Interpret(r.Row.Scan(dest...)) }
