-- name: ClaimStatsAdd :exec
-- Adds statistics accumulated while an upload streamed, one element per
-- key, given in claimstats' lock order. Each key's histograms and code
-- counts are the slices [from, to] (1-based, inclusive; empty when from >
-- to) of the flattened arrays; its codes come as one text[] literal each
-- (slicing a text[] costs a walk from its start, so slices of a flattened
-- one would cost quadratic time).
INSERT INTO claim_stats AS s (customer_id, day, payer, cpt_group, submitted_claims, submitted_denied, submitted_days,
    decided_claims, decided_denied, decided_days, cpt_codes, cpt_counts, reason_codes, reason_counts,
    decided_amount_claims, decided_amount_cents, decided_denied_amount_cents)
SELECT @customer_id, k.day, k.payer, k.cpt_group,
       k.submitted_claims, k.submitted_denied, coalesce((@submitted_bins::bigint[])[k.submitted_from:k.submitted_to], '{}'),
       k.decided_claims, k.decided_denied, coalesce((@decided_bins::bigint[])[k.decided_from:k.decided_to], '{}'),
       k.cpt_codes::text[], coalesce((@cpt_counts::bigint[])[k.cpt_from:k.cpt_to], '{}'),
       k.reason_codes::text[], coalesce((@reason_counts::bigint[])[k.reason_from:k.reason_to], '{}'),
       k.amount_claims, k.amount_cents, k.denied_amount_cents
FROM (
    SELECT unnest(@days::date[]) AS day, unnest(@payers::text[]) AS payer, unnest(@cpt_groups::text[]) AS cpt_group,
           unnest(@submitted_claims::bigint[]) AS submitted_claims, unnest(@submitted_denied::bigint[]) AS submitted_denied,
           unnest(@submitted_from::int[]) AS submitted_from, unnest(@submitted_to::int[]) AS submitted_to,
           unnest(@decided_claims::bigint[]) AS decided_claims, unnest(@decided_denied::bigint[]) AS decided_denied,
           unnest(@decided_from::int[]) AS decided_from, unnest(@decided_to::int[]) AS decided_to,
           unnest(@cpt_codes::text[]) AS cpt_codes, unnest(@cpt_from::int[]) AS cpt_from, unnest(@cpt_to::int[]) AS cpt_to,
           unnest(@reason_codes::text[]) AS reason_codes, unnest(@reason_from::int[]) AS reason_from, unnest(@reason_to::int[]) AS reason_to,
           unnest(@decided_amount_claims::bigint[]) AS amount_claims, unnest(@decided_amount_cents::bigint[]) AS amount_cents,
           unnest(@decided_denied_amount_cents::bigint[]) AS denied_amount_cents
) AS k
ON CONFLICT (customer_id, day, payer, cpt_group) DO UPDATE SET
    submitted_claims = s.submitted_claims + EXCLUDED.submitted_claims,
    submitted_denied = s.submitted_denied + EXCLUDED.submitted_denied,
    submitted_days = claimstats_histogram_add(s.submitted_days, EXCLUDED.submitted_days),
    decided_claims = s.decided_claims + EXCLUDED.decided_claims,
    decided_denied = s.decided_denied + EXCLUDED.decided_denied,
    decided_days = claimstats_histogram_add(s.decided_days, EXCLUDED.decided_days),
    (cpt_codes, cpt_counts) = (SELECT m.codes, m.counts FROM claimstats_codes_merge(s.cpt_codes, s.cpt_counts, EXCLUDED.cpt_codes, EXCLUDED.cpt_counts, 1) AS m),
    (reason_codes, reason_counts) = (SELECT m.codes, m.counts FROM claimstats_codes_merge(s.reason_codes, s.reason_counts, EXCLUDED.reason_codes, EXCLUDED.reason_counts, 1) AS m),
    decided_amount_claims = s.decided_amount_claims + EXCLUDED.decided_amount_claims,
    decided_amount_cents = s.decided_amount_cents + EXCLUDED.decided_amount_cents,
    decided_denied_amount_cents = s.decided_denied_amount_cents + EXCLUDED.decided_denied_amount_cents;

-- name: ClaimStatsRebuildCustomer :exec
-- Rebuilds a customer's statistics from its claims (after reclassifying
-- them); the caller deleted the old rows in the same transaction.
INSERT INTO claim_stats (customer_id, day, payer, cpt_group, submitted_claims, submitted_denied, submitted_days,
    decided_claims, decided_denied, decided_days, cpt_codes, cpt_counts, reason_codes, reason_counts)
SELECT @customer_id::bigint, f.day, f.payer, f.cpt_group, f.submitted_claims, f.submitted_denied, f.submitted_days,
       f.decided_claims, f.decided_denied, f.decided_days, f.cpt_codes, f.cpt_counts, f.reason_codes, f.reason_counts
FROM claimstats_of_claims(@customer_id::bigint, 0, 9223372036854775807) AS f
ORDER BY f.day, f.payer COLLATE "C", f.cpt_group COLLATE "C";

-- name: ClaimStatsDeleteEmpty :exec
-- Rows an upload deletion emptied.
DELETE FROM claim_stats WHERE customer_id = @customer_id AND submitted_claims = 0 AND decided_claims = 0;

-- name: ClaimStatsListDays :many
-- The statistics rows of [@start, @end): an index range scan on the primary
-- key; claimstats.Aggregate sums them into windows.
SELECT day, payer, cpt_group, submitted_claims, submitted_denied, submitted_days, decided_claims, decided_denied, decided_days,
    decided_amount_claims, decided_amount_cents, decided_denied_amount_cents
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

-- name: ClaimStatsCodesOfCells :many
-- The codes of some (payer, CPT group) cells' rows in [@start, @end), to
-- explain their alerts: a range scan on the primary key.
SELECT day, payer, cpt_group, cpt_codes, cpt_counts, reason_codes, reason_counts
FROM claim_stats
WHERE customer_id = @customer_id AND day >= @start::date AND day < @end_date::date
  AND (payer, cpt_group) IN (SELECT unnest(@payers::text[]), unnest(@cpt_groups::text[]))
  AND (cardinality(cpt_codes) > 0 OR cardinality(reason_codes) > 0);

-- name: SetLocalWorkMem :exec
-- For the statistics read-back of a large upload, in its transaction only.
SELECT set_config('work_mem', '64MB', true);

-- name: ClaimStatsListCells :many
-- The customer's (payer, CPT group) cells, to resolve names people type.
SELECT DISTINCT payer, cpt_group
FROM claim_stats
WHERE customer_id = @customer_id
ORDER BY payer, cpt_group;

-- name: ClaimStatsLockKeys :exec
-- Locks, in one statement and in claimstats' lock order, every statistics
-- row a change of several statements will write, creating empty ones where
-- missing: the accumulated keys given, those of the upload's PAID/DENIED
-- rows (counted or not: a superset costs empty rows, deleted before
-- commit, where the exact set would cost a second aggregation), and those
-- of the versions given. The statements that follow then take no row lock that a
-- concurrent upload could hold first, so they cannot deadlock; emptied
-- rows are deleted before commit (ClaimStatsDeleteEmpty).
INSERT INTO claim_stats AS s (customer_id, day, payer, cpt_group, submitted_claims, submitted_denied, submitted_days,
    decided_claims, decided_denied, decided_days)
SELECT @customer_id::bigint, k.day, k.payer, k.cpt_group, 0, 0, '{}', 0, 0, '{}'
FROM (
    SELECT unnest(@days::date[]) AS day, unnest(@payers::text[]) AS payer, unnest(@cpt_groups::text[]) AS cpt_group
    UNION
    SELECT x.day, c.payer, c.cpt_group
    FROM claim_records c, LATERAL (VALUES (c.submitted_date), (c.decided_date)) AS x(day)
    WHERE c.customer_id = @customer_id::bigint AND c.upload_id = @upload_id::bigint AND c.outcome IN ('PAID', 'DENIED')
    UNION
    SELECT f.day, f.payer, f.cpt_group FROM claimstats_of(@customer_id::bigint, 0, 0, @version_upload_ids::bigint[], @version_source_rows::int[]) AS f
) AS k
ORDER BY k.day, k.payer COLLATE "C", k.cpt_group COLLATE "C"
ON CONFLICT (customer_id, day, payer, cpt_group) DO UPDATE SET submitted_claims = s.submitted_claims;

-- name: ClaimStatsAddOf :exec
-- Adds the statistics of an upload's counted rows (none when @upload_id is
-- 0) or of the
-- versions given (one of the two per call: a statement updates a row
-- once). Keys go in claimstats' lock order (COLLATE "C" is byte order, the
-- order Go sorts strings in, whatever the database's collation), so the
-- statement alone is safe beside concurrent uploads: an upload's read-back
-- when it has too many keys to hold in memory. After ClaimStatsLockKeys
-- the rows are locked already.
INSERT INTO claim_stats AS s (customer_id, day, payer, cpt_group, submitted_claims, submitted_denied, submitted_days,
    decided_claims, decided_denied, decided_days, cpt_codes, cpt_counts, reason_codes, reason_counts)
SELECT @customer_id::bigint, f.day, f.payer, f.cpt_group, f.submitted_claims, f.submitted_denied, f.submitted_days,
       f.decided_claims, f.decided_denied, f.decided_days, f.cpt_codes, f.cpt_counts, f.reason_codes, f.reason_counts
FROM (
    SELECT u.day, u.payer, u.cpt_group, u.submitted_claims, u.submitted_denied, u.submitted_days, u.decided_claims, u.decided_denied, u.decided_days, u.cpt_codes, u.cpt_counts, u.reason_codes, u.reason_counts
    FROM claimstats_of(@customer_id::bigint, @upload_id::bigint, @upload_id::bigint, NULL, NULL) AS u
    UNION ALL
    SELECT v.day, v.payer, v.cpt_group, v.submitted_claims, v.submitted_denied, v.submitted_days, v.decided_claims, v.decided_denied, v.decided_days, v.cpt_codes, v.cpt_counts, v.reason_codes, v.reason_counts
    FROM claimstats_of(@customer_id::bigint, 0, 0, @version_upload_ids::bigint[], @version_source_rows::int[]) AS v
) AS f
ORDER BY f.day, f.payer COLLATE "C", f.cpt_group COLLATE "C"
ON CONFLICT (customer_id, day, payer, cpt_group) DO UPDATE SET
    submitted_claims = s.submitted_claims + EXCLUDED.submitted_claims,
    submitted_denied = s.submitted_denied + EXCLUDED.submitted_denied,
    submitted_days = claimstats_histogram_add(s.submitted_days, EXCLUDED.submitted_days),
    decided_claims = s.decided_claims + EXCLUDED.decided_claims,
    decided_denied = s.decided_denied + EXCLUDED.decided_denied,
    decided_days = claimstats_histogram_add(s.decided_days, EXCLUDED.decided_days),
    (cpt_codes, cpt_counts) = (SELECT m.codes, m.counts FROM claimstats_codes_merge(s.cpt_codes, s.cpt_counts, EXCLUDED.cpt_codes, EXCLUDED.cpt_counts, 1) AS m),
    (reason_codes, reason_counts) = (SELECT m.codes, m.counts FROM claimstats_codes_merge(s.reason_codes, s.reason_counts, EXCLUDED.reason_codes, EXCLUDED.reason_counts, 1) AS m);

-- name: ClaimStatsSubtractOf :exec
-- Subtracts the statistics of an upload's counted rows or of the versions
-- given, as ClaimStatsAddOf adds them, in the same lock order: an upload's
-- deletion (an INSERT whose every key conflicts updates in the order
-- given, like the uploads it may race with).
INSERT INTO claim_stats AS s (customer_id, day, payer, cpt_group, submitted_claims, submitted_denied, submitted_days,
    decided_claims, decided_denied, decided_days, cpt_codes, cpt_counts, reason_codes, reason_counts)
SELECT @customer_id::bigint, f.day, f.payer, f.cpt_group, f.submitted_claims, f.submitted_denied, f.submitted_days,
       f.decided_claims, f.decided_denied, f.decided_days, f.cpt_codes, f.cpt_counts, f.reason_codes, f.reason_counts
FROM (
    SELECT u.day, u.payer, u.cpt_group, u.submitted_claims, u.submitted_denied, u.submitted_days, u.decided_claims, u.decided_denied, u.decided_days, u.cpt_codes, u.cpt_counts, u.reason_codes, u.reason_counts
    FROM claimstats_of(@customer_id::bigint, @upload_id::bigint, @upload_id::bigint, NULL, NULL) AS u
    UNION ALL
    SELECT v.day, v.payer, v.cpt_group, v.submitted_claims, v.submitted_denied, v.submitted_days, v.decided_claims, v.decided_denied, v.decided_days, v.cpt_codes, v.cpt_counts, v.reason_codes, v.reason_counts
    FROM claimstats_of(@customer_id::bigint, 0, 0, @version_upload_ids::bigint[], @version_source_rows::int[]) AS v
) AS f
ORDER BY f.day, f.payer COLLATE "C", f.cpt_group COLLATE "C"
ON CONFLICT (customer_id, day, payer, cpt_group) DO UPDATE SET
    submitted_claims = s.submitted_claims - EXCLUDED.submitted_claims,
    submitted_denied = s.submitted_denied - EXCLUDED.submitted_denied,
    submitted_days = claimstats_histogram_sub(s.submitted_days, EXCLUDED.submitted_days),
    decided_claims = s.decided_claims - EXCLUDED.decided_claims,
    decided_denied = s.decided_denied - EXCLUDED.decided_denied,
    decided_days = claimstats_histogram_sub(s.decided_days, EXCLUDED.decided_days),
    (cpt_codes, cpt_counts) = (SELECT m.codes, m.counts FROM claimstats_codes_merge(s.cpt_codes, s.cpt_counts, EXCLUDED.cpt_codes, EXCLUDED.cpt_counts, -1) AS m),
    (reason_codes, reason_counts) = (SELECT m.codes, m.counts FROM claimstats_codes_merge(s.reason_codes, s.reason_counts, EXCLUDED.reason_codes, EXCLUDED.reason_counts, -1) AS m);

-- name: ClaimStatsCellTotals :many
-- Every (payer, CPT group) of the customer, with its claims decided in
-- [@start, @end_date) and their denials (0 when none): the page's grid.
-- The busiest cells first, at most @max_rows.
SELECT payer, cpt_group,
    coalesce(sum(decided_claims) FILTER (WHERE day >= @start::date AND day < @end_date::date), 0)::bigint AS claims,
    coalesce(sum(decided_denied) FILTER (WHERE day >= @start::date AND day < @end_date::date), 0)::bigint AS denied
FROM claim_stats
WHERE customer_id = @customer_id
GROUP BY payer, cpt_group
ORDER BY claims DESC, payer COLLATE "C", cpt_group COLLATE "C"
LIMIT @max_rows;

-- name: ClaimStatsAddAmountsOf :exec
-- (The functions' columns are named again for sqlc, which cannot read a
-- plpgsql function's table.)
-- Adds (sign 1) or subtracts (sign -1) the amounts of an upload's counted
-- rows (none for upload 0) or of the versions given, right after the
-- statement that wrote the same rows' counts in this transaction: the rows
-- exist and are locked already, so this takes no lock a concurrent upload
-- could hold.
WITH p AS (SELECT @sign::bigint AS sign),
f AS (
    SELECT u.day, u.payer, u.cpt_group, u.amount_claims, u.amount_cents, u.denied_amount_cents
    FROM claimstats_amounts_of(@customer_id::bigint, @upload_id::bigint, @upload_id::bigint, NULL, NULL)
        AS u(day, payer, cpt_group, amount_claims, amount_cents, denied_amount_cents)
    WHERE @upload_id::bigint > 0
    UNION ALL
    SELECT v.day, v.payer, v.cpt_group, v.amount_claims, v.amount_cents, v.denied_amount_cents
    FROM claimstats_amounts_of(@customer_id::bigint, 0, 0, @version_upload_ids::bigint[], @version_source_rows::int[])
        AS v(day, payer, cpt_group, amount_claims, amount_cents, denied_amount_cents)
)
UPDATE claim_stats AS s SET
    decided_amount_claims = s.decided_amount_claims + p.sign * f.amount_claims,
    decided_amount_cents = s.decided_amount_cents + p.sign * f.amount_cents,
    decided_denied_amount_cents = s.decided_denied_amount_cents + p.sign * f.denied_amount_cents
FROM f, p
WHERE s.customer_id = @customer_id::bigint AND s.day = f.day AND s.payer = f.payer AND s.cpt_group = f.cpt_group;

-- name: ClaimStatsRebuildAmounts :exec
-- A customer's amounts from its claims, after ClaimStatsRebuildCustomer.
UPDATE claim_stats AS s SET decided_amount_claims = f.amount_claims, decided_amount_cents = f.amount_cents,
    decided_denied_amount_cents = f.denied_amount_cents
FROM claimstats_amounts_of(@customer_id::bigint, 0, 9223372036854775807) AS f(day, payer, cpt_group, amount_claims, amount_cents, denied_amount_cents)
WHERE s.customer_id = @customer_id::bigint AND s.day = f.day AND s.payer = f.payer AND s.cpt_group = f.cpt_group;
