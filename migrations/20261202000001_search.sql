-- Full-text search over message text: an FTS5 index of trigrams, so a search finds any
-- substring of three or more characters in any script (Chinese has no spaces to split words
-- on), case-insensitively (Unicode case folding, not only ASCII). External content: the text is
-- stored once, in `messages`; the index holds only what the secret guard let through.
CREATE VIRTUAL TABLE messages_fts USING fts5 (
    text,
    content = 'messages',
    content_rowid = 'id',
    tokenize = 'trigram case_sensitive 0'
);

-- New messages are indexed behind ingest, in large batches, by the daemon's search indexer:
-- indexing each in the ingest transaction cost a third of ingest throughput. Messages past
-- `indexed_through` are searched by a scan until the indexer reaches them, so a search never
-- misses one.
CREATE TABLE search_index_state (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    indexed_through  BIGINT NOT NULL
);
INSERT INTO search_index_state (id, indexed_through) VALUES (1, 0);

-- An edit of an indexed message re-indexes it: search finds a message by its current text
-- (earlier ones are revisions). The old values are exactly what was indexed.
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages
WHEN old.id <= (SELECT indexed_through FROM search_index_state WHERE id = 1)
BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text);
END;

CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
WHEN old.id <= (SELECT indexed_through FROM search_index_state WHERE id = 1)
BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
