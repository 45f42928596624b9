-- name: UploadCreate :one
-- The row exists before its claims stream in; UploadComplete fills the rest
-- in the same transaction.
INSERT INTO uploads (customer_id, filename) VALUES (@customer_id, @filename) RETURNING id;

-- name: UploadComplete :one
UPDATE uploads
SET status             = 'completed',
    sha256             = @sha256,
    rows_total         = @rows_total,
    accepted           = @accepted,
    rejected           = @rejected,
    warnings           = @warnings,
    min_submitted_date = sqlc.narg(min_submitted_date),
    max_submitted_date = sqlc.narg(max_submitted_date),
    errors             = @errors,
    warning_details    = @warning_details,
    notices            = @notices,
    claims_new         = @claims_new,
    claims_revised     = @claims_revised,
    claims_unchanged   = @claims_unchanged
WHERE id = @id
RETURNING *;

-- name: UploadGetByID :one
SELECT * FROM uploads WHERE customer_id = @customer_id AND id = @id;

-- name: UploadGetBySHA256 :one
SELECT * FROM uploads WHERE customer_id = @customer_id AND sha256 = @sha256;


-- name: UploadSetJob :one
UPDATE uploads SET job_id = @job_id, job_coalesced = @job_coalesced WHERE id = @id RETURNING *;

-- name: UploadListByCustomer :many
-- Newest first; keyset pagination on id.
SELECT * FROM uploads
WHERE customer_id = @customer_id
  AND (sqlc.narg(before_id)::bigint IS NULL OR id < sqlc.narg(before_id)::bigint)
ORDER BY id DESC
LIMIT @max_rows;

-- name: UploadGetForDelete :one
-- Locked, so two deletions of one upload take turns and the second finds
-- nothing.
SELECT * FROM uploads WHERE customer_id = @customer_id AND id = @id FOR UPDATE;

-- name: UploadDelete :exec
-- Its claims go with it (ON DELETE CASCADE).
DELETE FROM uploads WHERE customer_id = @customer_id AND id = @id;
