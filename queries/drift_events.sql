-- name: DriftEventInsertMany :execrows
-- The unique constraint is the last line of defence, never the first: the
-- customer lock already serializes computations.
INSERT INTO drift_events (customer_id, report_run_id, payer, cpt_group, drift_type,
    baseline_value, current_value, delta_value, severity, confidence,
    baseline_start, baseline_end, current_start, current_end,
    baseline_sample_size, current_sample_size)
SELECT @customer_id, @report_run_id,
    unnest(@payers::text[]), unnest(@cpt_groups::text[]), unnest(@drift_types::text[]),
    unnest(@baseline_values::float8[]), unnest(@current_values::float8[]), unnest(@delta_values::float8[]),
    unnest(@severities::float8[]), unnest(@confidences::float8[]),
    @baseline_start, @baseline_end, @current_start, @current_end,
    unnest(@baseline_sample_sizes::int[]), unnest(@current_sample_sizes::int[])
ON CONFLICT ON CONSTRAINT drift_events_run_group_type_key DO NOTHING;

-- name: DriftEventListByRun :many
SELECT * FROM drift_events
WHERE customer_id = @customer_id AND report_run_id = @report_run_id
ORDER BY severity DESC, payer, cpt_group, drift_type;
