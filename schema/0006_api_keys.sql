-- +goose Up
-- API keys are shown once and stored as the SHA-256 of the key: keys are
-- 256-bit random values, so a fast hash is enough and lookups stay indexed.
CREATE TABLE api_keys (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id bigint      NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    key_sha256  bytea       NOT NULL,
    key_prefix  text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    CONSTRAINT api_keys_key_sha256_key UNIQUE (key_sha256),
    CONSTRAINT api_keys_key_sha256_length CHECK (length(key_sha256) = 32)
);

CREATE INDEX api_keys_customer_idx ON api_keys (customer_id);

-- +goose Down
DROP TABLE api_keys;
