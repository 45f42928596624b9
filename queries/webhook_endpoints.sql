-- name: WebhookEndpointCreate :one
INSERT INTO webhook_endpoints (customer_id, url, format, min_severity, secret, repeat_after_days)
VALUES (@customer_id, @url, @format, @min_severity, @secret, sqlc.narg(repeat_after_days))
RETURNING *;

-- name: WebhookEndpointListByCustomer :many
SELECT * FROM webhook_endpoints WHERE customer_id = @customer_id ORDER BY id;

-- name: WebhookEndpointGetByID :one
SELECT * FROM webhook_endpoints WHERE customer_id = @customer_id AND id = @id;

-- name: WebhookEndpointListDeliverable :many
-- The enabled endpoints that want alerts of at least this severity.
SELECT * FROM webhook_endpoints
WHERE customer_id = @customer_id AND enabled AND min_severity <= @severity
ORDER BY id;

-- name: WebhookEndpointSetEnabled :one
UPDATE webhook_endpoints SET enabled = @enabled
WHERE customer_id = @customer_id AND id = @id
RETURNING *;

-- name: WebhookEndpointRotateSecret :one
-- The old secret keeps signing (beside the new one) until the grace period
-- ends, so receivers can switch without losing a delivery.
UPDATE webhook_endpoints
SET previous_secret = secret, previous_secret_expires_at = @previous_expires_at, secret = @secret
WHERE customer_id = @customer_id AND id = @id
RETURNING *;

-- name: WebhookEndpointDelete :execrows
-- Its deliveries and their attempts go with it (ON DELETE CASCADE).
DELETE FROM webhook_endpoints WHERE customer_id = @customer_id AND id = @id;
