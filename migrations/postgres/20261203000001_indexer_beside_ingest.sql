-- The search indexer no longer holds the write lock, so an edit may commit between its read of
-- `indexed_through` and its write of it: every edit now takes the message out of the index and
-- queues it, whether or not the indexer had reached it (a message indexed with its old text
-- in that window would otherwise keep it).
CREATE OR REPLACE FUNCTION messages_search_edited() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM message_search WHERE message_id = OLD.id;
    INSERT INTO search_reindex (message_id) VALUES (OLD.id) ON CONFLICT DO NOTHING;
    RETURN NULL;
END;
$$;
