-- name: APIKeyCreate :one
INSERT INTO api_keys (customer_id, key_sha256, key_prefix) VALUES (@customer_id, @key_sha256, @key_prefix) RETURNING *;

-- name: APIKeyGetByHash :one
SELECT * FROM api_keys WHERE key_sha256 = @key_sha256 AND revoked_at IS NULL;
