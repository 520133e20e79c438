-- The people on a conversation besides its contact, where the channel has such a notion (email
-- From/To/Cc): each may write into the conversation, and replies go to all of them.
CREATE TABLE conversation_participants (
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    address         TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, address)
);
CREATE INDEX conversation_participants_address ON conversation_participants (address);
