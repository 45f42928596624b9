-- name: DriftEventInsertMany :execrows
-- The unique constraint is the last line of defence, never the first: the
-- customer lock already serializes computations.
-- Evidence columns are NULL where a test had no claims (method NULL) or no
-- interval (delta_low NULL), seed columns where the seed rule did not fire,
-- as the caller's arrays say. An alert's windows are the ones its evidence
-- compared (its current window ends with the run's); other events carry
-- the run's.
INSERT INTO drift_events (customer_id, report_run_id, payer, cpt_group, drift_type,
    baseline_value, current_value, delta_value, severity, confidence,
    baseline_start, baseline_end, current_start, current_end,
    baseline_sample_size, current_sample_size,
    seed_rule, alert, method, p_value, q_value, delta_low, delta_high,
    test_baseline_value, test_current_value, test_baseline_size, test_current_size, drivers,
    seed_baseline_value, seed_current_value, seed_delta_value, seed_severity, seed_confidence,
    seed_baseline_sample_size, seed_current_sample_size, margin, dispersion, windows_tested,
    dollars_at_stake, dollars_low, dollars_high)
SELECT @customer_id, @report_run_id, e.payer, e.cpt_group, e.drift_type,
    e.baseline_value, e.current_value, e.delta_value, e.severity, e.confidence,
    e.baseline_start, e.baseline_end, e.current_start, @current_end,
    e.baseline_sample_size, e.current_sample_size,
    e.seed_rule, e.alert, nullif(e.method, ''),
    CASE WHEN e.method <> '' THEN e.p_value END, CASE WHEN e.method <> '' THEN e.q_value END,
    CASE WHEN e.has_interval THEN e.delta_low END, CASE WHEN e.has_interval THEN e.delta_high END,
    CASE WHEN e.method <> '' THEN e.test_baseline_value END, CASE WHEN e.method <> '' THEN e.test_current_value END,
    CASE WHEN e.method <> '' THEN e.test_baseline_size END, CASE WHEN e.method <> '' THEN e.test_current_size END,
    e.drivers,
    CASE WHEN e.seed_rule THEN e.seed_baseline_value END, CASE WHEN e.seed_rule THEN e.seed_current_value END,
    CASE WHEN e.seed_rule THEN e.seed_delta_value END, CASE WHEN e.seed_rule THEN e.seed_severity END,
    CASE WHEN e.seed_rule THEN e.seed_confidence END, CASE WHEN e.seed_rule THEN e.seed_baseline_sample_size END,
    CASE WHEN e.seed_rule THEN e.seed_current_sample_size END,
    CASE WHEN e.method <> '' THEN e.margin END, CASE WHEN e.method <> '' THEN e.dispersion END,
    CASE WHEN e.method <> '' THEN e.windows_tested END,
    CASE WHEN e.has_dollars THEN e.dollars_at_stake END,
    CASE WHEN e.has_dollars_interval THEN e.dollars_low END, CASE WHEN e.has_dollars_interval THEN e.dollars_high END
FROM (
    SELECT unnest(@payers::text[]) AS payer, unnest(@cpt_groups::text[]) AS cpt_group, unnest(@drift_types::text[]) AS drift_type,
        unnest(@baseline_values::float8[]) AS baseline_value, unnest(@current_values::float8[]) AS current_value,
        unnest(@delta_values::float8[]) AS delta_value, unnest(@severities::float8[]) AS severity,
        unnest(@confidences::float8[]) AS confidence,
        unnest(@baseline_sample_sizes::int[]) AS baseline_sample_size, unnest(@current_sample_sizes::int[]) AS current_sample_size,
        unnest(@seed_rules::bool[]) AS seed_rule, unnest(@alerts::bool[]) AS alert, unnest(@methods::text[]) AS method,
        unnest(@p_values::float8[]) AS p_value, unnest(@q_values::float8[]) AS q_value,
        unnest(@has_intervals::bool[]) AS has_interval,
        unnest(@delta_lows::float8[]) AS delta_low, unnest(@delta_highs::float8[]) AS delta_high,
        unnest(@test_baseline_values::float8[]) AS test_baseline_value, unnest(@test_current_values::float8[]) AS test_current_value,
        unnest(@test_baseline_sizes::int[]) AS test_baseline_size, unnest(@test_current_sizes::int[]) AS test_current_size,
        unnest(@drivers::jsonb[]) AS drivers,
        unnest(@seed_baseline_values::float8[]) AS seed_baseline_value, unnest(@seed_current_values::float8[]) AS seed_current_value,
        unnest(@seed_delta_values::float8[]) AS seed_delta_value, unnest(@seed_severities::float8[]) AS seed_severity,
        unnest(@seed_confidences::float8[]) AS seed_confidence,
        unnest(@seed_baseline_sample_sizes::int[]) AS seed_baseline_sample_size, unnest(@seed_current_sample_sizes::int[]) AS seed_current_sample_size,
        unnest(@margins::float8[]) AS margin, unnest(@dispersions::float8[]) AS dispersion,
        unnest(@baseline_starts::date[]) AS baseline_start, unnest(@baseline_ends::date[]) AS baseline_end,
        unnest(@current_starts::date[]) AS current_start, unnest(@windows_tested::smallint[]) AS windows_tested,
        unnest(@has_dollars::bool[]) AS has_dollars, unnest(@dollars_at_stake::float8[]) AS dollars_at_stake,
        unnest(@has_dollars_interval::bool[]) AS has_dollars_interval,
        unnest(@dollars_lows::float8[]) AS dollars_low, unnest(@dollars_highs::float8[]) AS dollars_high
) AS e
ON CONFLICT ON CONSTRAINT drift_events_run_group_type_key DO NOTHING;

-- name: DriftEventListByRun :many
-- Alerts first, the most dollars at stake first (alerts without amounts
-- after), then by severity.
SELECT * FROM drift_events
WHERE customer_id = @customer_id AND report_run_id = @report_run_id
ORDER BY alert DESC, dollars_at_stake DESC NULLS LAST, severity DESC, payer, cpt_group, drift_type;

-- name: DriftEventPageByRun :many
-- A page of a run's events in DriftEventListByRun's order, filtered like
-- the API's parameters (NULL: any). A run's events never change, so an
-- offset names the same place on every request.
SELECT * FROM drift_events
WHERE customer_id = @customer_id AND report_run_id = @report_run_id
  AND (sqlc.narg(payer)::text IS NULL OR lower(payer) = lower(sqlc.narg(payer)::text))
  AND (sqlc.narg(drift_type)::text IS NULL OR drift_type = sqlc.narg(drift_type)::text)
  AND severity >= @min_severity
  AND (sqlc.narg(alert)::boolean IS NULL OR alert = sqlc.narg(alert)::boolean)
ORDER BY alert DESC, dollars_at_stake DESC NULLS LAST, severity DESC, payer, cpt_group, drift_type
LIMIT @max_rows OFFSET @skip;

-- name: DriftEventCountByRun :one
-- How many of a run's events pass the filters of DriftEventPageByRun, and
-- how many of them are alerts.
SELECT count(*)::int AS events, count(*) FILTER (WHERE alert)::int AS alerts
FROM drift_events
WHERE customer_id = @customer_id AND report_run_id = @report_run_id
  AND (sqlc.narg(payer)::text IS NULL OR lower(payer) = lower(sqlc.narg(payer)::text))
  AND (sqlc.narg(drift_type)::text IS NULL OR drift_type = sqlc.narg(drift_type)::text)
  AND severity >= @min_severity
  AND (sqlc.narg(alert)::boolean IS NULL OR alert = sqlc.narg(alert)::boolean);

-- name: DriftEventMarkSuppressed :exec
-- An alert of an acknowledged or snoozed subject: recorded, not delivered.
UPDATE drift_events SET suppressed = true
WHERE customer_id = @customer_id AND report_run_id = @report_run_id
  AND payer = @payer AND cpt_group = @cpt_group AND drift_type = @drift_type;

-- name: DriftEventListAlertsOfCell :many
-- The alerts one (payer, CPT group) raised in runs as of (@start, @end]: a
-- run as of D compares windows ending the day before D.
SELECT r.as_of, e.drift_type
FROM drift_events e
JOIN report_runs r ON r.customer_id = e.customer_id AND r.id = e.report_run_id
WHERE e.customer_id = @customer_id AND e.payer = @payer AND e.cpt_group = @cpt_group AND e.alert
  AND r.as_of > @start::date AND r.as_of <= @end_date::date
ORDER BY r.as_of;

-- name: DriftEventDollarsByRuns :many
-- Each run's alerts' dollars at stake, summed over the changes for the
-- worse (an improvement's dollars are not at stake; the runs table).
SELECT report_run_id, sum(dollars_at_stake)::float8 AS dollars
FROM drift_events
WHERE customer_id = @customer_id AND report_run_id = ANY(@run_ids::bigint[]) AND alert AND dollars_at_stake > 0
GROUP BY report_run_id;
