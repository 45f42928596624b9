-- name: CustomerCreate :one
INSERT INTO customers (name) VALUES (@name) RETURNING *;

-- name: CustomerGetByID :one
SELECT * FROM customers WHERE id = @id;

-- name: CustomerLockForDrift :one
-- FOR NO KEY UPDATE serializes drift computations per customer without
-- conflicting with the FOR KEY SHARE locks that the foreign-key checks of
-- concurrent uploads take on the same row.
SELECT * FROM customers WHERE id = @id FOR NO KEY UPDATE;

-- name: CustomerDelete :exec
-- Everything of the customer goes with it (ON DELETE CASCADE, directly or
-- through its uploads and runs).
DELETE FROM customers WHERE id = @id;

-- name: CustomerListLackingWeeklyRun :many
-- The weekly fan-out's worklist, in keyset-paginated batches; the partial
-- unique index on successful weekly runs answers the NOT EXISTS.
SELECT c.id FROM customers c
WHERE c.id > @after_id
  AND (sqlc.narg(created_before)::date IS NULL OR c.created_at < (sqlc.narg(created_before)::date)::timestamp AT TIME ZONE 'UTC')
  AND NOT EXISTS (
      SELECT 1 FROM report_runs r
      WHERE r.customer_id = c.id AND r.run_type = 'weekly' AND r.status = 'success' AND r.as_of = @as_of
        AND r.baseline_days = @baseline_days AND r.current_days = @current_days AND r.min_volume = @min_volume)
ORDER BY c.id
LIMIT @max_rows;

-- name: CustomerListWithLatestRun :many
-- A page of customers by name, after @after_name ('' for the first).
-- A customer without runs has run_id 0 (LEFT JOIN columns made non-null).
SELECT c.id, c.name,
       coalesce(r.id, 0)::bigint AS run_id, coalesce(r.run_type, '')::text AS run_type,
       coalesce(r.as_of::text, '')::text AS as_of, coalesce(r.status, '')::text AS status,
       coalesce(r.events_created, 0)::int AS events_created,
       (SELECT count(*) FROM uploads u WHERE u.customer_id = c.id)::int AS uploads
FROM customers c
LEFT JOIN LATERAL (
    SELECT * FROM report_runs r WHERE r.customer_id = c.id ORDER BY r.id DESC LIMIT 1
) r ON true
WHERE c.name > @after_name::text
ORDER BY c.name
LIMIT @max_rows;

-- name: CustomerGetByNameFold :many
-- Case-insensitive lookup; an exact match first when names differ only in
-- case.
SELECT * FROM customers WHERE lower(name) = lower(@name) ORDER BY (name = @name) DESC, id LIMIT 2;

-- name: CustomerListNames :many
SELECT name FROM customers ORDER BY name LIMIT @max_rows;

-- name: CustomerLockExclusive :one
-- FOR UPDATE conflicts with the FOR KEY SHARE of uploads' foreign-key
-- checks and with computations: a reclassification waits for both and
-- holds new ones off until it commits.
SELECT * FROM customers WHERE id = @id FOR UPDATE;

-- name: CustomerLockName :exec
-- Serializes the creators of one name in any case, until the transaction
-- ends (customers.Create).
SELECT pg_advisory_xact_lock(hashtextextended('customer-name:' || @name_folded::text, 0));

-- name: CustomerLockShared :one
-- FOR KEY SHARE, first thing in an upload or an upload's deletion: they
-- run side by side (their statistics rows are written in one lock order)
-- and beside a computation (FOR NO KEY UPDATE), but wait for a
-- reclassification (FOR UPDATE) to commit, and hold the next one off, so
-- they never read superseded mappings or subtract statistics a rebuild is
-- rewriting.
SELECT id FROM customers WHERE id = @id FOR KEY SHARE;
