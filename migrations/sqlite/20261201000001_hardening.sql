-- no-transaction
-- Hardening. Runs outside the migrator's transaction because rebuilding `messages` needs foreign
-- keys off (SQLite's documented table-rebuild procedure); its own transaction keeps it atomic.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

-- Inbound and outbound external ids no longer share one uniqueness slot: a webhook receiver
-- naming its copy "chat-1" must not make a customer's later message "chat-1" a duplicate.
CREATE TABLE messages_rebuilt (
    id                  INTEGER PRIMARY KEY,
    conversation_id     INTEGER NOT NULL REFERENCES conversations (id),
    channel             TEXT NOT NULL,
    direction           TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    sender_identity_id  INTEGER REFERENCES contact_identities (id),
    sender_agent_id     INTEGER REFERENCES agents (id),
    sender_name         TEXT NOT NULL,
    text                TEXT NOT NULL,
    html                TEXT,
    external_id         TEXT,
    reply_to_external_id TEXT,
    delivery_status     TEXT CHECK (delivery_status IN ('pending', 'sent', 'failed', 'cancelled')),
    error               TEXT,
    auto_generated      INTEGER NOT NULL DEFAULT 0,
    sent_at             BIGINT,
    edited_at           BIGINT,
    deleted_at          BIGINT,
    created_at          BIGINT NOT NULL,
    UNIQUE (channel, direction, external_id)
);
INSERT INTO messages_rebuilt (id, conversation_id, channel, direction, sender_identity_id,
    sender_agent_id, sender_name, text, html, external_id, reply_to_external_id, delivery_status,
    error, auto_generated, sent_at, edited_at, deleted_at, created_at)
SELECT id, conversation_id, channel, direction, sender_identity_id, sender_agent_id, sender_name,
    text, html, external_id, reply_to_external_id, delivery_status, error, auto_generated, sent_at,
    edited_at, deleted_at, created_at
FROM messages;
DROP TABLE messages;
ALTER TABLE messages_rebuilt RENAME TO messages;
CREATE INDEX messages_conversation ON messages (conversation_id, id);
-- Lookups by platform id (edits, reply-to, bounces) without the direction.
CREATE INDEX messages_external ON messages (channel, external_id);

-- The outbox may also hold cancelled replies (an agent withdrew them).
CREATE TABLE outbox_rebuilt (
    id              INTEGER PRIMARY KEY,
    message_id      INTEGER NOT NULL UNIQUE REFERENCES messages (id),
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    channel         TEXT NOT NULL,
    status          TEXT NOT NULL
                    CHECK (status IN ('scheduled', 'sending', 'delivered', 'failed', 'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    due_at          BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    parts_sent      INTEGER NOT NULL DEFAULT 0,
    first_external_id TEXT,
    -- While `sending`: when the claim runs out. A row still `sending` after it (its daemon died,
    -- or recording the outcome failed) is claimed again instead of blocking its conversation.
    lease_until     BIGINT,
    -- Sent as X-Switchboard-Delivery: random, so it stays unique across restores and installs.
    delivery_id     TEXT
);
INSERT INTO outbox_rebuilt (id, message_id, conversation_id, channel, status, attempts, due_at,
    expires_at, last_error, created_at, updated_at, parts_sent, first_external_id, lease_until,
    delivery_id)
SELECT id, message_id, conversation_id, channel, status, attempts, due_at, expires_at, last_error,
    created_at, updated_at, parts_sent, first_external_id, NULL, lower(hex(randomblob(16)))
FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_rebuilt RENAME TO outbox;
CREATE INDEX outbox_due ON outbox (status, due_at);
CREATE INDEX outbox_conversation ON outbox (conversation_id, status, id);

-- A client retrying `POST .../messages` with the same Idempotency-Key gets the first reply back.
CREATE TABLE idempotency_keys (
    agent_id        INTEGER NOT NULL REFERENCES agents (id),
    key             TEXT NOT NULL,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    message_id      INTEGER NOT NULL REFERENCES messages (id),
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (agent_id, key)
);

-- API tokens carry 192 random bits: their SHA-256 is enough, and is looked up by index.
-- Tokens made before this keep their argon2 hash until their first use, which fills this in.
ALTER TABLE api_tokens ADD COLUMN token_sha256 TEXT;
CREATE UNIQUE INDEX api_tokens_sha256 ON api_tokens (token_sha256);

-- One row the health check writes to when writes failed, to see whether they work again.
CREATE TABLE store_probe (
    id INTEGER PRIMARY KEY,
    at BIGINT NOT NULL
);

COMMIT;
PRAGMA foreign_keys = ON;
