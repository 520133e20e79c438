-- Satisfaction surveys: one row per survey sent (at most one per resolution), with the
-- customer's rating and comment once given.
CREATE TABLE surveys (
    id              INTEGER PRIMARY KEY,
    conversation_id BIGINT NOT NULL REFERENCES conversations (id),
    contact_id      BIGINT NOT NULL REFERENCES contacts (id),
    channel         TEXT NOT NULL,
    -- The question's outbound message.
    message_id      BIGINT,
    asked_at        BIGINT NOT NULL,
    score           BIGINT CHECK (score BETWEEN 1 AND 5),
    comment         TEXT,
    rated_at        BIGINT,
    commented_at    BIGINT
);
CREATE INDEX surveys_conversation ON surveys (conversation_id, id);
CREATE INDEX surveys_contact ON surveys (contact_id, asked_at);
CREATE INDEX surveys_asked ON surveys (asked_at);
-- Where a conversation's survey stands: 'due' (resolved, to be sent), 'rating' (sent, a
-- rating counts until survey_until), 'comment' (rated, the next message until survey_until
-- is the comment); NULL: none. The latest rating is kept on the conversation for lists.
ALTER TABLE conversations ADD COLUMN survey_state TEXT;
ALTER TABLE conversations ADD COLUMN survey_id BIGINT;
ALTER TABLE conversations ADD COLUMN survey_until BIGINT;
ALTER TABLE conversations ADD COLUMN csat_score BIGINT;
ALTER TABLE conversations ADD COLUMN csat_comment TEXT;
CREATE INDEX conversations_survey_due ON conversations (status_since) WHERE survey_state = 'due';
-- Answers offered as inline buttons (Telegram inline keyboard, Discord buttons) whose press
-- comes back as a customer message with the button's text: JSON list, NULL for none.
ALTER TABLE messages ADD COLUMN buttons TEXT;
