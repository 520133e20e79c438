-- Follow-ups: since when a conversation has its status (a pending one is reminded, then
-- resolved, after so long), when the reminder of this pending stretch went out, and when a
-- snoozed one wakes up (null: when the customer writes).
ALTER TABLE conversations ADD COLUMN status_since BIGINT;
ALTER TABLE conversations ADD COLUMN reminded_at BIGINT;
ALTER TABLE conversations ADD COLUMN snoozed_until BIGINT;
UPDATE conversations SET status_since = updated_at;
CREATE INDEX conversations_pending ON conversations (status_since) WHERE status = 'pending';
CREATE INDEX conversations_snoozed ON conversations (snoozed_until) WHERE snoozed_until IS NOT NULL;
