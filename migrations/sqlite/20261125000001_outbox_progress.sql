-- How far a delivery that goes out as several platform messages (a long text in parts, files)
-- got: a retry continues after the parts already delivered instead of sending them again.
ALTER TABLE outbox ADD COLUMN parts_sent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN first_external_id TEXT;
