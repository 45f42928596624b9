-- +goose Up
-- What an alert's denial rate is made of, maintained like claim_stats in
-- each upload's transaction: per (customer, payer, CPT group, day decided,
-- kind, code), the PAID/DENIED claims decided that day and their denials,
--   kind 'cpt':    by CPT code within the group;
--   kind 'reason': by denial reason code ('' when the claim has none).
-- A code's denials over a window's claims is its part of the window's
-- denial rate; the parts of one kind add up to the rate, so their changes
-- add up to the alert's change (drift.Drivers).
-- The key leads with the cell because drivers are read for one alert's
-- (payer, CPT group) over a date range.
CREATE TABLE claim_drivers (
    customer_id bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    payer       text   NOT NULL,
    cpt_group   text   NOT NULL,
    day         date   NOT NULL,
    kind        text   NOT NULL,
    code        text   NOT NULL,
    claims      bigint NOT NULL,
    denied      bigint NOT NULL,
    PRIMARY KEY (customer_id, payer, cpt_group, day, kind, code),
    CONSTRAINT claim_drivers_kind_valid CHECK (kind IN ('cpt', 'reason')),
    -- Counts reach 0 only inside an upload deletion, which deletes the row.
    CONSTRAINT claim_drivers_counts_valid CHECK (denied >= 0 AND denied <= claims)
);

-- Claims stored before this migration.
INSERT INTO claim_drivers (customer_id, payer, cpt_group, day, kind, code, claims, denied)
SELECT customer_id, payer, cpt_group, decided_date, 'cpt', cpt, count(*), count(*) FILTER (WHERE outcome = 'DENIED')
FROM claim_records WHERE outcome IN ('PAID', 'DENIED')
GROUP BY customer_id, payer, cpt_group, decided_date, cpt
UNION ALL
SELECT customer_id, payer, cpt_group, decided_date, 'reason', coalesce(denial_reason_code, ''), count(*), count(*) FILTER (WHERE outcome = 'DENIED')
FROM claim_records WHERE outcome IN ('PAID', 'DENIED')
GROUP BY customer_id, payer, cpt_group, decided_date, coalesce(denial_reason_code, '');

-- The drivers of a DENIAL_RATE alert, computed in its run's transaction
-- (the statistics move on with later uploads; the alert keeps its reasons).
ALTER TABLE drift_events ADD COLUMN drivers jsonb;

-- +goose Down
ALTER TABLE drift_events DROP COLUMN drivers;
DROP TABLE claim_drivers;
