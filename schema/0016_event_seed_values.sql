-- +goose Up
-- One comparison per event (SPEC "Evidence and alerts"): an alert's values
-- are its evidence's; the seed rule's own comparison is kept, exact,
-- wherever it fired. Until now an event's values were the seed rule's
-- whenever it fired, so those rows copy them.
ALTER TABLE drift_events
    ADD COLUMN seed_baseline_value double precision,
    ADD COLUMN seed_current_value double precision,
    ADD COLUMN seed_delta_value double precision,
    ADD COLUMN seed_severity double precision,
    ADD COLUMN seed_confidence double precision,
    ADD COLUMN seed_baseline_sample_size integer,
    ADD COLUMN seed_current_sample_size integer,
    -- The change the alert test's null allowed, and the dispersion it used.
    ADD COLUMN margin double precision,
    ADD COLUMN dispersion double precision;

UPDATE drift_events SET seed_baseline_value = baseline_value, seed_current_value = current_value,
    seed_delta_value = delta_value, seed_severity = severity, seed_confidence = confidence,
    seed_baseline_sample_size = baseline_sample_size, seed_current_sample_size = current_sample_size
WHERE seed_rule;

ALTER TABLE drift_events ADD CONSTRAINT drift_events_seed_values_iff_seed_rule CHECK (
    seed_rule = (seed_baseline_value IS NOT NULL AND seed_current_value IS NOT NULL AND seed_delta_value IS NOT NULL
        AND seed_severity IS NOT NULL AND seed_confidence IS NOT NULL
        AND seed_baseline_sample_size IS NOT NULL AND seed_current_sample_size IS NOT NULL));

-- An alert's baseline is the whole weeks its evidence compared, which end
-- a guard band before the current window.
ALTER TABLE drift_events DROP CONSTRAINT drift_events_windows_valid;
ALTER TABLE drift_events ADD CONSTRAINT drift_events_windows_valid
    CHECK (baseline_start < baseline_end AND baseline_end <= current_start AND current_start < current_end);

-- +goose Down
ALTER TABLE drift_events DROP CONSTRAINT drift_events_windows_valid;
ALTER TABLE drift_events ADD CONSTRAINT drift_events_windows_valid
    CHECK (baseline_start < baseline_end AND baseline_end = current_start AND current_start < current_end) NOT VALID;
ALTER TABLE drift_events DROP CONSTRAINT drift_events_seed_values_iff_seed_rule;
ALTER TABLE drift_events
    DROP COLUMN seed_baseline_value, DROP COLUMN seed_current_value, DROP COLUMN seed_delta_value,
    DROP COLUMN seed_severity, DROP COLUMN seed_confidence,
    DROP COLUMN seed_baseline_sample_size, DROP COLUMN seed_current_sample_size,
    DROP COLUMN margin, DROP COLUMN dispersion;
