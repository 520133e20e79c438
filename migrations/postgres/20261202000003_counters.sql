-- Counters every daemon on the database reads: `merge_generation` is bumped by each contact merge
-- so every daemon's ingest writer drops the identities it cached (they may name a merged contact).
CREATE TABLE store_counters (
    name TEXT PRIMARY KEY NOT NULL,
    value BIGINT NOT NULL
);
