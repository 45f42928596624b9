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
