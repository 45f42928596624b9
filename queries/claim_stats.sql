-- name: ClaimStatsAdd :exec
-- Adds statistics accumulated while an upload streamed, one element per
-- key, given in claimstats' lock order. Each key's histograms are the
-- slices [from, to] (1-based, inclusive; empty when from > to) of the
-- flattened bin arrays.
INSERT INTO claim_stats AS s (customer_id, day, payer, cpt_group, submitted_claims, submitted_denied, submitted_days,
    decided_claims, decided_denied, decided_days)
SELECT @customer_id, k.day, k.payer, k.cpt_group,
       k.submitted_claims, k.submitted_denied, coalesce((@submitted_bins::bigint[])[k.submitted_from:k.submitted_to], '{}'),
       k.decided_claims, k.decided_denied, coalesce((@decided_bins::bigint[])[k.decided_from:k.decided_to], '{}')
FROM (
    SELECT unnest(@days::date[]) AS day, unnest(@payers::text[]) AS payer, unnest(@cpt_groups::text[]) AS cpt_group,
           unnest(@submitted_claims::bigint[]) AS submitted_claims, unnest(@submitted_denied::bigint[]) AS submitted_denied,
           unnest(@submitted_from::int[]) AS submitted_from, unnest(@submitted_to::int[]) AS submitted_to,
           unnest(@decided_claims::bigint[]) AS decided_claims, unnest(@decided_denied::bigint[]) AS decided_denied,
           unnest(@decided_from::int[]) AS decided_from, unnest(@decided_to::int[]) AS decided_to
) AS k
ON CONFLICT (customer_id, day, payer, cpt_group) DO UPDATE SET
    submitted_claims = s.submitted_claims + EXCLUDED.submitted_claims,
    submitted_denied = s.submitted_denied + EXCLUDED.submitted_denied,
    submitted_days = claimstats_histogram_add(s.submitted_days, EXCLUDED.submitted_days),
    decided_claims = s.decided_claims + EXCLUDED.decided_claims,
    decided_denied = s.decided_denied + EXCLUDED.decided_denied,
    decided_days = claimstats_histogram_add(s.decided_days, EXCLUDED.decided_days);

-- name: ClaimStatsAddUpload :exec
-- Adds one upload's claims, read back in its transaction right after COPY
-- (they are still in shared buffers); used when an upload has too many
-- distinct keys to accumulate them in memory. Keys go in claimstats' lock
-- order: COLLATE "C" is byte order, the order Go sorts strings in, whatever
-- the database's collation.
WITH bins AS (
    SELECT 0 AS basis, c.submitted_date AS day, c.payer, c.cpt_group, (c.decided_date - c.submitted_date)::bigint AS days,
           count(*) AS claims, count(*) FILTER (WHERE c.outcome = 'DENIED') AS denied
    FROM claim_records c WHERE c.customer_id = @customer_id AND c.upload_id = @upload_id AND c.outcome IN ('PAID', 'DENIED')
    GROUP BY c.submitted_date, c.payer, c.cpt_group, c.decided_date - c.submitted_date
    UNION ALL
    SELECT 1, r.decided_date, r.payer, r.cpt_group, (r.decided_date - r.submitted_date)::bigint,
           count(*), count(*) FILTER (WHERE r.outcome = 'DENIED')
    FROM claim_records r WHERE r.customer_id = @customer_id AND r.upload_id = @upload_id AND r.outcome IN ('PAID', 'DENIED')
    GROUP BY r.decided_date, r.payer, r.cpt_group, r.decided_date - r.submitted_date
),
histograms AS (
    SELECT basis, day, payer, cpt_group, sum(claims)::bigint AS claims, sum(denied)::bigint AS denied,
           array_agg((days << 32) | claims ORDER BY days) AS hist
    FROM bins GROUP BY basis, day, payer, cpt_group
)
INSERT INTO claim_stats AS s (customer_id, day, payer, cpt_group, submitted_claims, submitted_denied, submitted_days,
    decided_claims, decided_denied, decided_days)
SELECT @customer_id::bigint, day, payer, cpt_group,
       coalesce(sb.claims, 0), coalesce(sb.denied, 0), coalesce(sb.hist, '{}'),
       coalesce(db.claims, 0), coalesce(db.denied, 0), coalesce(db.hist, '{}')
FROM (SELECT * FROM histograms WHERE basis = 0) AS sb
FULL JOIN (SELECT * FROM histograms WHERE basis = 1) AS db USING (day, payer, cpt_group)
ORDER BY day, payer COLLATE "C", cpt_group COLLATE "C"
ON CONFLICT (customer_id, day, payer, cpt_group) DO UPDATE SET
    submitted_claims = s.submitted_claims + EXCLUDED.submitted_claims,
    submitted_denied = s.submitted_denied + EXCLUDED.submitted_denied,
    submitted_days = claimstats_histogram_add(s.submitted_days, EXCLUDED.submitted_days),
    decided_claims = s.decided_claims + EXCLUDED.decided_claims,
    decided_denied = s.decided_denied + EXCLUDED.decided_denied,
    decided_days = claimstats_histogram_add(s.decided_days, EXCLUDED.decided_days);

-- name: ClaimStatsRebuildCustomer :exec
-- Rebuilds a customer's statistics from its claims (after reclassifying
-- them); the caller deleted the old rows in the same transaction.
WITH bins AS (
    SELECT 0 AS basis, c.submitted_date AS day, c.payer, c.cpt_group, (c.decided_date - c.submitted_date)::bigint AS days,
           count(*) AS claims, count(*) FILTER (WHERE c.outcome = 'DENIED') AS denied
    FROM claim_records c WHERE c.customer_id = @customer_id AND c.outcome IN ('PAID', 'DENIED')
    GROUP BY c.submitted_date, c.payer, c.cpt_group, c.decided_date - c.submitted_date
    UNION ALL
    SELECT 1, r.decided_date, r.payer, r.cpt_group, (r.decided_date - r.submitted_date)::bigint,
           count(*), count(*) FILTER (WHERE r.outcome = 'DENIED')
    FROM claim_records r WHERE r.customer_id = @customer_id AND r.outcome IN ('PAID', 'DENIED')
    GROUP BY r.decided_date, r.payer, r.cpt_group, r.decided_date - r.submitted_date
),
histograms AS (
    SELECT basis, day, payer, cpt_group, sum(claims)::bigint AS claims, sum(denied)::bigint AS denied,
           array_agg((days << 32) | claims ORDER BY days) AS hist
    FROM bins GROUP BY basis, day, payer, cpt_group
)
INSERT INTO claim_stats AS s (customer_id, day, payer, cpt_group, submitted_claims, submitted_denied, submitted_days,
    decided_claims, decided_denied, decided_days)
SELECT @customer_id::bigint, day, payer, cpt_group,
       coalesce(sb.claims, 0), coalesce(sb.denied, 0), coalesce(sb.hist, '{}'),
       coalesce(db.claims, 0), coalesce(db.denied, 0), coalesce(db.hist, '{}')
FROM (SELECT * FROM histograms WHERE basis = 0) AS sb
FULL JOIN (SELECT * FROM histograms WHERE basis = 1) AS db USING (day, payer, cpt_group)
ORDER BY day, payer COLLATE "C", cpt_group COLLATE "C"
ON CONFLICT (customer_id, day, payer, cpt_group) DO UPDATE SET
    submitted_claims = s.submitted_claims + EXCLUDED.submitted_claims,
    submitted_denied = s.submitted_denied + EXCLUDED.submitted_denied,
    submitted_days = claimstats_histogram_add(s.submitted_days, EXCLUDED.submitted_days),
    decided_claims = s.decided_claims + EXCLUDED.decided_claims,
    decided_denied = s.decided_denied + EXCLUDED.decided_denied,
    decided_days = claimstats_histogram_add(s.decided_days, EXCLUDED.decided_days);

-- name: ClaimStatsSubtractUpload :exec
-- Takes one upload's claims out of the statistics before they are deleted,
-- in the upload path's lock order (an INSERT whose every key conflicts, so
-- it updates in the order given, like the uploads it may race with).
WITH bins AS (
    SELECT 0 AS basis, c.submitted_date AS day, c.payer, c.cpt_group, (c.decided_date - c.submitted_date)::bigint AS days,
           count(*) AS claims, count(*) FILTER (WHERE c.outcome = 'DENIED') AS denied
    FROM claim_records c WHERE c.customer_id = @customer_id AND c.upload_id = @upload_id AND c.outcome IN ('PAID', 'DENIED')
    GROUP BY c.submitted_date, c.payer, c.cpt_group, c.decided_date - c.submitted_date
    UNION ALL
    SELECT 1, r.decided_date, r.payer, r.cpt_group, (r.decided_date - r.submitted_date)::bigint,
           count(*), count(*) FILTER (WHERE r.outcome = 'DENIED')
    FROM claim_records r WHERE r.customer_id = @customer_id AND r.upload_id = @upload_id AND r.outcome IN ('PAID', 'DENIED')
    GROUP BY r.decided_date, r.payer, r.cpt_group, r.decided_date - r.submitted_date
),
histograms AS (
    SELECT basis, day, payer, cpt_group, sum(claims)::bigint AS claims, sum(denied)::bigint AS denied,
           array_agg((days << 32) | claims ORDER BY days) AS hist
    FROM bins GROUP BY basis, day, payer, cpt_group
)
INSERT INTO claim_stats AS s (customer_id, day, payer, cpt_group, submitted_claims, submitted_denied, submitted_days,
    decided_claims, decided_denied, decided_days)
SELECT @customer_id::bigint, day, payer, cpt_group,
       coalesce(sb.claims, 0), coalesce(sb.denied, 0), coalesce(sb.hist, '{}'),
       coalesce(db.claims, 0), coalesce(db.denied, 0), coalesce(db.hist, '{}')
FROM (SELECT * FROM histograms WHERE basis = 0) AS sb
FULL JOIN (SELECT * FROM histograms WHERE basis = 1) AS db USING (day, payer, cpt_group)
ORDER BY day, payer COLLATE "C", cpt_group COLLATE "C"
ON CONFLICT (customer_id, day, payer, cpt_group) DO UPDATE SET
    submitted_claims = s.submitted_claims - EXCLUDED.submitted_claims,
    submitted_denied = s.submitted_denied - EXCLUDED.submitted_denied,
    submitted_days = claimstats_histogram_sub(s.submitted_days, EXCLUDED.submitted_days),
    decided_claims = s.decided_claims - EXCLUDED.decided_claims,
    decided_denied = s.decided_denied - EXCLUDED.decided_denied,
    decided_days = claimstats_histogram_sub(s.decided_days, EXCLUDED.decided_days);

-- name: ClaimStatsDeleteEmpty :exec
-- Rows an upload deletion emptied.
DELETE FROM claim_stats WHERE customer_id = @customer_id AND submitted_claims = 0 AND decided_claims = 0;

-- name: ClaimStatsListDays :many
-- The statistics rows of [@start, @end): an index range scan on the primary
-- key; claimstats.Aggregate sums them into windows.
SELECT day, payer, cpt_group, submitted_claims, submitted_denied, submitted_days, decided_claims, decided_denied, decided_days
FROM claim_stats
WHERE customer_id = @customer_id AND day >= @start::date AND day < @end_date::date;

-- name: ClaimStatsDeleteByCustomer :exec
DELETE FROM claim_stats WHERE customer_id = @customer_id;

-- name: ClaimStatsListCellDays :many
-- One (payer, CPT group)'s rows of [@start, @end), for its weekly trend.
SELECT day, decided_claims, decided_denied, decided_days
FROM claim_stats
WHERE customer_id = @customer_id AND day >= @start::date AND day < @end_date::date
  AND payer = @payer AND cpt_group = @cpt_group
ORDER BY day;
