-- Agents' private notes on a conversation (never sent to the customer), and canned answers.

CREATE TABLE notes (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    agent_id        INTEGER NOT NULL REFERENCES agents (id),
    text            TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX notes_conversation ON notes (conversation_id, id);

CREATE TABLE canned_answers (
    id         INTEGER PRIMARY KEY,
    -- What an agent types to find it, e.g. "seed-phrase".
    shortcut   TEXT NOT NULL UNIQUE,
    title      TEXT NOT NULL,
    text       TEXT NOT NULL,
    created_by INTEGER REFERENCES agents (id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
