-- The chat example's schema: one table of group messages, read by scripts/quickstart.
-- Idempotent: loading it again into the same database changes nothing.

CREATE TABLE IF NOT EXISTS messages (
    group_name        text        NOT NULL,
    sender_name       text        NOT NULL,
    message_text      text        NOT NULL,
    message_timestamp timestamptz NOT NULL DEFAULT now(),
    message_id        uuid        PRIMARY KEY DEFAULT gen_random_uuid()
);

-- A group's history in order: the query every chat client runs, and the shape a subscription
-- on one group reads.
CREATE INDEX IF NOT EXISTS messages_group_name_message_timestamp_idx
    ON messages (group_name, message_timestamp);

-- pgsync-serve's clients filter on group_name: with the full old row in the WAL, an update or a
-- delete is matched exactly against each filter (cdc-hard-cases F7) instead of reaching every
-- filtered subscription as a key-only delete.
ALTER TABLE messages REPLICA IDENTITY FULL;
