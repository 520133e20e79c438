-- Queue management: teams, labels, the activity timeline, why a conversation is urgent, its
-- service-level clock, and what assignment needs to know of agents.
CREATE TABLE teams (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    -- JSON list of ISO 639-1 codes the team answers in.
    languages  TEXT NOT NULL DEFAULT '[]',
    -- New conversations of the team go round-robin to its online members.
    auto_assign BOOLEAN NOT NULL DEFAULT TRUE,
    -- 'config' teams are written from the configuration at every start; 'api' ones by admins.
    source     TEXT NOT NULL DEFAULT 'api' CHECK (source IN ('config', 'api')),
    created_at BIGINT NOT NULL
);

CREATE TABLE team_members (
    team_id  BIGINT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    agent_id BIGINT NOT NULL REFERENCES agents (id),
    PRIMARY KEY (team_id, agent_id)
);
CREATE INDEX team_members_agent ON team_members (agent_id);

-- The colours of labels; a conversation's labels are a JSON list of names on it.
CREATE TABLE labels (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    color      TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Who changed what of a conversation and when (the timeline beside the messages).
CREATE TABLE conversation_activity (
    id              INTEGER PRIMARY KEY,
    conversation_id BIGINT NOT NULL REFERENCES conversations (id),
    -- The agent, or NULL for automation (then `actor` names the rule or detector).
    agent_id        BIGINT REFERENCES agents (id),
    actor           TEXT NOT NULL,
    field           TEXT NOT NULL,
    old_value       TEXT,
    new_value       TEXT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX conversation_activity_conversation ON conversation_activity (conversation_id, id);

ALTER TABLE conversations ADD COLUMN team_id BIGINT REFERENCES teams (id);
-- 'agent' once an agent chose the team: rules leave it alone from then on.
ALTER TABLE conversations ADD COLUMN team_source TEXT;
ALTER TABLE conversations ADD COLUMN labels TEXT NOT NULL DEFAULT '[]';
ALTER TABLE conversations ADD COLUMN priority_reason TEXT;
-- The service-level clock (ms): due times of the policy of the conversation's priority,
-- when an agent first answered, the breaches so far (JSON list), and the next instant the
-- sweeper must look at the conversation (NULL: nothing pending).
ALTER TABLE conversations ADD COLUMN sla_first_response_due BIGINT;
ALTER TABLE conversations ADD COLUMN sla_next_response_due BIGINT;
ALTER TABLE conversations ADD COLUMN sla_resolution_due BIGINT;
ALTER TABLE conversations ADD COLUMN first_replied_at BIGINT;
ALTER TABLE conversations ADD COLUMN sla_breaches TEXT NOT NULL DEFAULT '[]';
ALTER TABLE conversations ADD COLUMN sla_watch BIGINT;
CREATE INDEX conversations_sla_watch ON conversations (sla_watch);
CREATE INDEX conversations_team ON conversations (team_id, status);

-- Round-robin: the member assigned least recently goes next.
ALTER TABLE agents ADD COLUMN last_assigned_at BIGINT;
