-- +goose Up
-- An endpoint may take a digest instead of a message per transition: once
-- a day or a week, the period's transitions in one message.
ALTER TABLE webhook_endpoints ADD COLUMN digest text
    CONSTRAINT webhook_endpoints_digest_valid CHECK (digest IN ('daily', 'weekly'));

-- A digest delivery is one per (endpoint, period).
ALTER TABLE webhook_deliveries
    ADD COLUMN digest_period date,
    ADD CONSTRAINT webhook_deliveries_endpoint_digest_key UNIQUE (endpoint_id, digest_period),
    ADD CONSTRAINT webhook_deliveries_digest_alone CHECK (digest_period IS NULL OR (transition_id IS NULL AND episode_id IS NULL));

-- +goose Down
ALTER TABLE webhook_deliveries DROP COLUMN digest_period;
ALTER TABLE webhook_endpoints DROP COLUMN digest;
