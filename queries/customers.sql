-- name: CustomerCreate :one
INSERT INTO customers (name) VALUES (@name) RETURNING *;

-- name: CustomerGetByName :one
SELECT * FROM customers WHERE name = @name;

-- name: CustomerGetByID :one
SELECT * FROM customers WHERE id = @id;

-- name: CustomerList :many
SELECT * FROM customers ORDER BY name;

-- name: CustomerLockForDrift :one
-- FOR NO KEY UPDATE serializes drift computations per customer without
-- conflicting with the FOR KEY SHARE locks that the foreign-key checks of
-- concurrent uploads take on the same row.
SELECT * FROM customers WHERE id = @id FOR NO KEY UPDATE;

-- name: CustomerDeleteDriftEvents :exec
DELETE FROM drift_events WHERE customer_id = @customer_id;

-- name: CustomerDeleteReportRuns :exec
DELETE FROM report_runs WHERE customer_id = @customer_id;

-- name: CustomerDeleteDriftRequests :exec
DELETE FROM drift_requests WHERE customer_id = @customer_id;

-- name: CustomerDeleteUploads :exec
-- Claims go with their uploads (ON DELETE CASCADE).
DELETE FROM uploads WHERE customer_id = @customer_id;

-- name: CustomerDelete :exec
-- Mappings go with the customer (ON DELETE CASCADE).
DELETE FROM customers WHERE id = @id;

-- name: CustomerListLackingWeeklyRun :many
-- The weekly fan-out's worklist, in keyset-paginated batches; the partial
-- unique index on successful weekly runs answers the NOT EXISTS.
SELECT c.id FROM customers c
WHERE c.id > @after_id
  AND NOT EXISTS (
      SELECT 1 FROM report_runs r
      WHERE r.customer_id = c.id AND r.run_type = 'weekly' AND r.status = 'success' AND r.as_of = @as_of
        AND r.baseline_days = @baseline_days AND r.current_days = @current_days AND r.min_volume = @min_volume)
ORDER BY c.id
LIMIT @max_rows;
