-- +goose Up
-- A customer's uploads, report runs and drift requests go with the
-- customer, as its mappings, API keys and statistics already do (and claims
-- and events go with their uploads and runs), so deleting a customer is one
-- DELETE that cannot miss a table added later. These tables hold one row per
-- upload or run, so re-adding the keys in this transaction is brief.
ALTER TABLE uploads
    DROP CONSTRAINT uploads_customer_id_fkey,
    ADD CONSTRAINT uploads_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE;
ALTER TABLE report_runs
    DROP CONSTRAINT report_runs_customer_id_fkey,
    ADD CONSTRAINT report_runs_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE;
ALTER TABLE drift_requests
    DROP CONSTRAINT drift_requests_customer_id_fkey,
    ADD CONSTRAINT drift_requests_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE;

-- +goose Down
ALTER TABLE uploads
    DROP CONSTRAINT uploads_customer_id_fkey,
    ADD CONSTRAINT uploads_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers (id);
ALTER TABLE report_runs
    DROP CONSTRAINT report_runs_customer_id_fkey,
    ADD CONSTRAINT report_runs_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers (id);
ALTER TABLE drift_requests
    DROP CONSTRAINT drift_requests_customer_id_fkey,
    ADD CONSTRAINT drift_requests_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers (id);
