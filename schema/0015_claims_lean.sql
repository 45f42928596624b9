-- +goose Up
-- claims loses its per-row foreign-key trigger, as claim_records did in
-- 0013: it was a third of the time to insert 300k new claims (README,
-- "Ingest versus COPY"). What it guaranteed is kept once per statement: a
-- claim belongs to an existing customer, and deleting customers deletes
-- their claims.
ALTER TABLE claims DROP CONSTRAINT claims_customer_id_fkey;

-- +goose StatementBegin
CREATE FUNCTION claims_check_customer() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM (SELECT DISTINCT customer_id FROM added) a
        WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = a.customer_id)
    ) THEN
        RAISE EXCEPTION 'claims: a claim must belong to an existing customer'
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'claims_customer_id_fkey', TABLE = 'claims';
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER claims_check_customer_insert AFTER INSERT ON claims
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION claims_check_customer();
-- Revisions update hundreds of thousands of claims: rather than a check
-- of every updated row, a claim's customer cannot change (fires only for
-- statements that set customer_id).
-- +goose StatementBegin
CREATE FUNCTION claims_customer_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'claims: a claim cannot move to another customer'
        USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'claims_customer_id_fkey', TABLE = 'claims';
END
$$;
-- +goose StatementEnd

CREATE TRIGGER claims_customer_immutable BEFORE UPDATE OF customer_id ON claims
    FOR EACH ROW WHEN (OLD.customer_id IS DISTINCT FROM NEW.customer_id) EXECUTE FUNCTION claims_customer_immutable();

-- +goose StatementBegin
CREATE FUNCTION claims_delete_with_customers() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM claims c USING gone g WHERE c.customer_id = g.id;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER customers_delete_claims AFTER DELETE ON customers
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION claims_delete_with_customers();

-- An identical repeat no longer writes its claim: the *_rank_upload_id
-- columns (the latest upload holding a version identical to the one
-- pointed at) were updated for every repeated claim, 270k row updates for
-- a weekly export of 300k. A tie, rare, now finds that upload among the
-- claim's versions when it happens (ClaimReviseFromUpload).
ALTER TABLE claims DROP COLUMN initial_rank_upload_id, DROP COLUMN final_rank_upload_id;

-- A run's overturns read the customer's claims initially denied in its
-- windows: through this index, not every claim of the customer.
CREATE INDEX claims_denied_idx ON claims (customer_id, initial_decided) WHERE initial_outcome = 'DENIED';

-- Whether two stored rows are the same version of a claim: equal in every
-- stored field. A single expression, so the planner inlines it.
-- +goose StatementBegin
CREATE FUNCTION claim_records_same(a claim_records, b claim_records) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT (a.payer, a.cpt, a.cpt_group, a.submitted_date, a.decided_date, a.outcome, a.allowed_amount,
            a.denial_reason_code, a.denial_reason_text)
           IS NOT DISTINCT FROM
           (b.payer, b.cpt, b.cpt_group, b.submitted_date, b.decided_date, b.outcome, b.allowed_amount,
            b.denial_reason_code, b.denial_reason_text)
$$;
-- +goose StatementEnd

-- +goose Down
DROP INDEX claims_denied_idx;
DROP FUNCTION claim_records_same(claim_records, claim_records);
ALTER TABLE claims ADD COLUMN initial_rank_upload_id bigint, ADD COLUMN final_rank_upload_id bigint;
UPDATE claims SET initial_rank_upload_id = initial_upload_id, final_rank_upload_id = final_upload_id;
ALTER TABLE claims ALTER COLUMN initial_rank_upload_id SET NOT NULL, ALTER COLUMN final_rank_upload_id SET NOT NULL;
DROP TRIGGER customers_delete_claims ON customers;
DROP FUNCTION claims_delete_with_customers();
DROP TRIGGER claims_customer_immutable ON claims;
DROP FUNCTION claims_customer_immutable();
DROP TRIGGER claims_check_customer_insert ON claims;
DROP FUNCTION claims_check_customer();
ALTER TABLE claims ADD CONSTRAINT claims_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE;
