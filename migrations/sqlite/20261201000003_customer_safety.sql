-- Customer safety: marks on conversations, identity verification by one-time code.

-- What agents must see on a conversation (a JSON array of names, e.g. ["secret_removed"]):
-- few and rarely set, so a column beats a join on every inbox row.
ALTER TABLE conversations ADD COLUMN flags TEXT NOT NULL DEFAULT '[]';

-- One attempt to verify that the customer of a conversation controls an email address. Only
-- the code's SHA-256 (keyed with the attempt id, so equal codes never share a hash) is kept.
CREATE TABLE verifications (
    id               INTEGER PRIMARY KEY,
    conversation_id  INTEGER NOT NULL REFERENCES conversations (id),
    email            TEXT NOT NULL,
    code_sha256      TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'verified', 'locked', 'expired', 'superseded')),
    failed_attempts  INTEGER NOT NULL DEFAULT 0,
    requested_by     INTEGER REFERENCES agents (id),
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    finished_at      BIGINT
);
CREATE INDEX verifications_conversation ON verifications (conversation_id, status);

-- Emails a contact proved to control. Keyed by contact: a merge moves them along, and every
-- channel of a merged contact shows them. Verifying never merges contacts by itself.
CREATE TABLE contact_verified_emails (
    contact_id       INTEGER NOT NULL REFERENCES contacts (id),
    email            TEXT NOT NULL,
    verified_at      BIGINT NOT NULL,
    verification_id  INTEGER NOT NULL REFERENCES verifications (id),
    PRIMARY KEY (contact_id, email)
);
