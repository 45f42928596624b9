-- +goose Up
-- A durable request for a drift computation, written in the same transaction
-- as the upload that needs it. A computation consumes the customer's
-- requests under its lock; requests left when it finishes mean a follow-up.
CREATE TABLE drift_requests (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id bigint      NOT NULL REFERENCES customers (id),
    upload_id   bigint      REFERENCES uploads (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX drift_requests_customer_idx ON drift_requests (customer_id, id);

CREATE TABLE report_runs (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id       bigint      NOT NULL REFERENCES customers (id),
    run_type          text        NOT NULL,
    as_of             date        NOT NULL,
    baseline_days     integer     NOT NULL,
    current_days      integer     NOT NULL,
    min_volume        integer     NOT NULL,
    status            text        NOT NULL DEFAULT 'running',
    attempt           integer     NOT NULL DEFAULT 1,
    -- River's job id; not a foreign key because River prunes finished jobs.
    job_id            bigint,
    started_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz,
    error             text,
    baseline_start    date,
    baseline_end      date,
    current_start     date,
    current_end       date,
    groups_considered integer,
    events_created    integer,
    claims_read       bigint,
    duration_ms       bigint,
    CONSTRAINT report_runs_customer_id_id_key UNIQUE (customer_id, id),
    CONSTRAINT report_runs_run_type_valid CHECK (run_type IN ('weekly', 'upload', 'manual')),
    CONSTRAINT report_runs_status_valid CHECK (status IN ('running', 'success', 'failed')),
    CONSTRAINT report_runs_parameters_valid CHECK (baseline_days > 0 AND current_days > 0 AND min_volume > 0),
    CONSTRAINT report_runs_attempt_valid CHECK (attempt >= 1),
    CONSTRAINT report_runs_finished_valid CHECK ((status = 'running') = (finished_at IS NULL)),
    CONSTRAINT report_runs_error_valid CHECK ((status = 'failed') = (error IS NOT NULL))
);

-- Exactly one successful weekly run per (customer, as-of week, parameters).
CREATE UNIQUE INDEX report_runs_one_successful_weekly_idx
    ON report_runs (customer_id, as_of, baseline_days, current_days, min_volume)
    WHERE run_type = 'weekly' AND status = 'success';

CREATE INDEX report_runs_customer_id_idx ON report_runs (customer_id, id DESC);

CREATE TABLE drift_events (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id          bigint           NOT NULL,
    report_run_id        bigint           NOT NULL,
    payer                text             NOT NULL,
    cpt_group            text             NOT NULL,
    drift_type           text             NOT NULL,
    baseline_value       double precision NOT NULL,
    current_value        double precision NOT NULL,
    delta_value          double precision NOT NULL,
    severity             double precision NOT NULL,
    confidence           double precision NOT NULL,
    baseline_start       date             NOT NULL,
    baseline_end         date             NOT NULL,
    current_start        date             NOT NULL,
    current_end          date             NOT NULL,
    baseline_sample_size integer          NOT NULL,
    current_sample_size  integer          NOT NULL,
    created_at           timestamptz      NOT NULL DEFAULT now(),
    CONSTRAINT drift_events_report_run_fkey FOREIGN KEY (customer_id, report_run_id)
        REFERENCES report_runs (customer_id, id) ON DELETE CASCADE,
    CONSTRAINT drift_events_drift_type_valid CHECK (drift_type IN ('DENIAL_RATE', 'DECISION_TIME')),
    CONSTRAINT drift_events_severity_valid CHECK (severity >= 0 AND severity <= 1),
    CONSTRAINT drift_events_confidence_valid CHECK (confidence >= 0 AND confidence <= 1),
    CONSTRAINT drift_events_windows_valid CHECK (baseline_start < baseline_end AND baseline_end = current_start AND current_start < current_end)
);

-- +goose Down
DROP TABLE drift_events;
DROP TABLE report_runs;
DROP TABLE drift_requests;
