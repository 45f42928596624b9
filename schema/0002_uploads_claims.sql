-- +goose Up
-- An upload is written in one transaction with its claims, so other sessions
-- only ever see completed uploads. The row is inserted first (status
-- 'processing', no hash yet: the claims reference it while the file is still
-- streaming) and completed with its SHA-256 and counts at the end, where the
-- unique (customer_id, sha256) constraint catches a duplicate file.
CREATE TABLE uploads (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id        bigint      NOT NULL REFERENCES customers (id),
    filename           text        NOT NULL,
    sha256             text,
    status             text        NOT NULL DEFAULT 'processing',
    rows_total         integer     NOT NULL DEFAULT 0,
    accepted           integer     NOT NULL DEFAULT 0,
    rejected           integer     NOT NULL DEFAULT 0,
    warnings           integer     NOT NULL DEFAULT 0,
    min_submitted_date date,
    max_submitted_date date,
    errors             jsonb       NOT NULL DEFAULT '[]',
    job_id             bigint,
    job_coalesced      boolean     NOT NULL DEFAULT false,
    created_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uploads_customer_sha256_key UNIQUE (customer_id, sha256),
    -- Target of the claims' composite foreign key.
    CONSTRAINT uploads_customer_id_id_key UNIQUE (customer_id, id),
    CONSTRAINT uploads_sha256_hex CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    CONSTRAINT uploads_status_valid CHECK (status IN ('processing', 'completed')),
    CONSTRAINT uploads_completed_has_sha256 CHECK (status = 'processing' OR sha256 IS NOT NULL),
    CONSTRAINT uploads_counts_valid CHECK (rows_total >= 0 AND accepted >= 0 AND rejected >= 0 AND warnings >= 0
        AND accepted + rejected = rows_total),
    CONSTRAINT uploads_date_range_valid CHECK (min_submitted_date <= max_submitted_date)
);

CREATE INDEX uploads_customer_created_idx ON uploads (customer_id, created_at DESC, id DESC);

-- One foreign key per claim row, (customer_id, upload_id) -> uploads, both
-- ties the claim to its upload and proves the customer matches.
CREATE TABLE claim_records (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id        bigint        NOT NULL,
    upload_id          bigint        NOT NULL,
    source_row         integer       NOT NULL,
    payer              text          NOT NULL,
    cpt                text          NOT NULL,
    cpt_group          text          NOT NULL,
    submitted_date     date          NOT NULL,
    decided_date       date          NOT NULL,
    outcome            text          NOT NULL,
    allowed_amount     numeric(12,2),
    denial_reason_code text,
    denial_reason_text text,
    CONSTRAINT claim_records_upload_fkey FOREIGN KEY (customer_id, upload_id)
        REFERENCES uploads (customer_id, id) ON DELETE CASCADE,
    CONSTRAINT claim_records_submitted_before_decided CHECK (submitted_date <= decided_date),
    CONSTRAINT claim_records_outcome_valid CHECK (outcome IN ('PAID', 'DENIED', 'OTHER'))
);

-- The drift aggregation reads one customer's claims by submitted_date range.
CREATE INDEX claim_records_customer_submitted_idx ON claim_records (customer_id, submitted_date);
CREATE INDEX claim_records_upload_idx ON claim_records (upload_id);

-- +goose Down
DROP TABLE claim_records;
DROP TABLE uploads;
