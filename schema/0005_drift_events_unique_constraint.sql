-- +goose Up
-- Attaching an existing valid unique index is a catalog-only change.
ALTER TABLE drift_events
    ADD CONSTRAINT drift_events_run_group_type_key UNIQUE USING INDEX drift_events_run_group_type_idx;

-- +goose Down
ALTER TABLE drift_events DROP CONSTRAINT drift_events_run_group_type_key;
