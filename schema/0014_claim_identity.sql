-- +goose Up
-- Claim identity. A claim is (customer_id, claim_id); every stored row that
-- carries the id is a version of it, kept with its upload. The statistics
-- count each claim once, at its initial adjudication: the version with the
-- earliest decided_date (ties: the later upload, then the later row, as a
-- correction; an identical repeat keeps the version already counted). The
-- version with the latest decided_date is its final outcome, which never
-- moves it in the statistics. Rows without an id are claims of their own.
ALTER TABLE claim_records ADD COLUMN claim_id text;
ALTER TABLE claim_records ADD CONSTRAINT claim_records_claim_id_valid
    CHECK (claim_id IS NULL OR (claim_id <> '' AND octet_length(claim_id) <= 64));
-- A claim's other versions, for the upload that revises it and the deletion
-- that removes one; rows without an id stay out of the index.
CREATE INDEX claim_records_claim_idx ON claim_records (customer_id, claim_id) WHERE claim_id IS NOT NULL;

-- One row per claim: which versions are its initial and final ones. The
-- primary key is what makes two concurrent uploads of one new claim count
-- it once. Not a foreign key to claim_records: the versions' uploads come
-- and go, and the rows here follow in the same transactions. *_rank_upload_id
-- is the latest upload holding a version identical to the one pointed at:
-- ties are decided against it (the latest upload wins), while an identical
-- repeat leaves the pointer, and so the statistics, alone.
CREATE TABLE claims (
    customer_id        bigint  NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    claim_id           text    NOT NULL,
    initial_upload_id  bigint  NOT NULL,
    initial_source_row integer NOT NULL,
    initial_decided    date    NOT NULL,
    initial_outcome    text    NOT NULL,
    initial_rank_upload_id bigint NOT NULL,
    final_upload_id    bigint  NOT NULL,
    final_source_row   integer NOT NULL,
    final_decided      date    NOT NULL,
    final_outcome      text    NOT NULL,
    final_rank_upload_id bigint NOT NULL,
    PRIMARY KEY (customer_id, claim_id),
    CONSTRAINT claims_order_valid CHECK (initial_decided <= final_decided)
);

-- A run's overturns per (payer, CPT group): claims initially denied in its
-- windows and those of them finally paid (jsonb list, the busiest first).
ALTER TABLE report_runs ADD COLUMN overturns jsonb;

ALTER TABLE uploads
    ADD COLUMN claims_new       integer NOT NULL DEFAULT 0,
    ADD COLUMN claims_revised   integer NOT NULL DEFAULT 0,
    ADD COLUMN claims_unchanged integer NOT NULL DEFAULT 0,
    ADD CONSTRAINT uploads_claim_counts_valid CHECK (claims_new >= 0 AND claims_revised >= 0 AND claims_unchanged >= 0);

-- Each upload's decided-date span per payer (normalized): how an upload
-- without claim ids is found to overlap an earlier one (SPEC "Claim
-- identity"), kept with the upload and rebuilt when payers are
-- reclassified.
CREATE TABLE upload_payer_spans (
    customer_id   bigint  NOT NULL,
    upload_id     bigint  NOT NULL,
    payer         text    NOT NULL,
    first_decided date    NOT NULL,
    last_decided  date    NOT NULL,
    claims        integer NOT NULL,
    PRIMARY KEY (customer_id, upload_id, payer),
    FOREIGN KEY (customer_id, upload_id) REFERENCES uploads (customer_id, id) ON DELETE CASCADE,
    CONSTRAINT upload_payer_spans_valid CHECK (first_decided <= last_decided AND claims > 0)
);
CREATE INDEX upload_payer_spans_payer_idx ON upload_payer_spans (customer_id, payer, first_decided);
INSERT INTO upload_payer_spans (customer_id, upload_id, payer, first_decided, last_decided, claims)
SELECT customer_id, upload_id, payer, min(decided_date), max(decided_date), count(*)
FROM claim_records GROUP BY customer_id, upload_id, payer;

-- The statistics of a customer's counted claim rows: of the uploads with
-- ids in [first_upload, last_upload] (one upload, or all), or of the
-- versions (upload_ids[i], source_rows[i]) whether counted or not (the ones
-- an upload or a deletion makes counted or uncounted). One row per (day,
-- payer, CPT group), as an upload would add them. The one definition
-- behind every statistics path but the in-memory accumulator; the two
-- sources differ only in their FROM clause, so the query is built once.
-- +goose StatementBegin
CREATE FUNCTION claimstats_of(customer bigint, first_upload bigint, last_upload bigint,
    upload_ids bigint[] DEFAULT NULL, source_rows integer[] DEFAULT NULL, only_claim_ids boolean DEFAULT false)
RETURNS TABLE (day date, payer text, cpt_group text,
    submitted_claims bigint, submitted_denied bigint, submitted_days bigint[],
    decided_claims bigint, decided_denied bigint, decided_days bigint[],
    cpt_codes text[], cpt_counts bigint[], reason_codes text[], reason_counts bigint[])
LANGUAGE plpgsql STABLE
-- The rows it reads were often stored by this very transaction, after the
-- planner's statistics were taken: a nested loop that believes a table is
-- empty would scan it once per row. Index scans stay right either way.
SET enable_seqscan = off
AS $fn$
DECLARE
    source text;
BEGIN
    IF upload_ids IS NULL THEN
        -- A row counts when it has no claim id, or is its claim's initial
        -- version; only the rows with ids look their claim up.
        source := $s$
            FROM (
                SELECT c.* FROM claim_records c
                WHERE c.customer_id = $1 AND c.upload_id BETWEEN $2 AND $3 AND c.claim_id IS NULL AND NOT $6
                UNION ALL
                -- Each row looks its claim up by the claims primary key: a
                -- lateral subquery with LIMIT stays a nested loop driven by
                -- the upload's rows, whatever the statistics say (a planner
                -- that believed the rows few drove it from claims instead,
                -- scanning the upload once per claim).
                SELECT c.* FROM claim_records c
                CROSS JOIN LATERAL (
                    SELECT 1 FROM claims cl
                    WHERE cl.customer_id = c.customer_id AND cl.claim_id = c.claim_id
                      AND cl.initial_upload_id = c.upload_id AND cl.initial_source_row = c.source_row
                    LIMIT 1) AS counted
                WHERE c.customer_id = $1 AND c.upload_id BETWEEN $2 AND $3 AND c.claim_id IS NOT NULL
            ) AS c
            WHERE true$s$;
    ELSE
        source := $s$
            FROM unnest($4, $5) AS k(upload_id, source_row)
            JOIN claim_records c ON c.customer_id = $1 AND c.upload_id = k.upload_id AND c.source_row = k.source_row
            WHERE true$s$;
    END IF;
    RETURN QUERY EXECUTE format($q$
    WITH claims AS (
        SELECT c.payer, c.cpt_group, c.cpt, coalesce(c.denial_reason_code, '') AS reason,
               c.submitted_date, c.decided_date, (c.decided_date - c.submitted_date)::bigint AS days,
               (c.outcome = 'DENIED')::int AS denied
        %s AND c.outcome IN ('PAID', 'DENIED')
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
    parts AS (
        SELECT b.basis AS part, b.day, b.payer, b.cpt_group, sum(b.claims)::bigint AS claims, sum(b.denied)::bigint AS denied,
               array_agg((b.days << 32) | b.claims ORDER BY b.days) AS hist, NULL::text[] AS codes
        FROM bins b GROUP BY b.basis, b.day, b.payer, b.cpt_group
        UNION ALL
        SELECT c.kind, c.day, c.payer, c.cpt_group, 0, 0,
               array_agg((c.claims << 32) | c.denied ORDER BY c.code COLLATE "C"), array_agg(c.code ORDER BY c.code COLLATE "C")
        FROM codes c GROUP BY c.kind, c.day, c.payer, c.cpt_group
    )
    SELECT p.day, p.payer, p.cpt_group,
           coalesce(sum(p.claims) FILTER (WHERE p.part = 0), 0)::bigint, coalesce(sum(p.denied) FILTER (WHERE p.part = 0), 0)::bigint,
           coalesce(max(p.hist) FILTER (WHERE p.part = 0), '{}'),
           coalesce(sum(p.claims) FILTER (WHERE p.part = 1), 0)::bigint, coalesce(sum(p.denied) FILTER (WHERE p.part = 1), 0)::bigint,
           coalesce(max(p.hist) FILTER (WHERE p.part = 1), '{}'),
           coalesce(max(p.codes) FILTER (WHERE p.part = 2), '{}'), coalesce(max(p.hist) FILTER (WHERE p.part = 2), '{}'),
           coalesce(max(p.codes) FILTER (WHERE p.part = 3), '{}'), coalesce(max(p.hist) FILTER (WHERE p.part = 3), '{}')
    FROM parts p
    GROUP BY p.day, p.payer, p.cpt_group
    $q$, source) USING customer, first_upload, last_upload, upload_ids, source_rows, only_claim_ids;
END
$fn$;
-- +goose StatementEnd

-- Whether two stored rows are the same version: equal in every stored
-- field. An identical repeat of a claim keeps the version already counted.
-- +goose StatementBegin
CREATE FUNCTION claim_versions_same(customer bigint, a_upload bigint, a_row integer, b_upload bigint, b_row integer)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT (a.payer, a.cpt, a.cpt_group, a.submitted_date, a.decided_date, a.outcome, a.allowed_amount,
                             a.denial_reason_code, a.denial_reason_text)
                            IS NOT DISTINCT FROM
                            (b.payer, b.cpt, b.cpt_group, b.submitted_date, b.decided_date, b.outcome, b.allowed_amount,
                             b.denial_reason_code, b.denial_reason_text)
                     FROM claim_records a, claim_records b
                     WHERE a.customer_id = customer AND a.upload_id = a_upload AND a.source_row = a_row
                       AND b.customer_id = customer AND b.upload_id = b_upload AND b.source_row = b_row), false)
$$;
-- +goose StatementEnd

-- The name the queries use, now counting each claim once.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION claimstats_of_claims(customer bigint, first_upload bigint, last_upload bigint)
RETURNS TABLE (day date, payer text, cpt_group text,
    submitted_claims bigint, submitted_denied bigint, submitted_days bigint[],
    decided_claims bigint, decided_denied bigint, decided_days bigint[],
    cpt_codes text[], cpt_counts bigint[], reason_codes text[], reason_counts bigint[])
LANGUAGE sql STABLE AS $$
    SELECT * FROM claimstats_of(customer, first_upload, last_upload)
$$;
-- +goose StatementEnd

-- +goose Down
-- claimstats_of_claims as 0012 defined it, before the tables it now reads go.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION claimstats_of_claims(customer bigint, first_upload bigint, last_upload bigint)
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
DROP TABLE upload_payer_spans;
ALTER TABLE report_runs DROP COLUMN overturns;
DROP FUNCTION claimstats_of(bigint, bigint, bigint, bigint[], integer[], boolean);
DROP FUNCTION claim_versions_same(bigint, bigint, integer, bigint, integer);
DROP TABLE claims;
ALTER TABLE uploads DROP CONSTRAINT uploads_claim_counts_valid,
    DROP COLUMN claims_new, DROP COLUMN claims_revised, DROP COLUMN claims_unchanged;
DROP INDEX claim_records_claim_idx;
ALTER TABLE claim_records DROP CONSTRAINT claim_records_claim_id_valid;
ALTER TABLE claim_records DROP COLUMN claim_id;
