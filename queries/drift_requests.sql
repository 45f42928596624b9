-- name: DriftRequestCreate :one
INSERT INTO drift_requests (customer_id, upload_id) VALUES (@customer_id, sqlc.narg(upload_id)) RETURNING *;

-- name: DriftRequestCountByCustomer :one
SELECT count(*) FROM drift_requests WHERE customer_id = @customer_id;

-- name: DriftRequestConsume :one
-- Runs under the customer's drift lock: requests visible now are reflected
-- by this computation; later ones remain and trigger a follow-up. Returns
-- how many were withdrawals (a deletion or a reclassification: no upload),
-- after which open alert episodes are re-evaluated.
WITH consumed AS (
    DELETE FROM drift_requests WHERE customer_id = @customer_id RETURNING upload_id
)
SELECT count(*) FILTER (WHERE upload_id IS NULL)::int AS withdrawals FROM consumed;

-- name: DriftRequestListCustomers :many
-- Customers with requests waiting, oldest request first, for the sweep
-- that rescues requests whose job was cancelled or discarded.
SELECT customer_id FROM drift_requests GROUP BY customer_id ORDER BY min(id) LIMIT @max_rows;
