-- name: ClaimDriversAdd :exec
-- Adds the drivers accumulated while an upload streamed, one element per
-- key, given in claimstats' lock order for this table.
INSERT INTO claim_drivers AS d (customer_id, payer, cpt_group, day, kind, code, claims, denied)
SELECT @customer_id, k.payer, k.cpt_group, k.day, k.kind, k.code, k.claims, k.denied
FROM (
    SELECT unnest(@payers::text[]) AS payer, unnest(@cpt_groups::text[]) AS cpt_group, unnest(@days::date[]) AS day,
           unnest(@kinds::text[]) AS kind, unnest(@codes::text[]) AS code,
           unnest(@claims::bigint[]) AS claims, unnest(@denied::bigint[]) AS denied
) AS k
ON CONFLICT (customer_id, payer, cpt_group, day, kind, code) DO UPDATE SET
    claims = d.claims + EXCLUDED.claims,
    denied = d.denied + EXCLUDED.denied;

-- name: ClaimDriversAddUpload :exec
-- Adds one upload's claims read back from its transaction (too many keys
-- to accumulate), in the same lock order: COLLATE "C" is byte order.
WITH keys AS (
    SELECT c.payer, c.cpt_group, c.decided_date AS day, 'cpt' AS kind, c.cpt AS code,
           count(*) AS claims, count(*) FILTER (WHERE c.outcome = 'DENIED') AS denied
    FROM claim_records c WHERE c.customer_id = @customer_id AND c.upload_id = @upload_id AND c.outcome IN ('PAID', 'DENIED')
    GROUP BY c.payer, c.cpt_group, c.decided_date, c.cpt
    UNION ALL
    SELECT r.payer, r.cpt_group, r.decided_date, 'reason', coalesce(r.denial_reason_code, ''),
           count(*), count(*) FILTER (WHERE r.outcome = 'DENIED')
    FROM claim_records r WHERE r.customer_id = @customer_id AND r.upload_id = @upload_id AND r.outcome IN ('PAID', 'DENIED')
    GROUP BY r.payer, r.cpt_group, r.decided_date, coalesce(r.denial_reason_code, '')
)
INSERT INTO claim_drivers AS d (customer_id, payer, cpt_group, day, kind, code, claims, denied)
SELECT @customer_id::bigint, keys.payer, keys.cpt_group, keys.day, keys.kind, keys.code, keys.claims, keys.denied
FROM keys
ORDER BY keys.payer COLLATE "C", keys.cpt_group COLLATE "C", keys.day, keys.kind COLLATE "C", keys.code COLLATE "C"
ON CONFLICT (customer_id, payer, cpt_group, day, kind, code) DO UPDATE SET
    claims = d.claims + EXCLUDED.claims,
    denied = d.denied + EXCLUDED.denied;

-- name: ClaimDriversSubtractUpload :exec
-- Takes one upload's claims out before they are deleted, in the lock order
-- (every key conflicts, so the INSERT updates in the order given).
WITH keys AS (
    SELECT c.payer, c.cpt_group, c.decided_date AS day, 'cpt' AS kind, c.cpt AS code,
           count(*) AS claims, count(*) FILTER (WHERE c.outcome = 'DENIED') AS denied
    FROM claim_records c WHERE c.customer_id = @customer_id AND c.upload_id = @upload_id AND c.outcome IN ('PAID', 'DENIED')
    GROUP BY c.payer, c.cpt_group, c.decided_date, c.cpt
    UNION ALL
    SELECT r.payer, r.cpt_group, r.decided_date, 'reason', coalesce(r.denial_reason_code, ''),
           count(*), count(*) FILTER (WHERE r.outcome = 'DENIED')
    FROM claim_records r WHERE r.customer_id = @customer_id AND r.upload_id = @upload_id AND r.outcome IN ('PAID', 'DENIED')
    GROUP BY r.payer, r.cpt_group, r.decided_date, coalesce(r.denial_reason_code, '')
)
INSERT INTO claim_drivers AS d (customer_id, payer, cpt_group, day, kind, code, claims, denied)
SELECT @customer_id::bigint, keys.payer, keys.cpt_group, keys.day, keys.kind, keys.code, keys.claims, keys.denied
FROM keys
ORDER BY keys.payer COLLATE "C", keys.cpt_group COLLATE "C", keys.day, keys.kind COLLATE "C", keys.code COLLATE "C"
ON CONFLICT (customer_id, payer, cpt_group, day, kind, code) DO UPDATE SET
    claims = d.claims - EXCLUDED.claims,
    denied = d.denied - EXCLUDED.denied;

-- name: ClaimDriversDeleteEmpty :exec
-- Rows an upload deletion emptied.
DELETE FROM claim_drivers WHERE customer_id = @customer_id AND claims = 0;

-- name: ClaimDriversDeleteByCustomer :exec
DELETE FROM claim_drivers WHERE customer_id = @customer_id;

-- name: ClaimDriversRebuildCustomer :exec
-- Rebuilds a customer's drivers from its claims (after reclassifying them);
-- the caller deleted the old rows in the same transaction.
INSERT INTO claim_drivers (customer_id, payer, cpt_group, day, kind, code, claims, denied)
SELECT @customer_id::bigint, c.payer, c.cpt_group, c.decided_date, 'cpt', c.cpt, count(*), count(*) FILTER (WHERE c.outcome = 'DENIED')
FROM claim_records c WHERE c.customer_id = @customer_id AND c.outcome IN ('PAID', 'DENIED')
GROUP BY c.payer, c.cpt_group, c.decided_date, c.cpt
UNION ALL
SELECT @customer_id::bigint, r.payer, r.cpt_group, r.decided_date, 'reason', coalesce(r.denial_reason_code, ''), count(*), count(*) FILTER (WHERE r.outcome = 'DENIED')
FROM claim_records r WHERE r.customer_id = @customer_id AND r.outcome IN ('PAID', 'DENIED')
GROUP BY r.payer, r.cpt_group, r.decided_date, coalesce(r.denial_reason_code, '');

-- name: ClaimDriversWindows :many
-- One (payer, CPT group)'s drivers summed over the two decision-date
-- windows [@baseline_start, @current_start) and [@current_start, @current_end):
-- an index range scan on the primary key.
SELECT kind, code,
       coalesce(sum(claims) FILTER (WHERE day < @current_start::date), 0)::bigint AS baseline_claims,
       coalesce(sum(denied) FILTER (WHERE day < @current_start::date), 0)::bigint AS baseline_denied,
       coalesce(sum(claims) FILTER (WHERE day >= @current_start::date), 0)::bigint AS current_claims,
       coalesce(sum(denied) FILTER (WHERE day >= @current_start::date), 0)::bigint AS current_denied
FROM claim_drivers
WHERE customer_id = @customer_id AND payer = @payer AND cpt_group = @cpt_group
  AND day >= @baseline_start::date AND day < @current_end::date
GROUP BY kind, code
ORDER BY kind, code;
