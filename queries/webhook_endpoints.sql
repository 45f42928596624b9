-- name: WebhookEndpointCreate :one
-- The secret arrives sealed (webhooks.CreateEndpoint).
INSERT INTO webhook_endpoints (customer_id, url, format, min_severity, secret_key_id, secret_sealed, repeat_after_days, digest)
VALUES (@customer_id, @url, @format, @min_severity, @secret_key_id, @secret_sealed, sqlc.narg(repeat_after_days), sqlc.narg(digest))
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
-- ends, so receivers can switch without losing a delivery. A secret still
-- in plaintext (written before 0023) stays so as the previous one until
-- SealSecrets runs.
UPDATE webhook_endpoints
SET previous_secret = secret, previous_secret_key_id = secret_key_id, previous_secret_sealed = secret_sealed,
    previous_secret_expires_at = @previous_expires_at,
    secret = NULL, secret_key_id = @secret_key_id, secret_sealed = @secret_sealed
WHERE customer_id = @customer_id AND id = @id
RETURNING *;

-- name: WebhookEndpointListToSeal :many
-- Endpoints after id @after whose secrets are in plaintext or, with
-- @all_keys, sealed by another key than @key_id; locked until the
-- transaction reseals them.
SELECT * FROM webhook_endpoints
WHERE id > @after
  AND (secret IS NOT NULL OR previous_secret IS NOT NULL
       OR (@all_keys::boolean AND (secret_key_id <> @key_id::text OR previous_secret_key_id <> @key_id::text)))
ORDER BY id
LIMIT @max_rows
FOR UPDATE;

-- name: WebhookEndpointSeal :exec
-- Stores an endpoint's secrets sealed by the current key and clears any
-- plaintext.
UPDATE webhook_endpoints
SET secret = NULL, secret_key_id = @secret_key_id, secret_sealed = @secret_sealed,
    previous_secret = NULL, previous_secret_key_id = sqlc.narg(previous_secret_key_id),
    previous_secret_sealed = sqlc.narg(previous_secret_sealed)
WHERE customer_id = @customer_id AND id = @id;

-- name: WebhookEndpointDelete :execrows
-- Its deliveries and their attempts go with it (ON DELETE CASCADE).
DELETE FROM webhook_endpoints WHERE customer_id = @customer_id AND id = @id;

-- name: WebhookEndpointLease :one
-- Takes the endpoint's sending lease for job @job_id until @seconds from
-- now: free, expired, or the job's own (a retry of a killed attempt).
-- Returns whether it was taken and until when it is held. Racing takers
-- serialize on the row lock, and each reads the lease as the one before
-- it left it.
WITH cur AS (
    SELECT e.id, e.sending_job_id, e.sending_until FROM webhook_endpoints e
    WHERE e.customer_id = @customer_id AND e.id = @id
    FOR UPDATE
), took AS (
    UPDATE webhook_endpoints w
    SET sending_job_id = @job_id::bigint, sending_until = now() + make_interval(secs => @seconds::float8)
    FROM cur
    WHERE w.customer_id = @customer_id AND w.id = cur.id
      AND (cur.sending_job_id IS NULL OR cur.sending_job_id = @job_id::bigint OR cur.sending_until < now())
    RETURNING w.sending_until
)
SELECT EXISTS (SELECT 1 FROM took)::boolean AS taken,
       coalesce((SELECT sending_until FROM took), (SELECT sending_until FROM cur), now())::timestamptz AS held_until;

-- name: WebhookEndpointRelease :exec
UPDATE webhook_endpoints SET sending_job_id = NULL, sending_until = NULL
WHERE customer_id = @customer_id AND id = @id AND sending_job_id = @job_id::bigint;
