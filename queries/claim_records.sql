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
ORDER BY payer, cpt_group;
