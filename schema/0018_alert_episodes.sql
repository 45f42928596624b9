-- +goose Up
-- A subject's episodes: one opens with the subject's first alert and stays
-- open while computations keep alerting; it resolves by itself after 2
-- computations at least 7 days apart (as-of) that tested the subject
-- without an alert, by hand, or when a recomputation after data was
-- withdrawn no longer alerts. At most one episode of a subject is open.
CREATE TABLE alert_episodes (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id       bigint           NOT NULL,
    payer             text             NOT NULL,
    cpt_group         text             NOT NULL,
    drift_type        text             NOT NULL,
    opened_run_id     bigint           NOT NULL,
    opened_as_of      date             NOT NULL,
    last_alert_run_id bigint           NOT NULL,
    last_alert_as_of  date             NOT NULL,
    -- What the last delivered transition said; an escalation is measured
    -- from it.
    severity          double precision NOT NULL,
    direction         smallint         NOT NULL,
    -- Computations since the last alert that tested the subject without
    -- one, counted at least 7 days apart.
    quiet_runs        smallint         NOT NULL DEFAULT 0,
    last_quiet_as_of  date,
    transitions       integer          NOT NULL DEFAULT 0,
    resolved_at       timestamptz,
    resolved_by       text,
    CONSTRAINT alert_episodes_subject_fkey FOREIGN KEY (customer_id, payer, cpt_group, drift_type)
        REFERENCES alert_subjects (customer_id, payer, cpt_group, drift_type) ON DELETE CASCADE,
    CONSTRAINT alert_episodes_opened_run_fkey FOREIGN KEY (customer_id, opened_run_id)
        REFERENCES report_runs (customer_id, id) ON DELETE CASCADE,
    CONSTRAINT alert_episodes_customer_id_id_key UNIQUE (customer_id, id),
    CONSTRAINT alert_episodes_direction_valid CHECK (direction IN (-1, 1)),
    CONSTRAINT alert_episodes_severity_valid CHECK (severity >= 0 AND severity <= 1),
    CONSTRAINT alert_episodes_quiet_runs_valid CHECK (quiet_runs BETWEEN 0 AND 2),
    CONSTRAINT alert_episodes_resolved_by_iff_resolved CHECK ((resolved_at IS NULL) = (resolved_by IS NULL))
);

CREATE UNIQUE INDEX alert_episodes_one_open_idx ON alert_episodes (customer_id, payer, cpt_group, drift_type)
    WHERE resolved_at IS NULL;
CREATE INDEX alert_episodes_subject_idx ON alert_episodes (customer_id, payer, cpt_group, drift_type, id);

-- Everything that happened to an episode, numbered: the transitions that
-- notify (opened, reopened, escalated, resolved) and the ones people make
-- (acknowledged, snoozed). A message is one (endpoint, episode, seq).
CREATE TABLE alert_transitions (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id   bigint           NOT NULL,
    episode_id    bigint           NOT NULL,
    seq           integer          NOT NULL,
    kind          text             NOT NULL,
    -- The computation that made it; NULL for a person's.
    report_run_id bigint,
    severity      double precision NOT NULL,
    direction     smallint         NOT NULL,
    actor         text             NOT NULL,
    note          text,
    created_at    timestamptz      NOT NULL DEFAULT now(),
    CONSTRAINT alert_transitions_episode_fkey FOREIGN KEY (customer_id, episode_id)
        REFERENCES alert_episodes (customer_id, id) ON DELETE CASCADE,
    CONSTRAINT alert_transitions_episode_seq_key UNIQUE (episode_id, seq),
    CONSTRAINT alert_transitions_kind_valid
        CHECK (kind IN ('opened', 'reopened', 'escalated', 'resolved', 'acknowledged', 'snoozed')),
    CONSTRAINT alert_transitions_note_length CHECK (length(note) <= 2000)
);

-- Deliveries are per (endpoint, transition) now: the constraint, and a
-- webhook-id derived from (endpoint, episode, seq), make a second message
-- for one transition impossible whatever re-runs or retries do. Earlier
-- deliveries (one per run and endpoint) keep their run and no transition.
ALTER TABLE webhook_deliveries
    DROP CONSTRAINT webhook_deliveries_run_endpoint_key,
    ADD COLUMN transition_id bigint REFERENCES alert_transitions (id) ON DELETE CASCADE,
    ADD CONSTRAINT webhook_deliveries_endpoint_transition_key UNIQUE (endpoint_id, transition_id),
    -- Why a delivery was cancelled (endpoint disabled or deleted, a
    -- destination refused): a final state, never pending forever.
    ADD COLUMN status_reason text,
    DROP CONSTRAINT webhook_deliveries_status_valid,
    ADD CONSTRAINT webhook_deliveries_status_valid CHECK (status IN ('pending', 'delivered', 'failed', 'cancelled'));
CREATE INDEX webhook_deliveries_transition_idx ON webhook_deliveries (transition_id);

-- An attempt is recorded before its request is sent and completed after:
-- one whose worker died stays 'sending' until the next attempt marks it
-- 'unknown' (the receiver may or may not have it).
ALTER TABLE webhook_attempts
    ADD COLUMN state text NOT NULL DEFAULT 'done',
    ALTER COLUMN latency_ms DROP NOT NULL,
    ADD CONSTRAINT webhook_attempts_state_valid CHECK (state IN ('sending', 'done', 'unknown'));

-- Subjects alerting now get the episode they are in, with its opening
-- recorded as of their last alert (their messages went out before).
INSERT INTO alert_episodes (customer_id, payer, cpt_group, drift_type, opened_run_id, opened_as_of,
    last_alert_run_id, last_alert_as_of, severity, direction, transitions)
SELECT s.customer_id, s.payer, s.cpt_group, s.drift_type, r.id, r.as_of, r.id, r.as_of,
    coalesce(e.severity, 0), CASE WHEN coalesce(e.delta_value, 1) < 0 THEN -1 ELSE 1 END, 1
FROM alert_subjects s
JOIN report_runs r ON r.customer_id = s.customer_id AND r.id = s.last_alert_run_id
LEFT JOIN drift_events e ON e.customer_id = s.customer_id AND e.report_run_id = r.id
    AND e.payer = s.payer AND e.cpt_group = s.cpt_group AND e.drift_type = s.drift_type
WHERE s.state <> 'resolved';
INSERT INTO alert_transitions (customer_id, episode_id, seq, kind, report_run_id, severity, direction, actor)
SELECT customer_id, id, 1, 'opened', opened_run_id, severity, direction, 'system' FROM alert_episodes;

-- +goose Down
DELETE FROM webhook_deliveries WHERE transition_id IS NOT NULL;
ALTER TABLE webhook_attempts DROP CONSTRAINT webhook_attempts_state_valid, DROP COLUMN state;
DELETE FROM webhook_attempts WHERE latency_ms IS NULL;
ALTER TABLE webhook_attempts ALTER COLUMN latency_ms SET NOT NULL;
UPDATE webhook_deliveries SET status = 'failed' WHERE status = 'cancelled';
ALTER TABLE webhook_deliveries
    DROP CONSTRAINT webhook_deliveries_status_valid,
    ADD CONSTRAINT webhook_deliveries_status_valid CHECK (status IN ('pending', 'delivered', 'failed')),
    DROP COLUMN status_reason,
    DROP COLUMN transition_id,
    ADD CONSTRAINT webhook_deliveries_run_endpoint_key UNIQUE (report_run_id, endpoint_id);
DROP TABLE alert_transitions;
DROP TABLE alert_episodes;
