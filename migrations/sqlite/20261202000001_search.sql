-- Full-text search over message text: an FTS5 index of trigrams, so a search finds any
-- substring of three or more characters in any script, case-insensitively (Unicode case
-- folding, not only ASCII). Chinese and Japanese have no spaces to split words on, and many of
-- their words have two characters: `pairs` holds every two-character run of such text, each
-- followed by a space, so "充值" is found as the trigram "充值 ". Contentless: the text is stored
-- once, in `messages`; the index holds only what the secret guard let through.
CREATE VIRTUAL TABLE messages_fts USING fts5 (
    text,
    pairs,
    content = '',
    contentless_delete = 1,
    tokenize = 'trigram case_sensitive 0'
);

-- The daemon's search indexer fills the index behind ingest, in large batches (the index rows
-- are built in Rust: `pairs`): indexing each message in the ingest transaction cost a third of
-- ingest throughput. Messages past `indexed_through` are searched by a scan until the indexer
-- reaches them, so a search never misses one.
CREATE TABLE search_index_state (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    indexed_through  BIGINT NOT NULL
);
INSERT INTO search_index_state (id, indexed_through) VALUES (1, 0);

-- Indexed messages whose text changed since: the indexer indexes them again. Until then they
-- are searched by a scan, like new ones.
CREATE TABLE search_reindex (
    message_id  INTEGER PRIMARY KEY REFERENCES messages (id)
);

-- An edit takes an indexed message out of the index and queues it: search finds a message by
-- its current text (earlier ones are revisions).
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages
WHEN old.id <= (SELECT indexed_through FROM search_index_state WHERE id = 1)
BEGIN
    DELETE FROM messages_fts WHERE rowid = old.id;
    INSERT INTO search_reindex (message_id) VALUES (old.id) ON CONFLICT DO NOTHING;
END;

CREATE TRIGGER messages_fts_delete BEFORE DELETE ON messages BEGIN
    DELETE FROM messages_fts WHERE rowid = old.id;
    DELETE FROM search_reindex WHERE message_id = old.id;
END;
