-- name: ClaimDriftAggregate :many
-- The reference the statistics are tested and benchmarked against: one
-- pass over the customer's PAID/DENIED claims in both windows, aggregated
-- per group, each claim once at its initial version (earliest decided;
-- ties: the later upload, then the later row), found here by sorting every
-- version rather than through the claims table. percentile_cont(0.5) is
-- the median with the two middle values averaged.
SELECT
    payer,
    cpt_group,
    count(*) FILTER (WHERE submitted_date < @current_start::date)::int AS baseline_volume,
    count(*) FILTER (WHERE submitted_date < @current_start::date AND outcome = 'DENIED')::int AS baseline_denied,
    coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY decided_date - submitted_date)
        FILTER (WHERE submitted_date < @current_start::date), 0)::float8 AS baseline_median_days,
    count(*) FILTER (WHERE submitted_date >= @current_start::date)::int AS current_volume,
    count(*) FILTER (WHERE submitted_date >= @current_start::date AND outcome = 'DENIED')::int AS current_denied,
    coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY decided_date - submitted_date)
        FILTER (WHERE submitted_date >= @current_start::date), 0)::float8 AS current_median_days
FROM (
    SELECT DISTINCT ON (coalesce(v.claim_id, v.upload_id || ':' || v.source_row)) v.*
    FROM claim_records v WHERE v.customer_id = @customer_id
    ORDER BY coalesce(v.claim_id, v.upload_id || ':' || v.source_row), v.decided_date, v.upload_id DESC, v.source_row DESC
) AS initial
WHERE submitted_date >= @baseline_start::date
  AND submitted_date < @current_end::date
  AND outcome IN ('PAID', 'DENIED')
GROUP BY payer, cpt_group
-- Byte order, as claimstats.Aggregate sorts, whatever the database's
-- collation.
ORDER BY payer COLLATE "C", cpt_group COLLATE "C";

-- name: ClaimDistinctPayers :many
SELECT DISTINCT payer FROM claim_records WHERE customer_id = @customer_id;

-- name: ClaimDistinctCPTs :many
SELECT DISTINCT cpt FROM claim_records WHERE customer_id = @customer_id;

-- name: ClaimReclassifyPayers :execrows
-- Renames payers as the mappings now say (old -> new pairs computed by the
-- same Go code the upload path uses).
UPDATE claim_records c SET payer = m.new_payer
FROM (SELECT unnest(@old_payers::text[]) AS old_payer, unnest(@new_payers::text[]) AS new_payer) AS m
WHERE c.customer_id = @customer_id AND c.payer = m.old_payer;

-- name: ClaimReclassifyCPTGroups :execrows
UPDATE claim_records c SET cpt_group = m.cpt_group
FROM (SELECT unnest(@cpts::text[]) AS cpt, unnest(@cpt_groups::text[]) AS cpt_group) AS m
WHERE c.customer_id = @customer_id AND c.cpt = m.cpt AND c.cpt_group <> m.cpt_group;

-- name: ClaimReasonTexts :many
-- The customer's own words for denial reason codes: per code, the
-- denial_reason_text its claims carry most often (ties: the first in byte
-- order). CARC and RARC descriptions are X12's to license; the customer's
-- text is theirs. Reads the customer's rows: only for a run's alerts.
SELECT DISTINCT ON (t.code) t.code::text AS code, t.text::text AS text
FROM (
    SELECT denial_reason_code AS code, denial_reason_text AS text, count(*) AS n
    FROM claim_records
    WHERE customer_id = @customer_id AND denial_reason_code = ANY(@codes::text[]) AND coalesce(denial_reason_text, '') <> ''
    GROUP BY denial_reason_code, denial_reason_text
) AS t
ORDER BY t.code, t.n DESC, t.text COLLATE "C";
