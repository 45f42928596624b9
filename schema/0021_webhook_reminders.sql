-- +goose Up
-- An endpoint may ask to be reminded of an episode that stays open and
-- unacknowledged: every repeat_after_days days (by the computations'
-- as-of dates) after the last message of the episode it received.
ALTER TABLE webhook_endpoints ADD COLUMN repeat_after_days integer
    CONSTRAINT webhook_endpoints_repeat_after_valid CHECK (repeat_after_days BETWEEN 1 AND 90);

-- A reminder is a delivery of an episode, numbered per endpoint: one
-- message per (endpoint, episode, reminder), as a transition's.
ALTER TABLE webhook_deliveries
    ADD COLUMN episode_id bigint REFERENCES alert_episodes (id) ON DELETE CASCADE,
    ADD COLUMN reminder_seq integer,
    ADD CONSTRAINT webhook_deliveries_reminder_valid CHECK ((episode_id IS NULL) = (reminder_seq IS NULL)
        AND (reminder_seq IS NULL OR (reminder_seq > 0 AND transition_id IS NULL))),
    ADD CONSTRAINT webhook_deliveries_endpoint_reminder_key UNIQUE (endpoint_id, episode_id, reminder_seq);

-- +goose Down
ALTER TABLE webhook_deliveries DROP COLUMN reminder_seq, DROP COLUMN episode_id;
ALTER TABLE webhook_endpoints DROP COLUMN repeat_after_days;
