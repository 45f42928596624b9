-- name: ClaimDayStatsAddUpload :exec
-- Adds one upload's claims, read back in its transaction right after COPY
-- (they are still in shared buffers); used when an upload has too many
-- distinct keys to accumulate them in memory. Keys go in claimstats' lock
-- order.
INSERT INTO claim_day_stats AS s (customer_id, submitted_date, payer, cpt_group, decision_days, claims, denied)
SELECT c.customer_id, c.submitted_date, c.payer, c.cpt_group, c.decided_date - c.submitted_date,
       count(*), count(*) FILTER (WHERE c.outcome = 'DENIED')
FROM claim_records c
WHERE c.upload_id = @upload_id AND c.outcome IN ('PAID', 'DENIED')
GROUP BY c.customer_id, c.submitted_date, c.payer, c.cpt_group, c.decided_date - c.submitted_date
-- COLLATE "C": byte order, the order the in-memory path sorts in (Go
-- compares strings bytewise), whatever the database's collation.
ORDER BY c.customer_id, c.submitted_date, c.payer COLLATE "C", c.cpt_group COLLATE "C", c.decided_date - c.submitted_date
ON CONFLICT (customer_id, submitted_date, payer, cpt_group, decision_days)
DO UPDATE SET claims = s.claims + EXCLUDED.claims, denied = s.denied + EXCLUDED.denied;

-- name: ClaimDayStatsAggregate :many
-- Per (payer, cpt_group, window, days to decision): claims and denials, for
-- the windows' histograms (claimstats.Aggregate).
SELECT payer, cpt_group, submitted_date >= @current_start::date AS is_current, decision_days,
       sum(claims)::bigint AS claims, sum(denied)::bigint AS denied
FROM claim_day_stats
WHERE customer_id = @customer_id
  AND submitted_date >= @baseline_start::date
  AND submitted_date < @current_end::date
GROUP BY payer, cpt_group, is_current, decision_days
ORDER BY payer, cpt_group, is_current, decision_days;

-- name: ClaimDayStatsAdd :exec
-- Adds counts accumulated while an upload streamed, given in claimstats'
-- lock order.
INSERT INTO claim_day_stats AS s (customer_id, submitted_date, payer, cpt_group, decision_days, claims, denied)
SELECT @customer_id, unnest(@submitted_dates::date[]), unnest(@payers::text[]), unnest(@cpt_groups::text[]),
       unnest(@decision_days::int[]), unnest(@claims::bigint[]), unnest(@denied::bigint[])
ON CONFLICT (customer_id, submitted_date, payer, cpt_group, decision_days)
DO UPDATE SET claims = s.claims + EXCLUDED.claims, denied = s.denied + EXCLUDED.denied;
