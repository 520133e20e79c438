-- The front desk (src/automation): languages, the desk's state and the intake answers per
-- conversation, when agents were last active (the expected wait), the queue of customer
-- messages the desk has yet to answer, and known-issue notices.
ALTER TABLE messages ADD COLUMN language TEXT;
-- JSON: the answers an automatic question offers as buttons (Telegram's reply keyboard).
ALTER TABLE messages ADD COLUMN choices TEXT;
ALTER TABLE conversations ADD COLUMN language TEXT;
-- Set by ingest when a customer's message reopens a resolved or snoozed conversation.
ALTER TABLE conversations ADD COLUMN reopened_at BIGINT;
-- JSON: where the desk is with this conversation (acknowledged, asking, handed off, ...).
ALTER TABLE conversations ADD COLUMN front_desk TEXT;
-- JSON: the customer's validated intake answers ({"category": ..., "tx_hash": ...}).
ALTER TABLE conversations ADD COLUMN intake TEXT;
ALTER TABLE agents ADD COLUMN last_active_at BIGINT;

-- Filled in the ingest transaction, emptied in the desk's transaction that queues its answer:
-- every customer message is considered exactly once, across crashes and restarts.
CREATE TABLE automation_queue (
    message_id      BIGINT PRIMARY KEY REFERENCES messages (id),
    conversation_id BIGINT NOT NULL REFERENCES conversations (id),
    trigger         TEXT NOT NULL CHECK (trigger IN ('opened', 'reopened', 'message')),
    created_at      BIGINT NOT NULL
);
CREATE INDEX automation_queue_conversation ON automation_queue (conversation_id, message_id);

CREATE TABLE notices (
    id         INTEGER PRIMARY KEY,
    -- JSON {"en": "...", "zh": "..."}
    texts      TEXT NOT NULL,
    -- JSON lists; a notice matches a conversation by any keyword in the customer's text or by
    -- its intake category; both empty: every conversation.
    keywords   TEXT NOT NULL DEFAULT '[]',
    categories TEXT NOT NULL DEFAULT '[]',
    starts_at  BIGINT NOT NULL,
    ends_at    BIGINT NOT NULL,
    created_by BIGINT REFERENCES agents (id),
    created_at BIGINT NOT NULL
);
CREATE INDEX notices_active ON notices (ends_at);

-- The expected wait counts the open conversations waiting for an agent and takes the median
-- first response of the recent ones.
CREATE INDEX conversations_waiting ON conversations (status, last_message_at);
CREATE INDEX conversations_created ON conversations (created_at);
