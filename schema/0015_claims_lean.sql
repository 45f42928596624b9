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

-- +goose Down
DROP TRIGGER customers_delete_claims ON customers;
DROP FUNCTION claims_delete_with_customers();
DROP TRIGGER claims_customer_immutable ON claims;
DROP FUNCTION claims_customer_immutable();
DROP TRIGGER claims_check_customer_insert ON claims;
DROP FUNCTION claims_check_customer();
ALTER TABLE claims ADD CONSTRAINT claims_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE;
