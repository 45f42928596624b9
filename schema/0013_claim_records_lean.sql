-- +goose Up
-- claim_records keeps one index and no per-row trigger: an upload's COPY
-- was paying for a foreign-key check fired per row, two indexes no query
-- needs (the drift path reads claim_stats) and an identity column.
--   - The primary key (customer_id, upload_id, source_row) serves every
--     query: per customer (reclassification, rebuilds) and per upload
--     (statistics read-back, subtraction, deletion).
--   - What the foreign key guaranteed is kept by statement-level triggers
--     (once per statement, not per row): a claim belongs to an upload of
--     its own customer, and deleting uploads (directly or with their
--     customer) deletes their claims.
ALTER TABLE claim_records DROP CONSTRAINT claim_records_upload_fkey;
DROP INDEX claim_records_customer_submitted_idx;
DROP INDEX claim_records_upload_idx;
ALTER TABLE claim_records DROP CONSTRAINT claim_records_pkey;
ALTER TABLE claim_records DROP COLUMN id;
ALTER TABLE claim_records ADD CONSTRAINT claim_records_pkey PRIMARY KEY (customer_id, upload_id, source_row);

-- +goose StatementBegin
CREATE FUNCTION claim_records_check_upload() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM (SELECT DISTINCT customer_id, upload_id FROM added) a
        WHERE NOT EXISTS (SELECT 1 FROM uploads u WHERE u.customer_id = a.customer_id AND u.id = a.upload_id)
    ) THEN
        RAISE EXCEPTION 'claim_records: a claim must belong to an upload of its own customer'
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'claim_records_upload_fkey', TABLE = 'claim_records';
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER claim_records_check_upload_insert AFTER INSERT ON claim_records
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION claim_records_check_upload();
CREATE TRIGGER claim_records_check_upload_update AFTER UPDATE ON claim_records
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION claim_records_check_upload();

-- +goose StatementBegin
CREATE FUNCTION claim_records_delete_with_uploads() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM claim_records c USING gone g WHERE c.customer_id = g.customer_id AND c.upload_id = g.id;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER uploads_delete_claims AFTER DELETE ON uploads
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION claim_records_delete_with_uploads();

-- +goose Down
DROP TRIGGER uploads_delete_claims ON uploads;
DROP FUNCTION claim_records_delete_with_uploads();
DROP TRIGGER claim_records_check_upload_update ON claim_records;
DROP TRIGGER claim_records_check_upload_insert ON claim_records;
DROP FUNCTION claim_records_check_upload();
ALTER TABLE claim_records DROP CONSTRAINT claim_records_pkey;
ALTER TABLE claim_records ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY;
CREATE INDEX claim_records_customer_submitted_idx ON claim_records (customer_id, submitted_date);
CREATE INDEX claim_records_upload_idx ON claim_records (upload_id);
ALTER TABLE claim_records ADD CONSTRAINT claim_records_upload_fkey FOREIGN KEY (customer_id, upload_id)
    REFERENCES uploads (customer_id, id) ON DELETE CASCADE;
