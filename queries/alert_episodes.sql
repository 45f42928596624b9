-- name: AlertEpisodeListOpenForUpdate :many
-- The customer's open episodes, locked: the customer's computations are
-- serialized already; a person's action on a subject takes its turn.
SELECT * FROM alert_episodes
WHERE customer_id = @customer_id AND resolved_at IS NULL
ORDER BY id
FOR UPDATE;

-- name: AlertEpisodeExists :one
-- Whether the subject ever had an episode (a new one re-opens it).
SELECT EXISTS (SELECT 1 FROM alert_episodes
    WHERE customer_id = @customer_id AND payer = @payer AND cpt_group = @cpt_group AND drift_type = @drift_type);

-- name: AlertEpisodeCreate :one
INSERT INTO alert_episodes (customer_id, payer, cpt_group, drift_type, opened_run_id, opened_as_of,
    last_alert_run_id, last_alert_as_of, severity, direction)
VALUES (@customer_id, @payer, @cpt_group, @drift_type, @run_id, @as_of, @run_id, @as_of, @severity, @direction)
RETURNING *;

-- name: AlertEpisodeSave :exec
UPDATE alert_episodes
SET last_alert_run_id = @last_alert_run_id, last_alert_as_of = @last_alert_as_of,
    severity = @severity, direction = @direction, quiet_runs = @quiet_runs,
    last_quiet_as_of = sqlc.narg(last_quiet_as_of), transitions = @transitions,
    resolved_at = sqlc.narg(resolved_at), resolved_by = sqlc.narg(resolved_by)
WHERE customer_id = @customer_id AND id = @id;

-- name: AlertEpisodeListBySubject :many
-- A page of the subject's episodes, newest first, before id @before_id
-- (0: from the newest).
SELECT * FROM alert_episodes
WHERE customer_id = @customer_id AND payer = @payer AND cpt_group = @cpt_group AND drift_type = @drift_type
  AND (@before_id::bigint = 0 OR id < @before_id::bigint)
ORDER BY id DESC
LIMIT @max_rows;

-- name: AlertTransitionInsert :one
-- (episode_id, seq) is unique: a transition happens once.
INSERT INTO alert_transitions (customer_id, episode_id, seq, kind, report_run_id, severity, direction, actor, note)
VALUES (@customer_id, @episode_id, @seq, @kind, sqlc.narg(report_run_id), @severity, @direction, @actor, sqlc.narg(note))
RETURNING *;

-- name: AlertTransitionListByEpisodes :many
-- Bounded: an episode that flips direction every run gains a transition
-- each time.
SELECT * FROM alert_transitions
WHERE customer_id = @customer_id AND episode_id = ANY(@episode_ids::bigint[])
ORDER BY episode_id, seq
LIMIT @max_rows;

-- name: AlertEpisodeGet :one
SELECT * FROM alert_episodes WHERE customer_id = @customer_id AND id = @id;

-- name: AlertTransitionListForDigest :many
-- A customer's transitions that notify, made in [@start, @end_at), of
-- episodes at least @min_severity, oldest first, at most @max_rows.
SELECT t.*, e.payer, e.cpt_group, e.drift_type, e.opened_as_of
FROM alert_transitions t
JOIN alert_episodes e ON e.customer_id = t.customer_id AND e.id = t.episode_id
WHERE t.customer_id = @customer_id AND t.created_at >= @start AND t.created_at < @end_at
  AND t.kind IN ('opened', 'reopened', 'escalated', 'resolved') AND t.severity >= @min_severity
ORDER BY t.created_at, t.id
LIMIT @max_rows;
