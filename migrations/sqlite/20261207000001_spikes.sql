-- Spike alerts: an episode per category or keyword while more new conversations than the
-- threshold arrive within the window. At most one open episode per kind and key, so of
-- several daemons one opens it and fires its alert, once.
CREATE TABLE spike_episodes (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('category', 'keyword')),
    key         TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    ended_at    BIGINT,
    peak        BIGINT NOT NULL,
    -- The webhook's outcome: delivered, or why not; NULL while sending or without a webhook.
    webhook     TEXT
);
CREATE UNIQUE INDEX spike_episodes_open ON spike_episodes (kind, key) WHERE ended_at IS NULL;
CREATE INDEX spike_episodes_started ON spike_episodes (started_at);
