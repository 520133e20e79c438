-- Where an adapter delivers for a key of its own (Discord: a customer's thread under a support
-- channel). State that lived in the channel cursor, which now holds positions only: a table
-- has no size limit and is not rewritten with every message.
CREATE TABLE channel_routes (
    channel    TEXT NOT NULL,
    route_key  TEXT NOT NULL,
    target     TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (channel, route_key)
);
