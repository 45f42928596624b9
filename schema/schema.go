// Package schema embeds upstream's numbered SQL migrations. They are goose
// migrations: each file has an Up and a Down section, and files that must run
// outside a transaction (CREATE INDEX CONCURRENTLY) say so with
// "+goose NO TRANSACTION". sqlc reads the same files to learn the schema.
package schema

import "embed"

// Migrations holds every migration file, applied in file-name order.
//
//go:embed *.sql
var Migrations embed.FS
