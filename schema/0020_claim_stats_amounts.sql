-- +goose Up
-- Dollars in the statistics, by decision date: per (day, payer, CPT group)
-- the claims decided that day with an amount (charge_amount, else
-- allowed_amount), their summed amount in cents, and that of the denied
-- ones. An alert's dollars at stake are read from them (SPEC "Evidence and
-- alerts").
ALTER TABLE claim_stats
    ADD COLUMN decided_amount_claims bigint NOT NULL DEFAULT 0,
    ADD COLUMN decided_amount_cents bigint NOT NULL DEFAULT 0,
    ADD COLUMN decided_denied_amount_cents bigint NOT NULL DEFAULT 0,
    -- Not bounded by decided_claims: a subtraction lowers the counts one
    -- statement before the amounts.
    ADD CONSTRAINT claim_stats_amounts_valid CHECK (decided_amount_claims >= 0);

-- The amounts of a customer's counted claim rows, as claimstats_of counts
-- them (the same two sources: the counted rows of uploads [first_upload,
-- last_upload], or the versions given), decision-date basis only. Kept
-- apart from claimstats_of so that the upload path, which accumulates the
-- rest in memory, adds its amounts with one light pass.
-- +goose StatementBegin
CREATE FUNCTION claimstats_amounts_of(customer bigint, first_upload bigint, last_upload bigint,
    upload_ids bigint[] DEFAULT NULL, source_rows integer[] DEFAULT NULL)
RETURNS TABLE (day date, payer text, cpt_group text, amount_claims bigint, amount_cents bigint, denied_amount_cents bigint)
LANGUAGE plpgsql STABLE
SET enable_seqscan = off
AS $fn$
DECLARE
    source text;
BEGIN
    IF upload_ids IS NULL THEN
        source := $s$
            FROM (
                SELECT c.* FROM claim_records c
                WHERE c.customer_id = $1 AND c.upload_id BETWEEN $2 AND $3 AND c.claim_id IS NULL
                UNION ALL
                SELECT c.* FROM claim_records c
                CROSS JOIN LATERAL (
                    SELECT 1 FROM claims cl
                    WHERE cl.customer_id = c.customer_id AND cl.claim_id = c.claim_id
                      AND cl.initial_upload_id = c.upload_id AND cl.initial_source_row = c.source_row
                    LIMIT 1) AS counted
                WHERE c.customer_id = $1 AND c.upload_id BETWEEN $2 AND $3 AND c.claim_id IS NOT NULL
            ) AS c
            WHERE true$s$;
    ELSE
        source := $s$
            FROM unnest($4, $5) AS k(upload_id, source_row)
            JOIN claim_records c ON c.customer_id = $1 AND c.upload_id = k.upload_id AND c.source_row = k.source_row
            WHERE true$s$;
    END IF;
    RETURN QUERY EXECUTE format($q$
    SELECT c.decided_date, c.payer, c.cpt_group, count(*)::bigint,
           sum(round(100 * coalesce(c.charge_amount, c.allowed_amount)))::bigint,
           coalesce(sum(round(100 * coalesce(c.charge_amount, c.allowed_amount))) FILTER (WHERE c.outcome = 'DENIED'), 0)::bigint
    %s AND c.outcome IN ('PAID', 'DENIED') AND coalesce(c.charge_amount, c.allowed_amount) IS NOT NULL
    GROUP BY c.decided_date, c.payer, c.cpt_group
    $q$, source) USING customer, first_upload, last_upload, upload_ids, source_rows;
END
$fn$;
-- +goose StatementEnd

UPDATE claim_stats s SET decided_amount_claims = a.amount_claims, decided_amount_cents = a.amount_cents,
    decided_denied_amount_cents = a.denied_amount_cents
FROM (SELECT c.id AS customer_id, x.* FROM customers c, LATERAL claimstats_amounts_of(c.id, 0, 9223372036854775807) x) AS a
WHERE s.customer_id = a.customer_id AND s.day = a.day AND s.payer = a.payer AND s.cpt_group = a.cpt_group;

-- An alert's dollars at stake: for a DENIAL_RATE alert the excess denied
-- dollars in its current window, (current - baseline rate) x current
-- claims x their mean amount, with the interval from the rate's; for a
-- DECISION_TIME alert the dollars delayed, the amounts of the current
-- window's claims decided later than the baseline's median (no interval).
-- NULL without amounts.
ALTER TABLE drift_events
    ADD COLUMN dollars_at_stake double precision,
    ADD COLUMN dollars_low double precision,
    ADD COLUMN dollars_high double precision,
    ADD CONSTRAINT drift_events_dollars_of_alerts CHECK (dollars_at_stake IS NULL OR alert),
    ADD CONSTRAINT drift_events_dollars_interval CHECK ((dollars_low IS NULL) = (dollars_high IS NULL)
        AND (dollars_low IS NULL OR dollars_at_stake IS NOT NULL));

-- +goose Down
ALTER TABLE drift_events DROP COLUMN dollars_at_stake, DROP COLUMN dollars_low, DROP COLUMN dollars_high;
DROP FUNCTION claimstats_amounts_of(bigint, bigint, bigint, bigint[], integer[]);
ALTER TABLE claim_stats DROP CONSTRAINT claim_stats_amounts_valid,
    DROP COLUMN decided_amount_claims, DROP COLUMN decided_amount_cents, DROP COLUMN decided_denied_amount_cents;
