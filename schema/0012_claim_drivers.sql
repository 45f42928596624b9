-- +goose Up
-- What an alert's denial rate is made of, kept in claim_stats' rows on the
-- decision-date basis (the row's day is the day the claims were decided):
-- the PAID/DENIED claims decided that day by CPT code and by denial reason
-- code ('' when a claim has none). Each pair of arrays is aligned and
-- sorted by code bytewise; a count packs claims << 32 | denied. A code's
-- denials over a window's claims is its part of the window's denial rate;
-- the parts of one kind add up to the rate, so their changes add up to the
-- alert's change (drift.Explain). Arrays in the existing rows, rather than
-- rows of their own, keep an upload's statistics at one row per (day,
-- payer, CPT group).
ALTER TABLE claim_stats
    ADD COLUMN cpt_codes     text[]   NOT NULL DEFAULT '{}',
    ADD COLUMN cpt_counts    bigint[] NOT NULL DEFAULT '{}',
    ADD COLUMN reason_codes  text[]   NOT NULL DEFAULT '{}',
    ADD COLUMN reason_counts bigint[] NOT NULL DEFAULT '{}',
    ADD CONSTRAINT claim_stats_codes_aligned
        CHECK (cardinality(cpt_codes) = cardinality(cpt_counts) AND cardinality(reason_codes) = cardinality(reason_counts));

CREATE TYPE claimstats_codes AS (codes text[], counts bigint[]);

-- Adds (sign 1) or subtracts (sign -1) the code counts b to a. Codes that
-- reach zero claims disappear; a count that would go negative means the
-- statistics were already wrong, so it refuses, as does a count too large
-- to pack.
-- +goose StatementBegin
CREATE FUNCTION claimstats_codes_merge(a_codes text[], a_counts bigint[], b_codes text[], b_counts bigint[], sign integer)
RETURNS claimstats_codes LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    merged claimstats_codes;
    smallest numeric;
    largest numeric;
BEGIN
    SELECT coalesce(array_agg(m.code ORDER BY m.code COLLATE "C") FILTER (WHERE m.claims <> 0), '{}'),
           coalesce(array_agg((m.claims::bigint << 32) | m.denied::bigint ORDER BY m.code COLLATE "C") FILTER (WHERE m.claims <> 0), '{}'),
           min(least(m.claims, m.denied)), max(greatest(m.claims, m.denied))
    INTO merged.codes, merged.counts, smallest, largest
    FROM (SELECT v.code, sum(v.claims) AS claims, sum(v.denied) AS denied
          FROM (SELECT x.code, x.n >> 32 AS claims, x.n & 4294967295 AS denied FROM unnest(a_codes, a_counts) AS x(code, n)
                UNION ALL
                SELECT y.code, sign * (y.n >> 32), sign * (y.n & 4294967295) FROM unnest(b_codes, b_counts) AS y(code, n)) AS v
          GROUP BY v.code) AS m;
    IF smallest < 0 THEN
        RAISE EXCEPTION 'claim statistics: subtracting more claims than a code holds'
            USING ERRCODE = 'check_violation';
    END IF;
    IF largest > 2147483647 THEN
        RAISE EXCEPTION 'claim statistics: more than 2147483647 claims under one code in one day'
            USING ERRCODE = 'numeric_value_out_of_range';
    END IF;
    RETURN merged;
END
$$;
-- +goose StatementEnd

-- The statistics of a customer's stored claims, of the uploads with ids in
-- [first_upload, last_upload] (one upload, or all): one row per (day, payer,
-- CPT group), as an upload would add them. The one definition behind an
-- upload's read-back, an upload's deletion and a customer's rebuild; the
-- upload id range keeps to claim_records' primary key.
-- +goose StatementBegin
CREATE FUNCTION claimstats_of_claims(customer bigint, first_upload bigint, last_upload bigint)
RETURNS TABLE (day date, payer text, cpt_group text,
    submitted_claims bigint, submitted_denied bigint, submitted_days bigint[],
    decided_claims bigint, decided_denied bigint, decided_days bigint[],
    cpt_codes text[], cpt_counts bigint[], reason_codes text[], reason_counts bigint[])
LANGUAGE sql STABLE AS $$
    WITH claims AS (
        SELECT c.payer, c.cpt_group, c.cpt, coalesce(c.denial_reason_code, '') AS reason,
               c.submitted_date, c.decided_date, (c.decided_date - c.submitted_date)::bigint AS days,
               (c.outcome = 'DENIED')::int AS denied
        FROM claim_records c
        WHERE c.customer_id = customer AND c.upload_id BETWEEN first_upload AND last_upload AND c.outcome IN ('PAID', 'DENIED')
    ),
    bins AS (
        SELECT 0 AS basis, submitted_date AS day, payer, cpt_group, days, count(*) AS claims, sum(denied) AS denied
        FROM claims GROUP BY submitted_date, payer, cpt_group, days
        UNION ALL
        SELECT 1, decided_date, payer, cpt_group, days, count(*), sum(denied)
        FROM claims GROUP BY decided_date, payer, cpt_group, days
    ),
    codes AS (
        SELECT 2 AS kind, decided_date AS day, payer, cpt_group, cpt AS code, count(*) AS claims, sum(denied) AS denied
        FROM claims GROUP BY decided_date, payer, cpt_group, cpt
        UNION ALL
        SELECT 3, decided_date, payer, cpt_group, reason, count(*), sum(denied)
        FROM claims GROUP BY decided_date, payer, cpt_group, reason
    ),
    -- One row per (part, day, payer, CPT group): part 0 and 1 are the
    -- histograms by submission and by decision date, 2 and 3 the codes.
    parts AS (
        SELECT b.basis AS part, b.day, b.payer, b.cpt_group, sum(b.claims)::bigint AS claims, sum(b.denied)::bigint AS denied,
               array_agg((b.days << 32) | b.claims ORDER BY b.days) AS hist, NULL::text[] AS codes
        FROM bins b GROUP BY b.basis, b.day, b.payer, b.cpt_group
        UNION ALL
        SELECT c.kind, c.day, c.payer, c.cpt_group, 0, 0,
               array_agg((c.claims << 32) | c.denied ORDER BY c.code COLLATE "C"), array_agg(c.code ORDER BY c.code COLLATE "C")
        FROM codes c GROUP BY c.kind, c.day, c.payer, c.cpt_group
    )
    -- Pivoted in one aggregation, not joined: each filter sees one row.
    SELECT p.day, p.payer, p.cpt_group,
           coalesce(sum(p.claims) FILTER (WHERE p.part = 0), 0)::bigint, coalesce(sum(p.denied) FILTER (WHERE p.part = 0), 0)::bigint,
           coalesce(max(p.hist) FILTER (WHERE p.part = 0), '{}'),
           coalesce(sum(p.claims) FILTER (WHERE p.part = 1), 0)::bigint, coalesce(sum(p.denied) FILTER (WHERE p.part = 1), 0)::bigint,
           coalesce(max(p.hist) FILTER (WHERE p.part = 1), '{}'),
           coalesce(max(p.codes) FILTER (WHERE p.part = 2), '{}'), coalesce(max(p.hist) FILTER (WHERE p.part = 2), '{}'),
           coalesce(max(p.codes) FILTER (WHERE p.part = 3), '{}'), coalesce(max(p.hist) FILTER (WHERE p.part = 3), '{}')
    FROM parts p
    GROUP BY p.day, p.payer, p.cpt_group
$$;
-- +goose StatementEnd

-- Claims stored before this migration: their codes, into the rows 0009 built.
-- Materialized, so each customer's claims are read once, not per row.
WITH f AS MATERIALIZED (
    SELECT c.id AS customer_id, x.* FROM customers c, LATERAL claimstats_of_claims(c.id, 0, 9223372036854775807) x
)
UPDATE claim_stats s SET cpt_codes = f.cpt_codes, cpt_counts = f.cpt_counts, reason_codes = f.reason_codes, reason_counts = f.reason_counts
FROM f
WHERE s.customer_id = f.customer_id AND (s.day, s.payer, s.cpt_group) = (f.day, f.payer, f.cpt_group);

-- The drivers of a DENIAL_RATE alert, computed in its run's transaction
-- (the statistics move on with later uploads; the alert keeps its reasons).
ALTER TABLE drift_events ADD COLUMN drivers jsonb;

-- +goose Down
ALTER TABLE drift_events DROP COLUMN drivers;
DROP FUNCTION claimstats_of_claims(bigint, bigint, bigint);
DROP FUNCTION claimstats_codes_merge(text[], bigint[], text[], bigint[], integer);
DROP TYPE claimstats_codes;
ALTER TABLE claim_stats DROP CONSTRAINT claim_stats_codes_aligned,
    DROP COLUMN cpt_codes, DROP COLUMN cpt_counts, DROP COLUMN reason_codes, DROP COLUMN reason_counts;
