-- The statements of claim identity run with sequential scans off
-- (ClaimsPreferIndexScans): the versions they read were stored by the same
-- transaction, after the planner's statistics were taken. They find an
-- upload's rows with ids by coalesce(claim_id, '') <> '', not claim_id IS
-- NOT NULL: the latter lets the planner read them through
-- claim_records_claim_idx, every version of the customer, when it believes
-- those few (TestClaimIdentityQueriesLookVersionsUpByKey).

-- name: ClaimsPreferIndexScans :exec
-- For the rest of the transaction, or until reset with 'on'.
SELECT set_config('enable_seqscan', @setting::text, true);

-- name: CustomerClaimsLock :exec
-- Serializes, per customer and until commit, what decides which rows are
-- claims: resolving an upload's claim ids, withdrawing a deleted upload's,
-- and the overlap check of files without ids (two overlapping files cannot
-- both pass it). Their COPY runs side by side before it. Taken before any
-- claims or statistics row lock, so it adds no lock cycle.
SELECT pg_advisory_xact_lock(hashtextextended('customer-claims:' || @customer_id::bigint, 0));

-- name: ClaimCountOfUpload :one
SELECT count(DISTINCT claim_id)::int FROM claim_records
WHERE customer_id = @customer_id AND upload_id = @upload_id AND coalesce(claim_id, '') <> '';

-- name: ClaimInsertNewOfUpload :execrows
-- The upload's claims the customer did not have, with their initial and
-- final versions (candidates as in ClaimReviseFromUpload). Under CustomerClaimsLock no other
-- transaction inserts the customer's claims meanwhile; the primary key
-- is what would make a second copy a conflict, never a claim counted
-- twice.
INSERT INTO claims (customer_id, claim_id, initial_upload_id, initial_source_row, initial_decided, initial_outcome,
    final_upload_id, final_source_row, final_decided, final_outcome)
SELECT @customer_id::bigint, c.claim_id, @upload_id::bigint, c.initial_source_row, c.initial_decided, c.initial_outcome,
       @upload_id::bigint, c.final_source_row, c.final_decided, c.final_outcome
FROM (
    -- One row per claim id of the upload: its candidate for the claim's
    -- initial version (earliest decided; a tie goes to the later row, a
    -- correction within the file) and final version (latest decided). When
    -- the caller knows no id repeats within the upload (@ids_unique), each
    -- row is its own candidate and nothing is grouped: the branch not taken
    -- costs a one-time filter.
    SELECT r.claim_id, r.source_row AS initial_source_row, r.decided_date AS initial_decided, r.outcome AS initial_outcome,
           r.source_row AS final_source_row, r.decided_date AS final_decided, r.outcome AS final_outcome
    FROM claim_records r
    WHERE @ids_unique::boolean AND r.customer_id = @customer_id::bigint AND r.upload_id = @upload_id::bigint AND coalesce(r.claim_id, '') <> ''
    UNION ALL
    SELECT r.claim_id,
           (array_agg(r.source_row ORDER BY r.decided_date, r.source_row DESC))[1]::int,
           min(r.decided_date)::date,
           (array_agg(r.outcome ORDER BY r.decided_date, r.source_row DESC))[1]::text,
           (array_agg(r.source_row ORDER BY r.decided_date DESC, r.source_row DESC))[1]::int,
           max(r.decided_date)::date,
           (array_agg(r.outcome ORDER BY r.decided_date DESC, r.source_row DESC))[1]::text
    FROM claim_records r
    WHERE NOT @ids_unique::boolean AND r.customer_id = @customer_id::bigint AND r.upload_id = @upload_id::bigint AND coalesce(r.claim_id, '') <> ''
    GROUP BY r.claim_id
) AS c
ON CONFLICT (customer_id, claim_id) DO NOTHING;

-- name: ClaimReviseFromUpload :one
-- The upload's versions of claims the customer already had (another
-- upload's row in claims). A claim's initial version moves to the
-- upload's when that is decided earlier, or on the same day with other
-- content when no later upload than this one holds a version identical to
-- the current one (the latest upload wins: a correction); its final
-- version likewise when decided later. An identical repeat changes
-- nothing. Returns the versions no longer counted and the claims revised
-- and unchanged (identical to their initial and final versions). Each
-- candidate looks its claim and the versions it is compared with up by
-- primary key (lateral subqueries keep that shape whatever the planner's
-- statistics say of rows this transaction stored); only a tie reads the
-- claim's other versions.
WITH c AS (
    -- One row per claim id of the upload: its candidate for the claim's
    -- initial version (earliest decided; a tie goes to the later row, a
    -- correction within the file) and final version (latest decided). When
    -- the caller knows no id repeats within the upload (@ids_unique), each
    -- row is its own candidate and nothing is grouped: the branch not taken
    -- costs a one-time filter.
    SELECT r.claim_id, r.source_row AS initial_source_row, r.decided_date AS initial_decided, r.outcome AS initial_outcome,
           r.source_row AS final_source_row, r.decided_date AS final_decided, r.outcome AS final_outcome
    FROM claim_records r
    WHERE @ids_unique::boolean AND r.customer_id = @customer_id::bigint AND r.upload_id = @upload_id::bigint AND coalesce(r.claim_id, '') <> ''
    UNION ALL
    SELECT r.claim_id,
           (array_agg(r.source_row ORDER BY r.decided_date, r.source_row DESC))[1]::int,
           min(r.decided_date)::date,
           (array_agg(r.outcome ORDER BY r.decided_date, r.source_row DESC))[1]::text,
           (array_agg(r.source_row ORDER BY r.decided_date DESC, r.source_row DESC))[1]::int,
           max(r.decided_date)::date,
           (array_agg(r.outcome ORDER BY r.decided_date DESC, r.source_row DESC))[1]::text
    FROM claim_records r
    WHERE NOT @ids_unique::boolean AND r.customer_id = @customer_id::bigint AND r.upload_id = @upload_id::bigint AND coalesce(r.claim_id, '') <> ''
    GROUP BY r.claim_id
), cur AS (
    SELECT c.claim_id, cl.initial_upload_id, cl.initial_source_row,
           c.initial_source_row AS i_row, c.initial_decided AS i_decided, c.initial_outcome AS i_outcome,
           c.final_source_row AS f_row, c.final_decided AS f_decided, c.final_outcome AS f_outcome,
           cl.initial_decided AS old_i_decided, cl.final_decided AS old_f_decided,
           cl.final_upload_id, cl.final_source_row, cl.customer_id,
           coalesce(si.same, false) AS same_initial,
           coalesce(CASE WHEN c.final_source_row = c.initial_source_row AND cl.final_upload_id = cl.initial_upload_id
                          AND cl.final_source_row = cl.initial_source_row THEN si.same ELSE sf.same END, false) AS same_final
    FROM c
    CROSS JOIN LATERAL (
        SELECT x.initial_upload_id, x.initial_source_row, x.initial_decided,
               x.final_upload_id, x.final_source_row, x.final_decided, x.customer_id
        FROM claims x
        WHERE x.customer_id = @customer_id::bigint AND x.claim_id = c.claim_id AND x.initial_upload_id <> @upload_id::bigint
        LIMIT 1
    ) AS cl
    -- Whether the candidate is the same version as the one it competes
    -- with: equal in every stored field.
    LEFT JOIN LATERAL (
        SELECT claim_records_same(a, b) AS same
        FROM claim_records a, claim_records b
        WHERE a.customer_id = @customer_id::bigint AND a.upload_id = @upload_id::bigint AND a.source_row = c.initial_source_row
          AND b.customer_id = @customer_id::bigint AND b.upload_id = cl.initial_upload_id AND b.source_row = cl.initial_source_row
        -- LIMIT keeps the subquery a lookup per candidate: flattened into
        -- the join, a planner that believed the upload small scanned all
        -- of it for each claim (minutes for 300k rows).
        LIMIT 1
    ) AS si ON true
    -- The same for the final version, unless both sides' final versions
    -- are their initial ones (the common case: one comparison).
    LEFT JOIN LATERAL (
        SELECT claim_records_same(a, b) AS same
        FROM claim_records a, claim_records b
        WHERE NOT (c.final_source_row = c.initial_source_row AND cl.final_upload_id = cl.initial_upload_id
                   AND cl.final_source_row = cl.initial_source_row)
          AND a.customer_id = @customer_id::bigint AND a.upload_id = @upload_id::bigint AND a.source_row = c.final_source_row
          AND b.customer_id = @customer_id::bigint AND b.upload_id = cl.final_upload_id AND b.source_row = cl.final_source_row
        LIMIT 1
    ) AS sf ON true
), dec AS (
    SELECT u.*,
           (u.i_decided < u.old_i_decided
               OR (u.i_decided = u.old_i_decided AND NOT u.same_initial AND @upload_id::bigint > ti.latest)) AS initial_wins,
           (u.f_decided > u.old_f_decided
               OR (u.f_decided = u.old_f_decided AND NOT u.same_final AND @upload_id::bigint > tf.latest)) AS final_wins
    FROM cur u
    -- On a tie with other content, the latest other upload holding a
    -- version identical to the current one.
    LEFT JOIN LATERAL (
        SELECT coalesce(max(v.upload_id), 0) AS latest
        FROM claim_records o, claim_records v
        WHERE u.i_decided = u.old_i_decided AND NOT u.same_initial
          AND o.customer_id = @customer_id::bigint AND o.upload_id = u.initial_upload_id AND o.source_row = u.initial_source_row
          AND v.customer_id = @customer_id::bigint AND v.claim_id = u.claim_id AND v.upload_id <> @upload_id::bigint
          AND claim_records_same(v, o)
    ) AS ti ON true
    LEFT JOIN LATERAL (
        SELECT coalesce(max(v.upload_id), 0) AS latest
        FROM claim_records o, claim_records v
        WHERE u.f_decided = u.old_f_decided AND NOT u.same_final
          AND o.customer_id = @customer_id::bigint AND o.upload_id = u.final_upload_id AND o.source_row = u.final_source_row
          AND v.customer_id = @customer_id::bigint AND v.claim_id = u.claim_id AND v.upload_id <> @upload_id::bigint
          AND claim_records_same(v, o)
    ) AS tf ON true
), upd AS (
    UPDATE claims cl SET
        initial_upload_id = CASE WHEN d.initial_wins THEN @upload_id::bigint ELSE cl.initial_upload_id END,
        initial_source_row = CASE WHEN d.initial_wins THEN d.i_row ELSE cl.initial_source_row END,
        initial_decided = CASE WHEN d.initial_wins THEN d.i_decided ELSE cl.initial_decided END,
        initial_outcome = CASE WHEN d.initial_wins THEN d.i_outcome ELSE cl.initial_outcome END,
        final_upload_id = CASE WHEN d.final_wins THEN @upload_id::bigint ELSE cl.final_upload_id END,
        final_source_row = CASE WHEN d.final_wins THEN d.f_row ELSE cl.final_source_row END,
        final_decided = CASE WHEN d.final_wins THEN d.f_decided ELSE cl.final_decided END,
        final_outcome = CASE WHEN d.final_wins THEN d.f_outcome ELSE cl.final_outcome END
    FROM dec d
    -- Joined on the customer id cur carries, not the constant: with
    -- @customer_id here, a planner that believed the customer's claims
    -- few read all of them for each revised claim (26 s for the demo's
    -- second upload); the unrestricted claims table is never the cheaper
    -- outer side, so each revised claim is looked up by primary key.
    WHERE cl.customer_id = d.customer_id AND cl.claim_id = d.claim_id
      AND (d.initial_wins OR d.final_wins)
    RETURNING cl.claim_id
)
SELECT (SELECT count(*) FROM upd)::int AS claims_changed,
       count(*) FILTER (WHERE same_initial AND same_final)::int AS claims_unchanged,
       count(*) FILTER (WHERE NOT (same_initial AND same_final))::int AS claims_revised,
       coalesce(array_agg(initial_upload_id) FILTER (WHERE initial_wins), '{}')::bigint[] AS uncounted_upload_ids,
       coalesce(array_agg(initial_source_row) FILTER (WHERE initial_wins), '{}')::int[] AS uncounted_source_rows
FROM dec;

-- name: ClaimUncountedOfUpload :many
-- A page of the upload's PAID and DENIED rows with claim ids that are not
-- their claim's initial version (repeats, re-adjudications, versions that
-- lost), after source row @after: the upload accumulated every row while
-- it streamed, and takes these back out. In the primary key's order; each
-- row looks its claim up by primary key (a lateral LIMIT: as an anti-join,
-- a planner that believed the customer's claims few scanned all of them
-- for each row).
SELECT r.source_row, r.payer, r.cpt_group, r.cpt, coalesce(r.denial_reason_code, '')::text AS reason_code,
       r.submitted_date, r.decided_date, (r.outcome = 'DENIED')::bool AS denied,
       coalesce(round(100 * coalesce(r.charge_amount, r.allowed_amount)), 0)::bigint AS amount_cents,
       (coalesce(r.charge_amount, r.allowed_amount) IS NOT NULL)::bool AS has_amount
FROM claim_records r
LEFT JOIN LATERAL (
    SELECT true AS counted FROM claims cl
    WHERE cl.customer_id = @customer_id AND cl.claim_id = r.claim_id
      AND cl.initial_upload_id = r.upload_id AND cl.initial_source_row = r.source_row
    LIMIT 1
) AS k ON true
WHERE r.customer_id = @customer_id AND r.upload_id = @upload_id AND r.source_row > @after
  AND coalesce(r.claim_id, '') <> '' AND r.outcome IN ('PAID', 'DENIED') AND k.counted IS NULL
ORDER BY r.source_row
LIMIT @max_rows;

-- name: ClaimNextVersionsWithoutUpload :many
-- For the claims with versions in an upload about to be deleted (under
-- CustomerClaimsLock): their initial and final versions among the versions
-- of the other uploads (ties: the later upload, then the later row);
-- has_versions is false when none is left. Driven by the upload's claim
-- ids; each claim by its primary key and its versions through
-- claim_records' claim index (lateral subqueries keep that shape).
SELECT cl.claim_id, (cl.initial_upload_id = @upload_id::bigint)::bool AS initial_was_in_upload, (i.upload_id IS NOT NULL)::bool AS has_versions,
       coalesce(i.upload_id, 0)::bigint AS initial_upload_id, coalesce(i.source_row, 0)::int AS initial_source_row,
       coalesce(i.decided_date, '1970-01-01')::date AS initial_decided, coalesce(i.outcome, '')::text AS initial_outcome,
       coalesce(f.upload_id, 0)::bigint AS final_upload_id, coalesce(f.source_row, 0)::int AS final_source_row,
       coalesce(f.decided_date, '1970-01-01')::date AS final_decided, coalesce(f.outcome, '')::text AS final_outcome
FROM (
    SELECT r.claim_id FROM claim_records r
    WHERE r.customer_id = @customer_id AND r.upload_id = @upload_id::bigint AND coalesce(r.claim_id, '') <> ''
    GROUP BY r.claim_id
) AS ids
CROSS JOIN LATERAL (
    SELECT c.customer_id, c.claim_id, c.initial_upload_id FROM claims c
    WHERE c.customer_id = @customer_id AND c.claim_id = ids.claim_id
    LIMIT 1
) AS cl
LEFT JOIN LATERAL (
    SELECT r.upload_id, r.source_row, r.decided_date, r.outcome FROM claim_records r
    WHERE r.customer_id = cl.customer_id AND r.claim_id = cl.claim_id AND r.upload_id <> @upload_id::bigint
    ORDER BY r.decided_date, r.upload_id DESC, r.source_row DESC LIMIT 1
) AS i ON true
LEFT JOIN LATERAL (
    SELECT r.upload_id, r.source_row, r.decided_date, r.outcome FROM claim_records r
    WHERE r.customer_id = cl.customer_id AND r.claim_id = cl.claim_id AND r.upload_id <> @upload_id::bigint
    ORDER BY r.decided_date DESC, r.upload_id DESC, r.source_row DESC LIMIT 1
) AS f ON true
ORDER BY cl.claim_id COLLATE "C";

-- name: ClaimSetVersions :exec
-- Sets claims' initial and final versions (after an upload's deletion).
UPDATE claims cl SET
    initial_upload_id = v.initial_upload_id, initial_source_row = v.initial_source_row,
    initial_decided = v.initial_decided, initial_outcome = v.initial_outcome,
    final_upload_id = v.final_upload_id, final_source_row = v.final_source_row,
    final_decided = v.final_decided, final_outcome = v.final_outcome
FROM (
    SELECT unnest(@claim_ids::text[]) AS claim_id, unnest(@initial_upload_ids::bigint[]) AS initial_upload_id,
           unnest(@initial_source_rows::int[]) AS initial_source_row, unnest(@initial_decided::date[]) AS initial_decided,
           unnest(@initial_outcomes::text[]) AS initial_outcome, unnest(@final_upload_ids::bigint[]) AS final_upload_id,
           unnest(@final_source_rows::int[]) AS final_source_row, unnest(@final_decided::date[]) AS final_decided,
           unnest(@final_outcomes::text[]) AS final_outcome
) AS v
WHERE cl.customer_id = @customer_id AND cl.claim_id = v.claim_id;

-- name: ClaimDeleteMany :exec
-- Claims whose last version was deleted.
DELETE FROM claims WHERE customer_id = @customer_id AND claim_id = ANY(@claim_ids::text[]);

-- name: ClaimOverturnsOfCell :many
-- Per day of initial decision in [@start, @end_date), one cell's claims
-- initially denied and those of them finally paid (overturned on appeal).
-- Claims without ids have one version: never overturned, so not here. The
-- denied claims through claims_denied_idx, each initial version by
-- primary key.
SELECT cl.initial_decided AS day, count(*)::int AS initially_denied,
       count(*) FILTER (WHERE cl.final_outcome = 'PAID')::int AS overturned
FROM claims cl
CROSS JOIN LATERAL (
    SELECT r.payer, r.cpt_group FROM claim_records r
    WHERE r.customer_id = cl.customer_id AND r.upload_id = cl.initial_upload_id AND r.source_row = cl.initial_source_row
    LIMIT 1
) AS r
WHERE cl.customer_id = @customer_id AND cl.initial_outcome = 'DENIED'
  AND cl.initial_decided >= @start::date AND cl.initial_decided < @end_date::date
  AND r.payer = @payer AND r.cpt_group = @cpt_group
GROUP BY cl.initial_decided;

-- name: ClaimOverturnsInWindow :many
-- Per (payer, CPT group), the claims initially decided in [@start,
-- @end_date) and denied, and those of them finally paid; the cells with
-- the most overturns first, at most @max_rows. Read as ClaimOverturnsOfCell.
SELECT r.payer, r.cpt_group, count(*)::int AS initially_denied,
       count(*) FILTER (WHERE cl.final_outcome = 'PAID')::int AS overturned
FROM claims cl
CROSS JOIN LATERAL (
    SELECT r.payer, r.cpt_group FROM claim_records r
    WHERE r.customer_id = cl.customer_id AND r.upload_id = cl.initial_upload_id AND r.source_row = cl.initial_source_row
    LIMIT 1
) AS r
WHERE cl.customer_id = @customer_id AND cl.initial_outcome = 'DENIED'
  AND cl.initial_decided >= @start::date AND cl.initial_decided < @end_date::date
GROUP BY r.payer, r.cpt_group
ORDER BY overturned DESC, r.payer COLLATE "C", r.cpt_group COLLATE "C"
LIMIT @max_rows;

-- name: ClaimListOfCell :many
-- The claims behind one (payer, CPT group) in a window: the claims the
-- statistics count there (each at its initial version, decided in
-- [@start, @end_date), PAID or DENIED), with their final outcome after
-- appeals, in (decided_date, upload_id, source_row) order after the
-- cursor, at most @max_rows. Rows without an id are claims of their own.
-- claim_records is indexed by upload only (ingest speed): this reads the
-- customer's rows, which a worklist can afford and a computation could not.
SELECT r.claim_id, r.upload_id, r.source_row, r.cpt, r.submitted_date, r.decided_date, r.outcome,
       r.allowed_amount, r.charge_amount, r.denial_reason_code, r.denial_reason_text,
       coalesce(f.outcome, r.outcome)::text AS final_outcome, coalesce(f.decided_date, r.decided_date)::date AS final_decided
FROM claim_records r
LEFT JOIN LATERAL (
    -- LIMIT 1: a lookup by primary key per row, whatever the planner
    -- believes of a claims table an upload just filled.
    SELECT cl.initial_upload_id, cl.initial_source_row, cl.final_upload_id, cl.final_source_row FROM claims cl
    WHERE cl.customer_id = r.customer_id AND cl.claim_id = r.claim_id
    LIMIT 1
) AS k ON r.claim_id IS NOT NULL
LEFT JOIN claim_records f ON f.customer_id = r.customer_id AND f.upload_id = k.final_upload_id AND f.source_row = k.final_source_row
WHERE r.customer_id = @customer_id AND r.payer = @payer AND r.cpt_group = @cpt_group
  AND r.decided_date >= @start::date AND r.decided_date < @end_date::date
  AND r.outcome IN ('PAID', 'DENIED') AND (NOT @denied_only::boolean OR r.outcome = 'DENIED')
  AND (r.claim_id IS NULL OR (k.initial_upload_id = r.upload_id AND k.initial_source_row = r.source_row))
  AND (r.decided_date, r.upload_id, r.source_row) > (@after_decided::date, @after_upload::bigint, @after_row::int)
ORDER BY r.decided_date, r.upload_id, r.source_row
LIMIT @max_rows;

-- name: ClaimLateByCPTOfCell :many
-- One (payer, CPT group)'s counted claims (initial versions, as
-- ClaimListOfCell) decided in its baseline or current window, per CPT
-- code and window, with those decided more than @threshold days after
-- submission (and the amounts later than the median given): what a DECISION_TIME
-- alert's "why" and dollars are made of. Reads the
-- customer's rows (claim_records is indexed by upload): only for the
-- run's decision-time alerts.
SELECT r.cpt, (r.decided_date >= @current_start::date)::boolean AS current, count(*)::bigint AS claims,
       count(*) FILTER (WHERE r.decided_date - r.submitted_date > @threshold::float8)::bigint AS late,
       -- The dollars delayed: amounts (charge, else allowed) of the claims
       -- decided later than the baseline's median, and how many claims
       -- have an amount at all.
       count(coalesce(r.charge_amount, r.allowed_amount))::bigint AS amount_claims,
       coalesce(sum(round(100 * coalesce(r.charge_amount, r.allowed_amount)))
           FILTER (WHERE r.decided_date - r.submitted_date > @median::float8), 0)::bigint AS delayed_cents
FROM claim_records r
LEFT JOIN LATERAL (
    -- LIMIT 1: a lookup by primary key per row (see ClaimListOfCell); the
    -- computation runs right after the upload that filled claims.
    SELECT cl.initial_upload_id, cl.initial_source_row FROM claims cl
    WHERE cl.customer_id = r.customer_id AND cl.claim_id = r.claim_id
    LIMIT 1
) AS k ON r.claim_id IS NOT NULL
WHERE r.customer_id = @customer_id AND r.payer = @payer AND r.cpt_group = @cpt_group
  AND ((r.decided_date >= @baseline_start::date AND r.decided_date < @baseline_end::date)
    OR (r.decided_date >= @current_start::date AND r.decided_date < @current_end::date))
  AND r.outcome IN ('PAID', 'DENIED')
  AND (r.claim_id IS NULL OR (k.initial_upload_id = r.upload_id AND k.initial_source_row = r.source_row))
GROUP BY r.cpt, 2
ORDER BY r.cpt COLLATE "C", 2;
