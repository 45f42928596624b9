-- name: WebhookDeliveryCreate :one
-- At most one delivery per (endpoint, transition), and its message id is
-- derived from them: a second attempt to create it returns no row.
INSERT INTO webhook_deliveries (customer_id, endpoint_id, report_run_id, transition_id, episode_id, reminder_seq, digest_period,
    message_id, payload)
VALUES (@customer_id, @endpoint_id, sqlc.narg(report_run_id), sqlc.narg(transition_id), sqlc.narg(episode_id), sqlc.narg(reminder_seq),
    sqlc.narg(digest_period), @message_id, @payload)
ON CONFLICT DO NOTHING
RETURNING id;

-- name: WebhookDeliveryGetForSend :one
SELECT d.id, d.customer_id, d.endpoint_id, d.message_id, d.payload, d.status,
       e.url, e.enabled, e.secret, e.secret_key_id, e.secret_sealed,
       e.previous_secret, e.previous_secret_key_id, e.previous_secret_sealed, e.previous_secret_expires_at
FROM webhook_deliveries d
JOIN webhook_endpoints e ON e.customer_id = d.customer_id AND e.id = d.endpoint_id
WHERE d.id = @id;

-- name: WebhookDeliveryMarkDelivered :exec
UPDATE webhook_deliveries SET status = 'delivered', delivered_at = now()
WHERE id = @id AND status <> 'delivered';

-- name: WebhookDeliveryCancel :exec
-- A final state for a delivery whose job was cancelled.
UPDATE webhook_deliveries SET status = 'cancelled', status_reason = @reason WHERE id = @id AND status = 'pending';

-- name: WebhookDeliveryMarkFailed :exec
UPDATE webhook_deliveries SET status = 'failed' WHERE id = @id AND status = 'pending';

-- name: WebhookDeliveryListByEndpoint :many
-- A page of the endpoint's deliveries, newest first, before id @before_id
-- (0: from the newest).
SELECT * FROM webhook_deliveries
WHERE customer_id = @customer_id AND endpoint_id = @endpoint_id AND (@before_id::bigint = 0 OR id < @before_id::bigint)
ORDER BY id DESC
LIMIT @max_rows;

-- name: WebhookDeliveryCountByRun :one
SELECT count(*) FROM webhook_deliveries WHERE customer_id = @customer_id AND report_run_id = @report_run_id;

-- name: WebhookAttemptBegin :one
-- Recorded and committed before the request is sent, so an attempt whose
-- worker dies is still in the log. Attempts left 'sending' by a dead
-- worker become 'unknown': the receiver may or may not have them.
WITH abandoned AS (
    UPDATE webhook_attempts SET state = 'unknown' WHERE delivery_id = @delivery_id AND state = 'sending'
), counted AS (
    UPDATE webhook_deliveries SET attempts = attempts + 1 WHERE id = @delivery_id
)
INSERT INTO webhook_attempts (delivery_id, state) VALUES (@delivery_id, 'sending')
RETURNING id;

-- name: WebhookAttemptFinish :exec
UPDATE webhook_attempts
SET state = 'done', status_code = sqlc.narg(status_code), latency_ms = @latency_ms,
    error = sqlc.narg(error), response = sqlc.narg(response)
WHERE id = @id;

-- name: WebhookAttemptListByDeliveries :many
SELECT * FROM webhook_attempts WHERE delivery_id = ANY(@delivery_ids::bigint[]) ORDER BY delivery_id, id;

-- name: WebhookReminderDue :many
-- Per enabled endpoint that asks for reminders and open episode of the
-- customer whose subject is open (not acknowledged or snoozed): the
-- reminders it got so far, when the last message of the episode it got
-- came from a computation as of at least repeat_after_days before
-- @as_of. Messages with no computation (a person's) do not count.
SELECT ep.id AS endpoint_id, e.id AS episode_id, count(d.reminder_seq)::int AS reminders
FROM webhook_endpoints ep
JOIN alert_episodes e ON e.customer_id = ep.customer_id AND e.resolved_at IS NULL
JOIN alert_subjects s ON s.customer_id = e.customer_id AND s.payer = e.payer AND s.cpt_group = e.cpt_group
    AND s.drift_type = e.drift_type AND s.state = 'open'
JOIN webhook_deliveries d ON d.customer_id = ep.customer_id AND d.endpoint_id = ep.id
    AND (d.episode_id = e.id OR d.transition_id IN (SELECT t.id FROM alert_transitions t WHERE t.customer_id = e.customer_id AND t.episode_id = e.id))
JOIN report_runs r ON r.customer_id = d.customer_id AND r.id = d.report_run_id
WHERE ep.customer_id = @customer_id AND ep.enabled AND ep.repeat_after_days IS NOT NULL AND ep.digest IS NULL
GROUP BY ep.id, e.id, ep.repeat_after_days
HAVING max(r.as_of) + ep.repeat_after_days <= @as_of::date
ORDER BY ep.id, e.id;
