#!/usr/bin/env python3
"""An acknowledging consumer for pgsync-stream (format native), Python standard library only.

Reads pgsync-stream's NDJSON on stdin and stores every change record in SQLite, one SQLite
transaction per PostgreSQL transaction. Only after that transaction is committed to disk does it
append the commit's end_lsn to the ack file, which lets pgsync-stream move the slot past it:

    pgsync-stream -d chat -S chat_slot -P chat_pub --ack-file ack.lsn |
        examples/stream/consumer.py --ack-file ack.lsn --db changes.sqlite3

After a crash (of either side) pgsync-stream sends again every transaction after the slot's
position, so some arrive twice. A replayed transaction is recognised by its commit_lsn, which
only grows, and is acknowledged again without being stored again.
"""
import argparse
import json
import sqlite3
import sys


def lsn_value(text):
    """PostgreSQL's "X/X" LSN text as a number, to compare positions."""
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def open_db(path):
    db = sqlite3.connect(path, isolation_level=None)  # transactions are begun and ended by hand
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")  # COMMIT returns once the transaction is on disk
    db.executescript("""
        CREATE TABLE IF NOT EXISTS changes (
            commit_lsn INTEGER NOT NULL,  -- with seq, a change's identity across replays
            seq        INTEGER NOT NULL,
            op         TEXT NOT NULL,
            tbl        TEXT,
            record     TEXT NOT NULL,     -- the NDJSON line as received
            PRIMARY KEY (commit_lsn, seq));
        CREATE TABLE IF NOT EXISTS progress (
            id         INTEGER PRIMARY KEY CHECK (id = 1),
            commit_lsn INTEGER NOT NULL,  -- the last transaction stored
            end_lsn    TEXT NOT NULL);
    """)
    return db


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ack-file", required=True,
                        help="the file or FIFO given to pgsync-stream --ack-file")
    parser.add_argument("--db", default="changes.sqlite3", help="SQLite database to store into")
    args = parser.parse_args()

    db = open_db(args.db)
    row = db.execute("SELECT commit_lsn FROM progress").fetchone()
    stored_up_to = row[0] if row else 0
    ack = None        # opened at the first commit: by then pgsync-stream has opened its end
    replay = False    # inside a transaction that is already stored
    in_txn = False

    for line in sys.stdin:
        if not line.endswith("\n"):
            break  # cut off: pgsync-stream stopped in the middle of a line
        record = json.loads(line)
        op = record.get("op")
        if op is None:
            sys.exit("consumer.py: error: not a native record (run pgsync-stream --format native)")
        if op == "begin":
            replay = lsn_value(record["commit_lsn"]) <= stored_up_to
            if not replay:
                db.execute("BEGIN")
                in_txn = True
        elif op == "commit":
            if not replay:
                commit_lsn = lsn_value(record["commit_lsn"])
                db.execute("INSERT INTO progress VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE "
                           "SET commit_lsn = excluded.commit_lsn, end_lsn = excluded.end_lsn",
                           (commit_lsn, record["end_lsn"]))
                db.execute("COMMIT")  # durable from here on...
                in_txn = False
                stored_up_to = commit_lsn
            if ack is None:
                ack = open(args.ack_file, "a", buffering=1)
            ack.write(record["end_lsn"] + "\n")  # ...so acknowledging it is safe
        elif "seq" in record and not replay:
            # insert, update, delete, truncate and transactional message records.
            table = f'{record["schema"]}.{record["table"]}' if "table" in record else None
            db.execute("INSERT INTO changes VALUES (?, ?, ?, ?, ?)",
                       (lsn_value(record["commit_lsn"]), record["seq"], op, table, line.rstrip("\n")))
        # relation records describe columns, and non-transactional messages carry no commit:
        # this example stores neither.

    if in_txn:
        db.execute("ROLLBACK")  # input ended mid-transaction: it will be sent again
    db.close()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
