-- The statements of claim identity run with sequential scans off
-- (ClaimsPreferIndexScans): the versions they read were stored by the same
-- transaction, after the planner's statistics were taken.

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

-- name: ClaimLockOfUpload :execrows
-- Locks, in claim id order, the customer's claims with versions in the
-- upload (an upload revising them, or a deletion withdrawing them). The
-- statements that follow, each with a snapshot taken after the locks were
-- granted, see every committed version of these claims. Driven by the
-- upload's sorted ids, each claim by its primary key (a lateral subquery
-- keeps that shape whatever the statistics say), so locks come in order.
SELECT cl.claim_id
FROM (
    SELECT r.claim_id FROM claim_records r
    WHERE r.customer_id = @customer_id AND r.upload_id = @upload_id AND r.claim_id IS NOT NULL
    GROUP BY r.claim_id
    ORDER BY r.claim_id COLLATE "C"
) AS ids
CROSS JOIN LATERAL (
    SELECT c.claim_id FROM claims c WHERE c.customer_id = @customer_id AND c.claim_id = ids.claim_id FOR UPDATE
) AS cl;

-- name: ClaimCountOfUpload :one
SELECT count(DISTINCT claim_id)::int FROM claim_records
WHERE customer_id = @customer_id AND upload_id = @upload_id AND claim_id IS NOT NULL;

-- name: ClaimInsertNewOfUpload :execrows
-- The upload's claims the customer did not have, with their initial and
-- final versions. In claim id order (bytewise), so two
-- uploads inserting the same new claims wait for each other in one order;
-- the primary key makes the second one's insert a conflict, never a second
-- copy.
INSERT INTO claims (customer_id, claim_id, initial_upload_id, initial_source_row, initial_decided, initial_outcome, initial_rank_upload_id,
    final_upload_id, final_source_row, final_decided, final_outcome, final_rank_upload_id)
SELECT @customer_id, c.claim_id, @upload_id, c.initial_source_row, c.initial_decided, c.initial_outcome, @upload_id,
       @upload_id, c.final_source_row, c.final_decided, c.final_outcome, @upload_id
FROM (
    -- One row per claim id: the upload's candidates for its initial version
    -- (earliest decided; a tie goes to the later row, a correction within
    -- the file) and final version (latest decided), in one grouping pass.
    SELECT r.claim_id,
           (array_agg(r.source_row ORDER BY r.decided_date, r.source_row DESC))[1]::int AS initial_source_row,
           min(r.decided_date)::date AS initial_decided,
           (array_agg(r.outcome ORDER BY r.decided_date, r.source_row DESC))[1]::text AS initial_outcome,
           (array_agg(r.source_row ORDER BY r.decided_date DESC, r.source_row DESC))[1]::int AS final_source_row,
           max(r.decided_date)::date AS final_decided,
           (array_agg(r.outcome ORDER BY r.decided_date DESC, r.source_row DESC))[1]::text AS final_outcome
    FROM claim_records r
    WHERE r.customer_id = @customer_id AND r.upload_id = @upload_id AND r.claim_id IS NOT NULL
    GROUP BY r.claim_id
) AS c
ORDER BY c.claim_id COLLATE "C"
ON CONFLICT (customer_id, claim_id) DO NOTHING;

-- name: ClaimReviseFromUpload :one
-- The upload's versions of claims the customer already had (another
-- upload's row in claims; locked by ClaimLockOfUpload). A claim's initial
-- version moves to the upload's when that is decided earlier, or on the
-- same day with other content from a later upload than the latest holding
-- the current one (a correction); its final version likewise when decided
-- later. An identical version from a later upload only becomes the rank a
-- tie is decided against. Returns the versions no longer counted and the
-- claims revised and unchanged (identical to their initial and final
-- versions).
WITH dec AS (
    SELECT c.claim_id, cl.initial_upload_id AS old_upload_id, cl.initial_source_row AS old_source_row,
           c.initial_source_row AS i_row, c.initial_decided AS i_decided, c.initial_outcome AS i_outcome,
           c.final_source_row AS f_row, c.final_decided AS f_decided, c.final_outcome AS f_outcome,
           claim_versions_same(@customer_id, @upload_id, c.initial_source_row, cl.initial_upload_id, cl.initial_source_row) AS same_initial,
           claim_versions_same(@customer_id, @upload_id, c.final_source_row, cl.final_upload_id, cl.final_source_row) AS same_final,
           (c.initial_decided < cl.initial_decided
               OR (c.initial_decided = cl.initial_decided AND @upload_id > cl.initial_rank_upload_id)) AS initial_wins,
           (c.final_decided > cl.final_decided
               OR (c.final_decided = cl.final_decided AND @upload_id > cl.final_rank_upload_id)) AS final_wins
    FROM (
    -- One row per claim id: the upload's candidates for its initial version
    -- (earliest decided; a tie goes to the later row, a correction within
    -- the file) and final version (latest decided), in one grouping pass.
    SELECT r.claim_id,
           (array_agg(r.source_row ORDER BY r.decided_date, r.source_row DESC))[1]::int AS initial_source_row,
           min(r.decided_date)::date AS initial_decided,
           (array_agg(r.outcome ORDER BY r.decided_date, r.source_row DESC))[1]::text AS initial_outcome,
           (array_agg(r.source_row ORDER BY r.decided_date DESC, r.source_row DESC))[1]::int AS final_source_row,
           max(r.decided_date)::date AS final_decided,
           (array_agg(r.outcome ORDER BY r.decided_date DESC, r.source_row DESC))[1]::text AS final_outcome
    FROM claim_records r
    WHERE r.customer_id = @customer_id AND r.upload_id = @upload_id AND r.claim_id IS NOT NULL
    GROUP BY r.claim_id
) AS c
    -- Each candidate looks its claim up by primary key (see ClaimLockOfUpload).
    CROSS JOIN LATERAL (
        SELECT x.initial_upload_id, x.initial_source_row, x.initial_decided, x.initial_rank_upload_id,
               x.final_upload_id, x.final_source_row, x.final_decided, x.final_rank_upload_id
        FROM claims x
        WHERE x.customer_id = @customer_id AND x.claim_id = c.claim_id AND x.initial_upload_id <> @upload_id
        LIMIT 1
    ) AS cl
), upd AS (
    UPDATE claims cl SET
        initial_upload_id = CASE WHEN d.initial_wins AND NOT d.same_initial THEN @upload_id ELSE cl.initial_upload_id END,
        initial_source_row = CASE WHEN d.initial_wins AND NOT d.same_initial THEN d.i_row ELSE cl.initial_source_row END,
        initial_decided = CASE WHEN d.initial_wins AND NOT d.same_initial THEN d.i_decided ELSE cl.initial_decided END,
        initial_outcome = CASE WHEN d.initial_wins AND NOT d.same_initial THEN d.i_outcome ELSE cl.initial_outcome END,
        initial_rank_upload_id = CASE WHEN d.initial_wins THEN @upload_id ELSE cl.initial_rank_upload_id END,
        final_upload_id = CASE WHEN d.final_wins AND NOT d.same_final THEN @upload_id ELSE cl.final_upload_id END,
        final_source_row = CASE WHEN d.final_wins AND NOT d.same_final THEN d.f_row ELSE cl.final_source_row END,
        final_decided = CASE WHEN d.final_wins AND NOT d.same_final THEN d.f_decided ELSE cl.final_decided END,
        final_outcome = CASE WHEN d.final_wins AND NOT d.same_final THEN d.f_outcome ELSE cl.final_outcome END,
        final_rank_upload_id = CASE WHEN d.final_wins THEN @upload_id ELSE cl.final_rank_upload_id END
    FROM dec d
    WHERE cl.customer_id = @customer_id AND cl.claim_id = d.claim_id AND (d.initial_wins OR d.final_wins)
    RETURNING cl.claim_id
)
SELECT (SELECT count(*) FROM upd)::int AS claims_changed,
       count(*) FILTER (WHERE same_initial AND same_final)::int AS claims_unchanged,
       count(*) FILTER (WHERE NOT (same_initial AND same_final))::int AS claims_revised,
       coalesce(array_agg(old_upload_id) FILTER (WHERE initial_wins AND NOT same_initial), '{}')::bigint[] AS uncounted_upload_ids,
       coalesce(array_agg(old_source_row) FILTER (WHERE initial_wins AND NOT same_initial), '{}')::int[] AS uncounted_source_rows
FROM dec;

-- name: ClaimNextVersionsWithoutUpload :many
-- For the claims with versions in an upload about to be deleted (locked by
-- ClaimLockOfUpload): their initial and final versions among the versions
-- of the other uploads (ties: the later upload, then the later row);
-- has_versions is false when none is left. Each through claim_records'
-- claim index.
SELECT cl.claim_id, (cl.initial_upload_id = @upload_id::bigint)::bool AS initial_was_in_upload, (i.upload_id IS NOT NULL)::bool AS has_versions,
       coalesce(i.upload_id, 0)::bigint AS initial_upload_id, coalesce(i.source_row, 0)::int AS initial_source_row,
       coalesce(i.decided_date, '1970-01-01')::date AS initial_decided, coalesce(i.outcome, '')::text AS initial_outcome,
       coalesce(f.upload_id, 0)::bigint AS final_upload_id, coalesce(f.source_row, 0)::int AS final_source_row,
       coalesce(f.decided_date, '1970-01-01')::date AS final_decided, coalesce(f.outcome, '')::text AS final_outcome
FROM claims cl
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
WHERE cl.customer_id = @customer_id AND cl.claim_id IN (
    SELECT r.claim_id FROM claim_records r
    WHERE r.customer_id = @customer_id AND r.upload_id = @upload_id::bigint AND r.claim_id IS NOT NULL)
ORDER BY cl.claim_id COLLATE "C";

-- name: ClaimSetVersions :exec
-- Sets claims' initial and final versions (after an upload's deletion).
UPDATE claims cl SET
    initial_upload_id = v.initial_upload_id, initial_source_row = v.initial_source_row,
    initial_decided = v.initial_decided, initial_outcome = v.initial_outcome, initial_rank_upload_id = v.initial_upload_id,
    final_upload_id = v.final_upload_id, final_source_row = v.final_source_row,
    final_decided = v.final_decided, final_outcome = v.final_outcome, final_rank_upload_id = v.final_upload_id
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
-- Claims without ids have one version: never overturned, so not here.
SELECT r.decided_date AS day, count(*)::int AS initially_denied,
       count(*) FILTER (WHERE cl.final_outcome = 'PAID')::int AS overturned
FROM claims cl
JOIN claim_records r ON r.customer_id = cl.customer_id AND r.upload_id = cl.initial_upload_id AND r.source_row = cl.initial_source_row
WHERE cl.customer_id = @customer_id AND cl.initial_outcome = 'DENIED'
  AND cl.initial_decided >= @start::date AND cl.initial_decided < @end_date::date
  AND r.payer = @payer AND r.cpt_group = @cpt_group
GROUP BY r.decided_date;

-- name: ClaimOverturnsInWindow :many
-- Per (payer, CPT group), the claims initially decided in [@start,
-- @end_date) and denied, and those of them finally paid; the cells with
-- the most overturns first, at most @max_rows.
SELECT r.payer, r.cpt_group, count(*)::int AS initially_denied,
       count(*) FILTER (WHERE cl.final_outcome = 'PAID')::int AS overturned
FROM claims cl
JOIN claim_records r ON r.customer_id = cl.customer_id AND r.upload_id = cl.initial_upload_id AND r.source_row = cl.initial_source_row
WHERE cl.customer_id = @customer_id AND cl.initial_outcome = 'DENIED'
  AND cl.initial_decided >= @start::date AND cl.initial_decided < @end_date::date
GROUP BY r.payer, r.cpt_group
ORDER BY overturned DESC, r.payer COLLATE "C", r.cpt_group COLLATE "C"
LIMIT @max_rows;
