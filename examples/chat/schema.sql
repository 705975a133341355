-- The chat example's schema: the group messages that pgsync-serve serves, and who belongs to
-- which group, which only the example's backend reads (examples/chat/backend.py).
-- Idempotent: loading it again into the same database changes nothing.

CREATE TABLE IF NOT EXISTS messages (
    group_name        text        NOT NULL,
    sender_name       text        NOT NULL,
    message_text      text        NOT NULL,
    message_timestamp timestamptz NOT NULL DEFAULT now(),
    message_id        uuid        PRIMARY KEY DEFAULT gen_random_uuid()
);

-- A group's history in order: the query every chat client runs. It also serves the page's live
-- window, the latest 50 of a group (group_name = $1 ORDER BY message_timestamp DESC LIMIT 50):
-- pgsync-serve accepts an index scanned backwards, so a second index (group_name,
-- message_timestamp DESC) would only cost writes. Without either, the window is refused with
-- bad-order.
CREATE INDEX IF NOT EXISTS messages_group_name_message_timestamp_idx
    ON messages (group_name, message_timestamp);

-- pgsync-serve's clients filter on group_name: with the full old row in the WAL, an update or a
-- delete is matched exactly against each filter (cdc-hard-cases F7) instead of reaching every
-- filtered subscription as a key-only delete.
ALTER TABLE messages REPLICA IDENTITY FULL;

-- Who may read and write which group: the backend signs users in by name (a demo, no passwords),
-- asks pgsync-serve for tokens that grant their groups, and answers pgsync-serve's row webhook
-- from this table. Not published: pgsync-serve never serves it.
CREATE TABLE IF NOT EXISTS group_members (
    user_name  text NOT NULL,
    group_name text NOT NULL,
    PRIMARY KEY (user_name, group_name)
);
