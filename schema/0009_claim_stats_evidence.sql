-- +goose Up
-- Sufficient statistics, one row per (customer, day, payer, CPT group),
-- replacing claim_day_stats' row per days-to-decision value (as many rows as
-- claims for a realistic customer). Each row holds two views of the day:
--   submitted_*: PAID/DENIED claims submitted that day (the seed rule's
--                windows are by submission date);
--   decided_*:   PAID/DENIED claims decided that day (the evidence compares
--                windows by decision date, which export censoring does not
--                bias: a claim decided in a window is in every export taken
--                after it).
-- *_days is a histogram of days to decision, one element per value of days:
-- days << 32 | claims, in increasing order of days (half the bytes of
-- separate elements, which the drift computation reads for every row).
CREATE TABLE claim_stats (
    customer_id      bigint   NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    day              date     NOT NULL,
    payer            text     NOT NULL,
    cpt_group        text     NOT NULL,
    submitted_claims bigint   NOT NULL,
    submitted_denied bigint   NOT NULL,
    submitted_days   bigint[] NOT NULL,
    decided_claims   bigint   NOT NULL,
    decided_denied   bigint   NOT NULL,
    decided_days     bigint[] NOT NULL,
    PRIMARY KEY (customer_id, day, payer, cpt_group),
    -- Both counts can reach 0 when an upload is deleted; such rows are
    -- deleted in the same transaction.
    CONSTRAINT claim_stats_counts_valid CHECK (submitted_denied >= 0 AND submitted_denied <= submitted_claims
        AND decided_denied >= 0 AND decided_denied <= decided_claims),
    CONSTRAINT claim_stats_histograms_one_dimension CHECK (array_ndims(submitted_days) IS DISTINCT FROM 2 AND array_ndims(decided_days) IS DISTINCT FROM 2)
);

-- Adds two histograms: the upsert of an upload's statistics into existing
-- rows. A bin past 2^32 - 1 claims would not fit its 32 bits: refused.
-- +goose StatementBegin
CREATE FUNCTION claimstats_histogram_add(a bigint[], b bigint[]) RETURNS bigint[]
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    merged bigint[];
    largest numeric;
BEGIN
    SELECT array_agg((m.days << 32) | m.claims::bigint ORDER BY m.days), max(m.claims)
    INTO merged, largest
    FROM (SELECT v >> 32 AS days, sum(v & 4294967295) AS claims FROM unnest(a || b) AS v GROUP BY 1) AS m;
    IF largest > 4294967295 THEN
        RAISE EXCEPTION 'claim statistics: more than 4294967295 claims in one histogram bin'
            USING ERRCODE = 'numeric_value_out_of_range';
    END IF;
    RETURN coalesce(merged, '{}');
END
$$;
-- +goose StatementEnd

-- Subtracts histogram b from a (an upload's claims being deleted): bins
-- that reach zero disappear, and a bin that would go negative means the
-- statistics were already wrong, so it refuses.
-- +goose StatementBegin
CREATE FUNCTION claimstats_histogram_sub(a bigint[], b bigint[]) RETURNS bigint[]
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    result bigint[];
    smallest numeric;
BEGIN
    SELECT array_agg((m.days << 32) | m.claims::bigint ORDER BY m.days) FILTER (WHERE m.claims > 0), min(m.claims)
    INTO result, smallest
    FROM (SELECT v.days, sum(v.claims * v.sign) AS claims
          FROM (SELECT x >> 32 AS days, x & 4294967295 AS claims, 1 AS sign FROM unnest(a) AS x
                UNION ALL
                SELECT x >> 32, x & 4294967295, -1 FROM unnest(b) AS x) AS v
          GROUP BY v.days) AS m;
    IF smallest < 0 THEN
        RAISE EXCEPTION 'claim statistics: subtracting more claims than a histogram bin holds'
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN coalesce(result, '{}');
END
$$;
-- +goose StatementEnd

-- Claims stored before this migration: per (day, group, days to decision)
-- on each basis, then one row per (day, group).
INSERT INTO claim_stats (customer_id, day, payer, cpt_group, submitted_claims, submitted_denied, submitted_days,
    decided_claims, decided_denied, decided_days)
WITH bins AS (
    SELECT customer_id, 0 AS basis, submitted_date AS day, payer, cpt_group, (decided_date - submitted_date)::bigint AS days,
           count(*) AS claims, count(*) FILTER (WHERE outcome = 'DENIED') AS denied
    FROM claim_records WHERE outcome IN ('PAID', 'DENIED')
    GROUP BY customer_id, submitted_date, payer, cpt_group, decided_date - submitted_date
    UNION ALL
    SELECT customer_id, 1, decided_date, payer, cpt_group, (decided_date - submitted_date)::bigint,
           count(*), count(*) FILTER (WHERE outcome = 'DENIED')
    FROM claim_records WHERE outcome IN ('PAID', 'DENIED')
    GROUP BY customer_id, decided_date, payer, cpt_group, decided_date - submitted_date
),
histograms AS (
    SELECT customer_id, basis, day, payer, cpt_group, sum(claims)::bigint AS claims, sum(denied)::bigint AS denied,
           array_agg((days << 32) | claims ORDER BY days) AS hist
    FROM bins GROUP BY customer_id, basis, day, payer, cpt_group
)
SELECT customer_id, day, payer, cpt_group,
       coalesce(s.claims, 0), coalesce(s.denied, 0), coalesce(s.hist, '{}'),
       coalesce(d.claims, 0), coalesce(d.denied, 0), coalesce(d.hist, '{}')
FROM (SELECT * FROM histograms WHERE basis = 0) s
FULL JOIN (SELECT * FROM histograms WHERE basis = 1) d USING (customer_id, day, payer, cpt_group);

DROP TABLE claim_day_stats;

-- The evidence of every event (see SPEC "Evidence and alerts"). Rows from
-- before it are seed-rule events without evidence.
ALTER TABLE drift_events
    ADD COLUMN seed_rule boolean NOT NULL DEFAULT true,
    ADD COLUMN alert boolean NOT NULL DEFAULT false,
    ADD COLUMN method text,
    ADD COLUMN p_value double precision,
    ADD COLUMN q_value double precision,
    ADD COLUMN delta_low double precision,
    ADD COLUMN delta_high double precision,
    ADD COLUMN test_baseline_value double precision,
    ADD COLUMN test_current_value double precision,
    ADD COLUMN test_baseline_size integer,
    ADD COLUMN test_current_size integer,
    ADD CONSTRAINT drift_events_flagged CHECK (seed_rule OR alert),
    ADD CONSTRAINT drift_events_p_values_valid CHECK (p_value BETWEEN 0 AND 1 AND q_value BETWEEN 0 AND 1),
    ADD CONSTRAINT drift_events_alert_has_evidence CHECK (NOT alert OR (p_value IS NOT NULL AND q_value IS NOT NULL AND method IS NOT NULL));

ALTER TABLE report_runs
    ADD COLUMN fdr double precision NOT NULL DEFAULT 0.05,
    ADD COLUMN tests_run integer,
    ADD COLUMN alerts_created integer,
    -- Groups the seed rule skipped for low volume: [{payer, cpt_group,
    -- baseline_volume, current_volume}], at most 200, and their count.
    ADD COLUMN groups_skipped integer,
    ADD COLUMN skipped_groups jsonb,
    ADD CONSTRAINT report_runs_fdr_valid CHECK (fdr > 0 AND fdr < 1);

-- +goose Down
ALTER TABLE report_runs DROP COLUMN fdr, DROP COLUMN tests_run, DROP COLUMN alerts_created,
    DROP COLUMN groups_skipped, DROP COLUMN skipped_groups;
ALTER TABLE drift_events DROP CONSTRAINT drift_events_flagged, DROP CONSTRAINT drift_events_p_values_valid,
    DROP CONSTRAINT drift_events_alert_has_evidence,
    DROP COLUMN seed_rule, DROP COLUMN alert, DROP COLUMN method, DROP COLUMN p_value, DROP COLUMN q_value,
    DROP COLUMN delta_low, DROP COLUMN delta_high, DROP COLUMN test_baseline_value, DROP COLUMN test_current_value,
    DROP COLUMN test_baseline_size, DROP COLUMN test_current_size;
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
INSERT INTO claim_day_stats (customer_id, submitted_date, payer, cpt_group, decision_days, claims, denied)
SELECT customer_id, submitted_date, payer, cpt_group, decided_date - submitted_date, count(*), count(*) FILTER (WHERE outcome = 'DENIED')
FROM claim_records WHERE outcome IN ('PAID', 'DENIED')
GROUP BY customer_id, submitted_date, payer, cpt_group, decided_date - submitted_date;
DROP FUNCTION claimstats_histogram_add(bigint[], bigint[]);
DROP FUNCTION claimstats_histogram_sub(bigint[], bigint[]);
DROP TABLE claim_stats;
