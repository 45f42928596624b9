-- +goose Up
-- What was billed for the claim (the CSV's charge_amount, an 835's SVC02):
-- the dollars at stake of an alert are counted in charges, else in allowed
-- amounts.
ALTER TABLE claim_records ADD COLUMN charge_amount numeric(12,2);

-- A version that differs only in its charge is a correction like any
-- other field's.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION claim_records_same(a claim_records, b claim_records) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT (a.payer, a.cpt, a.cpt_group, a.submitted_date, a.decided_date, a.outcome, a.allowed_amount, a.charge_amount,
            a.denial_reason_code, a.denial_reason_text)
           IS NOT DISTINCT FROM
           (b.payer, b.cpt, b.cpt_group, b.submitted_date, b.decided_date, b.outcome, b.allowed_amount, b.charge_amount,
            b.denial_reason_code, b.denial_reason_text)
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION claim_records_same(a claim_records, b claim_records) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT (a.payer, a.cpt, a.cpt_group, a.submitted_date, a.decided_date, a.outcome, a.allowed_amount,
            a.denial_reason_code, a.denial_reason_text)
           IS NOT DISTINCT FROM
           (b.payer, b.cpt, b.cpt_group, b.submitted_date, b.decided_date, b.outcome, b.allowed_amount,
            b.denial_reason_code, b.denial_reason_text)
$$;
-- +goose StatementEnd
ALTER TABLE claim_records DROP COLUMN charge_amount;
