-- name: APIKeyCreate :one
INSERT INTO api_keys (customer_id, key_sha256, key_prefix) VALUES (@customer_id, @key_sha256, @key_prefix) RETURNING *;

-- name: APIKeyGetByHash :one
SELECT * FROM api_keys WHERE key_sha256 = @key_sha256 AND revoked_at IS NULL;

-- name: APIKeyListByCustomer :many
-- A page of the customer's keys, oldest first, after id @after.
SELECT id, key_prefix, created_at, revoked_at FROM api_keys WHERE customer_id = @customer_id AND id > @after
ORDER BY id
LIMIT @max_rows;

-- name: APIKeyRevoke :execrows
UPDATE api_keys SET revoked_at = now()
WHERE customer_id = @customer_id AND key_prefix = @key_prefix AND revoked_at IS NULL;

-- name: APIKeyActiveExists :one
-- Whether the customer still has an active key with this prefix: a page
-- session opened with a key ends when the key is revoked.
SELECT EXISTS (SELECT 1 FROM api_keys WHERE customer_id = @customer_id AND key_prefix = @key_prefix AND revoked_at IS NULL);
