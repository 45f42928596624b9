-- name: PayerMappingDeleteByCustomer :exec
DELETE FROM payer_mappings WHERE customer_id = @customer_id;

-- name: PayerMappingInsertMany :copyfrom
INSERT INTO payer_mappings (customer_id, raw_name_key, raw_name, normalized_name)
VALUES (@customer_id, @raw_name_key, @raw_name, @normalized_name);

-- name: PayerMappingListByCustomer :many
SELECT * FROM payer_mappings WHERE customer_id = @customer_id ORDER BY raw_name_key;

-- name: CPTGroupMappingDeleteByCustomer :exec
DELETE FROM cpt_group_mappings WHERE customer_id = @customer_id;

-- name: CPTGroupMappingInsertMany :copyfrom
INSERT INTO cpt_group_mappings (customer_id, cpt, cpt_group) VALUES (@customer_id, @cpt, @cpt_group);

-- name: CPTGroupMappingListByCustomer :many
SELECT * FROM cpt_group_mappings WHERE customer_id = @customer_id ORDER BY cpt;
