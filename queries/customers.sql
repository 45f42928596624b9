-- name: CustomerCreate :one
INSERT INTO customers (name) VALUES (@name) RETURNING *;

-- name: CustomerGetByName :one
SELECT * FROM customers WHERE name = @name;

-- name: CustomerGetByID :one
SELECT * FROM customers WHERE id = @id;

-- name: CustomerList :many
SELECT * FROM customers ORDER BY name;
