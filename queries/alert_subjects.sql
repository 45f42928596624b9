-- name: AlertSubjectGetForUpdate :one
-- Locked: a computation and a person's action on the same subject take
-- turns.
SELECT * FROM alert_subjects
WHERE customer_id = @customer_id AND payer = @payer AND cpt_group = @cpt_group AND drift_type = @drift_type
FOR UPDATE;

-- name: AlertSubjectOpen :one
-- A new alert opens its subject, or re-arms a resolved one or an expired
-- snooze.
INSERT INTO alert_subjects (customer_id, payer, cpt_group, drift_type, state, last_alert_run_id, updated_by)
VALUES (@customer_id, @payer, @cpt_group, @drift_type, 'open', @run_id, 'system')
ON CONFLICT (customer_id, payer, cpt_group, drift_type) DO UPDATE
SET state = 'open', note = NULL, snoozed_until = NULL, last_alert_run_id = @run_id, updated_at = now(), updated_by = 'system'
RETURNING *;

-- name: AlertSubjectTouch :exec
UPDATE alert_subjects SET last_alert_run_id = @run_id
WHERE customer_id = @customer_id AND payer = @payer AND cpt_group = @cpt_group AND drift_type = @drift_type;

-- name: AlertSubjectSetState :one
UPDATE alert_subjects
SET state = @state, note = sqlc.narg(note), snoozed_until = sqlc.narg(snoozed_until), updated_at = now(), updated_by = @actor
WHERE customer_id = @customer_id AND payer = @payer AND cpt_group = @cpt_group AND drift_type = @drift_type
RETURNING *;

-- name: AlertSubjectListByCustomer :many
-- A page of the customer's subjects, most recently changed first, after
-- the subject the cursor names (none: the first page).
SELECT * FROM alert_subjects
WHERE customer_id = @customer_id
  AND (NOT @has_after::boolean OR updated_at < @after_updated_at::timestamptz
       OR (updated_at = @after_updated_at::timestamptz
           AND (payer, cpt_group, drift_type) > (@after_payer::text, @after_cpt_group::text, @after_drift_type::text)))
ORDER BY updated_at DESC, payer, cpt_group, drift_type
LIMIT @max_rows;

-- name: AlertSubjectChangeInsert :exec
INSERT INTO alert_subject_changes (customer_id, payer, cpt_group, drift_type, from_state, to_state, note, snoozed_until, actor)
VALUES (@customer_id, @payer, @cpt_group, @drift_type, sqlc.narg(from_state), @to_state, sqlc.narg(note), sqlc.narg(snoozed_until), @actor);

-- name: AlertSubjectChangeListBySubject :many
SELECT * FROM alert_subject_changes
WHERE customer_id = @customer_id AND payer = @payer AND cpt_group = @cpt_group AND drift_type = @drift_type
ORDER BY id;

-- name: AlertSubjectListCells :many
-- The (payer, CPT group) cells with subjects, to match names people type.
SELECT DISTINCT payer, cpt_group FROM alert_subjects WHERE customer_id = @customer_id ORDER BY payer, cpt_group;
