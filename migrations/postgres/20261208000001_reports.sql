-- Reports read conversations resolved and reopened in a range, agents' replies and
-- resolutions in a range: each by an index of its own.
CREATE INDEX conversations_resolved ON conversations (status_since) WHERE status = 'resolved';
CREATE INDEX conversations_reopened ON conversations (reopened_at) WHERE reopened_at IS NOT NULL;
CREATE INDEX messages_agent_replies ON messages (created_at, sender_agent_id)
    WHERE sender_agent_id IS NOT NULL;
CREATE INDEX conversation_activity_resolved ON conversation_activity (created_at)
    WHERE field = 'status' AND new_value = 'resolved';
