-- name: ReportRunCreate :one
INSERT INTO report_runs (customer_id, run_type, as_of, baseline_days, current_days, min_volume, fdr, attempt, job_id,
    baseline_start, baseline_end, current_start, current_end)
VALUES (@customer_id, @run_type, @as_of, @baseline_days, @current_days, @min_volume, @fdr, @attempt, sqlc.narg(job_id),
    @baseline_start, @baseline_end, @current_start, @current_end)
RETURNING *;

-- name: ReportRunMarkSuccess :one
UPDATE report_runs
SET status = 'success', finished_at = clock_timestamp(), groups_considered = @groups_considered,
    events_created = @events_created, claims_read = @claims_read, duration_ms = @duration_ms,
    tests_run = @tests_run, alerts_created = @alerts_created, groups_skipped = @groups_skipped, skipped_groups = @skipped_groups,
    overturns = @overturns
WHERE id = @id
RETURNING *;

-- name: ReportRunCreateFailed :one
-- Written in its own short transaction after the computation rolled back.
INSERT INTO report_runs (customer_id, run_type, as_of, baseline_days, current_days, min_volume, fdr, attempt, job_id,
    status, finished_at, error, baseline_start, baseline_end, current_start, current_end)
VALUES (@customer_id, @run_type, @as_of, @baseline_days, @current_days, @min_volume, @fdr, @attempt, sqlc.narg(job_id),
    'failed', clock_timestamp(), @error, @baseline_start, @baseline_end, @current_start, @current_end)
RETURNING *;

-- name: ReportRunGetSuccessfulWeekly :one
SELECT * FROM report_runs
WHERE customer_id = @customer_id AND run_type = 'weekly' AND status = 'success' AND as_of = @as_of
  AND baseline_days = @baseline_days AND current_days = @current_days AND min_volume = @min_volume;

-- name: ReportRunGetByID :one
SELECT * FROM report_runs WHERE customer_id = @customer_id AND id = @id;

-- name: ReportRunGetByJobMany :many
SELECT * FROM report_runs WHERE job_id = @job_id ORDER BY id;

-- name: ReportRunGetLatestSuccessful :one
SELECT * FROM report_runs
WHERE customer_id = @customer_id AND status = 'success'
ORDER BY finished_at DESC, id DESC
LIMIT 1;

-- name: ReportRunListByCustomer :many
-- Newest first; keyset pagination on id (runs are numbered as they start).
SELECT * FROM report_runs
WHERE customer_id = @customer_id
  AND (sqlc.narg(before_id)::bigint IS NULL OR id < sqlc.narg(before_id)::bigint)
ORDER BY id DESC
LIMIT @max_rows;
