-- +goose Up
-- Webhook signing secrets are sealed with the server key (AES-256-GCM,
-- internal/secrets): a dump or backup of the database no longer hands
-- them out. Each sealed value is stored beside the id of the key that
-- sealed it, so the server key can rotate. The plaintext columns remain
-- only for rows written before this migration: the first command that
-- opens the database with the key seals them and clears the plaintext
-- (webhooks.SealSecrets); no query writes them.
ALTER TABLE webhook_endpoints
    ADD COLUMN secret_key_id          text,
    ADD COLUMN secret_sealed          bytea,
    ADD COLUMN previous_secret_key_id text,
    ADD COLUMN previous_secret_sealed bytea,
    ALTER COLUMN secret DROP NOT NULL,
    DROP CONSTRAINT webhook_endpoints_secret_prefix,
    ADD CONSTRAINT webhook_endpoints_secret_one CHECK ((secret IS NULL) <> (secret_sealed IS NULL)),
    ADD CONSTRAINT webhook_endpoints_secret_key CHECK ((secret_sealed IS NULL) = (secret_key_id IS NULL)),
    ADD CONSTRAINT webhook_endpoints_previous_secret_key CHECK ((previous_secret_sealed IS NULL) = (previous_secret_key_id IS NULL)),
    ADD CONSTRAINT webhook_endpoints_previous_secret_one CHECK (previous_secret IS NULL OR previous_secret_sealed IS NULL),
    ADD CONSTRAINT webhook_endpoints_legacy_secret_prefix CHECK (secret IS NULL OR secret LIKE 'whsec_%');

-- +goose Down
-- Sealed secrets cannot be unsealed in SQL: going down refuses while any
-- exists (delete those endpoints, or stay up).
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM webhook_endpoints WHERE secret_sealed IS NOT NULL OR previous_secret_sealed IS NOT NULL) THEN
        RAISE EXCEPTION 'webhook secrets are sealed with the server key; cannot migrate below 0023';
    END IF;
END
$$;
-- +goose StatementEnd
ALTER TABLE webhook_endpoints
    DROP CONSTRAINT webhook_endpoints_legacy_secret_prefix,
    DROP CONSTRAINT webhook_endpoints_previous_secret_one,
    DROP CONSTRAINT webhook_endpoints_previous_secret_key,
    DROP CONSTRAINT webhook_endpoints_secret_key,
    DROP CONSTRAINT webhook_endpoints_secret_one,
    DROP COLUMN previous_secret_sealed,
    DROP COLUMN previous_secret_key_id,
    DROP COLUMN secret_sealed,
    DROP COLUMN secret_key_id,
    ALTER COLUMN secret SET NOT NULL,
    ADD CONSTRAINT webhook_endpoints_secret_prefix CHECK (secret LIKE 'whsec_%');
