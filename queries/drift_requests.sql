-- name: DriftRequestCreate :one
INSERT INTO drift_requests (customer_id, upload_id) VALUES (@customer_id, sqlc.narg(upload_id)) RETURNING *;

-- name: DriftRequestCountByCustomer :one
SELECT count(*) FROM drift_requests WHERE customer_id = @customer_id;
