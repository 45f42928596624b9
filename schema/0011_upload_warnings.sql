-- +goose Up
-- What an upload warned about: the first row warnings (unusual outcomes,
-- future dates) and file-level notices (no mappings, most rows in OTHER).
ALTER TABLE uploads
    ADD COLUMN warning_details jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN notices jsonb NOT NULL DEFAULT '[]';

-- +goose Down
ALTER TABLE uploads DROP COLUMN warning_details, DROP COLUMN notices;
