-- name: WebhookEndpointCreate :one
INSERT INTO webhook_endpoints (customer_id, url, format, min_severity, secret, repeat_after_days, digest)
VALUES (@customer_id, @url, @format, @min_severity, @secret, sqlc.narg(repeat_after_days), sqlc.narg(digest))
RETURNING *;

-- name: WebhookEndpointListByCustomer :many
SELECT * FROM webhook_endpoints WHERE customer_id = @customer_id ORDER BY id;

-- name: WebhookEndpointGetByID :one
SELECT * FROM webhook_endpoints WHERE customer_id = @customer_id AND id = @id;

-- name: WebhookEndpointListDeliverable :many
-- The enabled endpoints that want alerts of at least this severity as
-- they happen (not in a digest).
SELECT * FROM webhook_endpoints
WHERE customer_id = @customer_id AND enabled AND min_severity <= @severity AND digest IS NULL
ORDER BY id;

-- name: WebhookEndpointListDigests :many
-- The enabled endpoints that take digests, after id @after, at most
-- @max_rows: the digest job pages through them.
SELECT e.*, c.name AS customer_name FROM webhook_endpoints e
JOIN customers c ON c.id = e.customer_id
WHERE e.digest IS NOT NULL AND e.enabled AND e.id > @after
ORDER BY e.id
LIMIT @max_rows;

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
