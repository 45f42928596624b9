-- name: WebhookDeliveryCreate :one
-- At most one delivery per (run, endpoint); a second attempt to create it
-- returns no row.
INSERT INTO webhook_deliveries (customer_id, endpoint_id, report_run_id, message_id, payload)
VALUES (@customer_id, @endpoint_id, sqlc.narg(report_run_id), @message_id, @payload)
ON CONFLICT (report_run_id, endpoint_id) DO NOTHING
RETURNING id;

-- name: WebhookDeliveryGetForSend :one
SELECT d.id, d.customer_id, d.endpoint_id, d.message_id, d.payload, d.status,
       e.url, e.enabled, e.secret, e.previous_secret, e.previous_secret_expires_at
FROM webhook_deliveries d
JOIN webhook_endpoints e ON e.customer_id = d.customer_id AND e.id = d.endpoint_id
WHERE d.id = @id;

-- name: WebhookDeliveryRecordAttempt :one
UPDATE webhook_deliveries
SET attempts = attempts + 1,
    status = CASE WHEN @delivered::boolean THEN 'delivered' ELSE status END,
    delivered_at = CASE WHEN @delivered::boolean THEN now() ELSE delivered_at END
WHERE id = @id
RETURNING *;

-- name: WebhookDeliveryMarkFailed :exec
UPDATE webhook_deliveries SET status = 'failed' WHERE id = @id AND status = 'pending';

-- name: WebhookDeliveryListByEndpoint :many
SELECT * FROM webhook_deliveries
WHERE customer_id = @customer_id AND endpoint_id = @endpoint_id
ORDER BY id DESC
LIMIT @max_rows;

-- name: WebhookDeliveryCountByRun :one
SELECT count(*) FROM webhook_deliveries WHERE customer_id = @customer_id AND report_run_id = @report_run_id;

-- name: WebhookAttemptInsert :exec
INSERT INTO webhook_attempts (delivery_id, status_code, latency_ms, error, response)
VALUES (@delivery_id, sqlc.narg(status_code), @latency_ms, sqlc.narg(error), sqlc.narg(response));

-- name: WebhookAttemptListByDeliveries :many
SELECT * FROM webhook_attempts WHERE delivery_id = ANY(@delivery_ids::bigint[]) ORDER BY delivery_id, id;
