-- Switchboard's normalized store. Portable SQL (SQLite and PostgreSQL): integer ids, times as
-- Unix milliseconds, CHECK constraints instead of enum types.

CREATE TABLE agents (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    email       TEXT NOT NULL UNIQUE,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'agent')),
    created_at  BIGINT NOT NULL,
    disabled_at BIGINT
);

-- Tokens are "sb_<prefix>_<secret>": the prefix finds the row, the argon2 hash verifies the secret.
CREATE TABLE api_tokens (
    id          INTEGER PRIMARY KEY,
    agent_id    INTEGER NOT NULL REFERENCES agents (id),
    prefix      TEXT NOT NULL UNIQUE,
    token_hash  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

CREATE TABLE contacts (
    id           INTEGER PRIMARY KEY,
    display_name TEXT NOT NULL,
    -- Set when merged: the contact lives on in the one it was merged into.
    merged_into  INTEGER REFERENCES contacts (id),
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE contact_identities (
    id           INTEGER PRIMARY KEY,
    contact_id   INTEGER NOT NULL REFERENCES contacts (id),
    channel      TEXT NOT NULL,
    external_id  TEXT NOT NULL,
    display_name TEXT NOT NULL,
    username     TEXT,
    language     TEXT,
    created_at   BIGINT NOT NULL,
    UNIQUE (channel, external_id)
);
CREATE INDEX contact_identities_contact ON contact_identities (contact_id);

CREATE TABLE conversations (
    id                 INTEGER PRIMARY KEY,
    channel            TEXT NOT NULL,
    external_thread_id TEXT NOT NULL,
    contact_id         INTEGER NOT NULL REFERENCES contacts (id),
    status             TEXT NOT NULL DEFAULT 'open'
                       CHECK (status IN ('open', 'pending', 'snoozed', 'resolved')),
    assignee_id        INTEGER REFERENCES agents (id),
    priority           TEXT NOT NULL DEFAULT 'normal'
                       CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    subject            TEXT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    last_message_at    BIGINT NOT NULL,
    UNIQUE (channel, external_thread_id)
);
CREATE INDEX conversations_inbox ON conversations (last_message_at DESC, id DESC);
CREATE INDEX conversations_contact ON conversations (contact_id);

CREATE TABLE messages (
    id                  INTEGER PRIMARY KEY,
    conversation_id     INTEGER NOT NULL REFERENCES conversations (id),
    channel             TEXT NOT NULL,
    direction           TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    -- Inbound: the identity that wrote it. Outbound: the agent.
    sender_identity_id  INTEGER REFERENCES contact_identities (id),
    sender_agent_id     INTEGER REFERENCES agents (id),
    sender_name         TEXT NOT NULL,
    text                TEXT NOT NULL,
    html                TEXT,
    -- The platform's id; NULL until an outbound message is delivered. Unique per channel: this is
    -- what makes ingest idempotent.
    external_id         TEXT,
    reply_to_external_id TEXT,
    delivery_status     TEXT CHECK (delivery_status IN ('pending', 'sent', 'failed')),
    error               TEXT,
    auto_generated      INTEGER NOT NULL DEFAULT 0,
    sent_at             BIGINT,
    edited_at           BIGINT,
    deleted_at          BIGINT,
    created_at          BIGINT NOT NULL,
    UNIQUE (channel, external_id)
);
CREATE INDEX messages_conversation ON messages (conversation_id, id);

-- An edit or delete never overwrites: the text before it is kept here.
CREATE TABLE message_revisions (
    id          INTEGER PRIMARY KEY,
    message_id  INTEGER NOT NULL REFERENCES messages (id),
    kind        TEXT NOT NULL CHECK (kind IN ('edit', 'delete')),
    text        TEXT NOT NULL,
    html        TEXT,
    replaced_at BIGINT NOT NULL
);
CREATE INDEX message_revisions_message ON message_revisions (message_id);

-- Files live content-addressed under the data dir (attachments/<sha256>); rows hold metadata only.
CREATE TABLE attachments (
    id           INTEGER PRIMARY KEY,
    message_id   INTEGER NOT NULL REFERENCES messages (id),
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         BIGINT,
    sha256       TEXT,
    -- Why the bytes are missing (over a size cap, ...), when they are.
    note         TEXT,
    created_at   BIGINT NOT NULL
);
CREATE INDEX attachments_message ON attachments (message_id);

-- Where each channel's inbound stopped; committed in the same transaction as the messages.
CREATE TABLE channel_cursors (
    channel    TEXT PRIMARY KEY,
    cursor     TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- One row per outbound message until it is delivered or has failed for good.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    message_id      INTEGER NOT NULL UNIQUE REFERENCES messages (id),
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    channel         TEXT NOT NULL,
    status          TEXT NOT NULL
                    CHECK (status IN ('scheduled', 'sending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    due_at          BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX outbox_due ON outbox (status, due_at);
CREATE INDEX outbox_conversation ON outbox (conversation_id, status, id);
