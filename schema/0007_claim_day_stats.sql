-- +goose Up
-- Sufficient statistics of the drift computation: PAID/DENIED claims, and
-- how many of them were denied, per (customer, day submitted, payer, CPT
-- group, days to decision). Maintained in each upload's transaction, so
-- denial rates and exact medians come from these rows instead of every
-- claim. The primary key leads with (customer_id, submitted_date) for the
-- window range scan.
CREATE TABLE claim_day_stats (
    customer_id    bigint  NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    submitted_date date    NOT NULL,
    payer          text    NOT NULL,
    cpt_group      text    NOT NULL,
    decision_days  integer NOT NULL,
    claims         bigint  NOT NULL,
    denied         bigint  NOT NULL,
    PRIMARY KEY (customer_id, submitted_date, payer, cpt_group, decision_days),
    CONSTRAINT claim_day_stats_decision_days_valid CHECK (decision_days >= 0),
    CONSTRAINT claim_day_stats_counts_valid CHECK (claims > 0 AND denied >= 0 AND denied <= claims)
);

-- Claims stored before this migration.
INSERT INTO claim_day_stats (customer_id, submitted_date, payer, cpt_group, decision_days, claims, denied)
SELECT customer_id, submitted_date, payer, cpt_group, decided_date - submitted_date, count(*), count(*) FILTER (WHERE outcome = 'DENIED')
FROM claim_records
WHERE outcome IN ('PAID', 'DENIED')
GROUP BY customer_id, submitted_date, payer, cpt_group, decided_date - submitted_date;

-- +goose Down
DROP TABLE claim_day_stats;
