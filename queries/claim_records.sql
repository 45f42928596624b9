-- name: ClaimDriftAggregate :many
-- One pass over the customer's PAID/DENIED claims in both windows (an index
-- range scan on (customer_id, submitted_date)), aggregated per group.
-- percentile_cont(0.5) is the median with the two middle values averaged.
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
FROM claim_records
WHERE customer_id = @customer_id
  AND submitted_date >= @baseline_start::date
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
