-- +goose NO TRANSACTION
-- The zero-downtime pattern for constraints on large tables: build the index
-- without blocking writes, then attach it as a constraint (0005). If this
-- step fails it can leave an INVALID index behind; drop it
-- (DROP INDEX CONCURRENTLY drift_events_run_group_type_idx) and migrate again.

-- +goose Up
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS drift_events_run_group_type_idx
    ON drift_events (customer_id, report_run_id, payer, cpt_group, drift_type);

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS drift_events_run_group_type_idx;
