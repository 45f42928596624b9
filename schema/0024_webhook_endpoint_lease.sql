-- +goose Up
-- At most one delivery attempt in flight per endpoint: the job sending to
-- it holds a lease (its River job id, until when). Other jobs of the
-- endpoint snooze, so a hanging endpoint holds one worker, not all of
-- them, and other endpoints' messages go first. A lease whose holder died
-- expires (sending_until).
ALTER TABLE webhook_endpoints
    ADD COLUMN sending_job_id bigint,
    ADD COLUMN sending_until  timestamptz,
    ADD CONSTRAINT webhook_endpoints_lease_whole CHECK ((sending_job_id IS NULL) = (sending_until IS NULL));

-- +goose Down
ALTER TABLE webhook_endpoints DROP COLUMN sending_until, DROP COLUMN sending_job_id;
