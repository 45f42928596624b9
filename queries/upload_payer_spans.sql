-- name: UploadPayerSpansInsert :exec
INSERT INTO upload_payer_spans (customer_id, upload_id, payer, first_decided, last_decided, claims)
SELECT @customer_id, @upload_id, unnest(@payers::text[]), unnest(@first_decided::date[]), unnest(@last_decided::date[]), unnest(@claims::int[]);

-- name: UploadPayerSpansOverlapping :many
-- Other uploads of the customer whose span for a payer overlaps this
-- upload's (already stored), first 20.
SELECT s.upload_id, u.filename, s.payer, s.first_decided, s.last_decided,
       n.first_decided AS new_first_decided, n.last_decided AS new_last_decided
FROM upload_payer_spans n
JOIN upload_payer_spans s ON s.customer_id = n.customer_id AND s.payer = n.payer
    AND s.first_decided <= n.last_decided AND n.first_decided <= s.last_decided
JOIN uploads u ON u.customer_id = s.customer_id AND u.id = s.upload_id
WHERE n.customer_id = @customer_id AND n.upload_id = @upload_id AND s.upload_id <> @upload_id
ORDER BY s.upload_id, s.payer
LIMIT 20;

-- name: ClaimRecordsWithoutIDInSpans :one
-- The rows without claim ids of other uploads that this upload replaces:
-- its payers' rows decided within its (stored) span for that payer.
SELECT coalesce(array_agg(r.upload_id), '{}')::bigint[] AS upload_ids, coalesce(array_agg(r.source_row), '{}')::int[] AS source_rows
FROM upload_payer_spans n
JOIN claim_records r ON r.customer_id = n.customer_id AND r.payer = n.payer AND r.decided_date BETWEEN n.first_decided AND n.last_decided
WHERE n.customer_id = @customer_id AND n.upload_id = @upload_id AND r.upload_id <> @upload_id AND r.claim_id IS NULL;

-- name: ClaimRecordsDeleteVersions :exec
DELETE FROM claim_records r
USING (SELECT unnest(@upload_ids::bigint[]) AS upload_id, unnest(@source_rows::int[]) AS source_row) AS v
WHERE r.customer_id = @customer_id AND r.upload_id = v.upload_id AND r.source_row = v.source_row;

-- name: UploadPayerSpansDelete :exec
DELETE FROM upload_payer_spans WHERE customer_id = @customer_id AND upload_id BETWEEN @first_upload AND @last_upload;

-- name: UploadPayerSpansRebuild :exec
-- Rebuilds the spans of the customer's uploads with ids in
-- [@first_upload, @last_upload] from their claims, after
-- UploadPayerSpansDelete (replaced rows were deleted, or payers
-- reclassified).
INSERT INTO upload_payer_spans (customer_id, upload_id, payer, first_decided, last_decided, claims)
SELECT r.customer_id, r.upload_id, r.payer, min(r.decided_date), max(r.decided_date), count(*)
FROM claim_records r
WHERE r.customer_id = @customer_id AND r.upload_id BETWEEN @first_upload AND @last_upload
GROUP BY r.customer_id, r.upload_id, r.payer;
