-- +goose Up
CREATE TABLE customers (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT customers_name_key UNIQUE (name),
    CONSTRAINT customers_name_not_blank CHECK (btrim(name) <> '')
);

-- raw_name_key is the lookup key: the raw payer name trimmed and lower-cased,
-- so that matching is case-insensitive after trimming.
CREATE TABLE payer_mappings (
    customer_id     bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    raw_name_key    text   NOT NULL,
    raw_name        text   NOT NULL,
    normalized_name text   NOT NULL,
    PRIMARY KEY (customer_id, raw_name_key),
    CONSTRAINT payer_mappings_key_normalized CHECK (raw_name_key = lower(btrim(raw_name)) AND raw_name_key <> ''),
    CONSTRAINT payer_mappings_normalized_not_blank CHECK (btrim(normalized_name) <> '')
);

CREATE TABLE cpt_group_mappings (
    customer_id bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    cpt         text   NOT NULL,
    cpt_group   text   NOT NULL,
    PRIMARY KEY (customer_id, cpt),
    CONSTRAINT cpt_group_mappings_cpt_not_blank CHECK (btrim(cpt) <> ''),
    CONSTRAINT cpt_group_mappings_group_not_blank CHECK (btrim(cpt_group) <> '')
);

-- +goose Down
DROP TABLE cpt_group_mappings;
DROP TABLE payer_mappings;
DROP TABLE customers;
