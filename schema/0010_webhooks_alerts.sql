-- +goose Up
-- Webhook endpoints per customer. The signing secret must be readable to
-- sign, so it is stored as is (like any shared HMAC key); previous_secret
-- stays valid until previous_secret_expires_at after a rotation.
CREATE TABLE webhook_endpoints (
    id                        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id               bigint           NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    url                       text             NOT NULL,
    format                    text             NOT NULL DEFAULT 'standard',
    min_severity              double precision NOT NULL DEFAULT 0,
    secret                    text             NOT NULL,
    previous_secret           text,
    previous_secret_expires_at timestamptz,
    enabled                   boolean          NOT NULL DEFAULT true,
    created_at                timestamptz      NOT NULL DEFAULT now(),
    CONSTRAINT webhook_endpoints_customer_id_id_key UNIQUE (customer_id, id),
    CONSTRAINT webhook_endpoints_format_valid CHECK (format IN ('standard', 'slack')),
    CONSTRAINT webhook_endpoints_min_severity_valid CHECK (min_severity >= 0 AND min_severity <= 1),
    CONSTRAINT webhook_endpoints_url_length CHECK (length(url) <= 2048),
    CONSTRAINT webhook_endpoints_secret_prefix CHECK (secret LIKE 'whsec_%')
);

-- One delivery per (run, endpoint): the message, built once, so every
-- retry sends the same bytes with the same webhook-id.
CREATE TABLE webhook_deliveries (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id   bigint      NOT NULL,
    endpoint_id   bigint      NOT NULL,
    -- NULL for test deliveries.
    report_run_id bigint,
    message_id    text        NOT NULL,
    payload       bytea       NOT NULL,
    status        text        NOT NULL DEFAULT 'pending',
    attempts      integer     NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    delivered_at  timestamptz,
    CONSTRAINT webhook_deliveries_endpoint_fkey FOREIGN KEY (customer_id, endpoint_id)
        REFERENCES webhook_endpoints (customer_id, id) ON DELETE CASCADE,
    CONSTRAINT webhook_deliveries_run_fkey FOREIGN KEY (customer_id, report_run_id)
        REFERENCES report_runs (customer_id, id) ON DELETE CASCADE,
    CONSTRAINT webhook_deliveries_run_endpoint_key UNIQUE (report_run_id, endpoint_id),
    CONSTRAINT webhook_deliveries_message_id_key UNIQUE (message_id),
    CONSTRAINT webhook_deliveries_status_valid CHECK (status IN ('pending', 'delivered', 'failed'))
);

CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, id DESC);

-- Every attempt of a delivery, with what the receiver said.
CREATE TABLE webhook_attempts (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id  bigint      NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempted_at timestamptz NOT NULL DEFAULT now(),
    status_code  integer,
    latency_ms   integer     NOT NULL,
    error        text,
    response     text
);

CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, id);

-- The lifecycle of an alert's subject: open -> acknowledged / snoozed until
-- a date / resolved. New alerts of an acknowledged or snoozed subject are
-- recorded (drift_events.suppressed) but not delivered.
CREATE TABLE alert_subjects (
    customer_id   bigint      NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    payer         text        NOT NULL,
    cpt_group     text        NOT NULL,
    drift_type    text        NOT NULL,
    state         text        NOT NULL DEFAULT 'open',
    note          text,
    snoozed_until date,
    last_alert_run_id bigint,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    updated_by    text        NOT NULL,
    PRIMARY KEY (customer_id, payer, cpt_group, drift_type),
    CONSTRAINT alert_subjects_state_valid CHECK (state IN ('open', 'acknowledged', 'snoozed', 'resolved')),
    CONSTRAINT alert_subjects_snooze_valid CHECK ((state = 'snoozed') = (snoozed_until IS NOT NULL)),
    CONSTRAINT alert_subjects_note_length CHECK (length(note) <= 2000)
);

-- Every change of a subject, with who made it.
CREATE TABLE alert_subject_changes (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id   bigint      NOT NULL,
    payer         text        NOT NULL,
    cpt_group     text        NOT NULL,
    drift_type    text        NOT NULL,
    from_state    text,
    to_state      text        NOT NULL,
    note          text,
    snoozed_until date,
    actor         text        NOT NULL,
    changed_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT alert_subject_changes_subject_fkey FOREIGN KEY (customer_id, payer, cpt_group, drift_type)
        REFERENCES alert_subjects (customer_id, payer, cpt_group, drift_type) ON DELETE CASCADE
);

CREATE INDEX alert_subject_changes_subject_idx ON alert_subject_changes (customer_id, payer, cpt_group, drift_type, id);

ALTER TABLE drift_events ADD COLUMN suppressed boolean NOT NULL DEFAULT false;

-- Drift page sessions, server-side (scs postgresstore's table): they
-- expire, and logging out deletes them.
CREATE TABLE sessions (
    token  text PRIMARY KEY,
    data   bytea NOT NULL,
    expiry timestamptz NOT NULL
);
CREATE INDEX sessions_expiry_idx ON sessions (expiry);

-- +goose Down
DROP TABLE sessions;
ALTER TABLE drift_events DROP COLUMN suppressed;
DROP TABLE alert_subject_changes;
DROP TABLE alert_subjects;
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
