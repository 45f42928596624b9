-- +goose Up
-- An alert test compares current windows of several lengths (the run's,
-- and whole weeks before it); its p-value is the smallest one's times the
-- windows tested (Bonferroni). An event's current_start is then its
-- evidence's window, which may begin before the run's.
ALTER TABLE drift_events ADD COLUMN windows_tested smallint
    CONSTRAINT drift_events_windows_tested_positive CHECK (windows_tested > 0);

-- Tests before this one compared the run's window only.
UPDATE drift_events SET windows_tested = 1 WHERE method IS NOT NULL AND method NOT LIKE '%point_null%';

-- +goose Down
ALTER TABLE drift_events DROP COLUMN windows_tested;
