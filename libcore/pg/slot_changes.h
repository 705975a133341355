// The SQL interface to logical decoding on a normal connection: pg_logical_slot_peek_binary_changes
// read as a binary COPY, one pgoutput message at a time without blocking, and
// pg_replication_slot_advance. The walsender sends a backlog message by message; this sends it as
// fast as the server decodes it, which makes it the faster way to catch up on a long backlog.
#pragma once

#include "pg/connection.h"
#include "pg/replication_stream.h"
#include "util/lsn.h"

#include <string>
#include <string_view>
#include <vector>

namespace pgsync::pg {

struct PeekOptions {
    std::string slot;
    Lsn upto; // the server decodes until the first record that ends at or after it
    std::vector<std::string> publications;
    int proto_version = 1;
    bool streaming = false; // large transactions in chunks before their commit (proto 2+)
    bool messages = true;   // pg_logical_emit_message (R13)
};

std::string peek_changes_sql(const PeekOptions& options);

// One peek, run as COPY (...) TO STDOUT (FORMAT binary). The server decodes the whole range before
// it sends the first row (the function materializes its result), then the rows come as fast as
// the socket takes them. The slot is held by this connection's backend until the COPY ends.
class SlotChanges {
public:
    // Sends the query and returns at once; a server error (say, the slot is active elsewhere,
    // SQLSTATE 55006) is thrown by a later read() as QueryError.
    SlotChanges(Connection& conn, const PeekOptions& options);
    SlotChanges(const SlotChanges&) = delete;
    SlotChanges& operator=(const SlotChanges&) = delete;
    ~SlotChanges(); // cancels a COPY that has not ended

    int socket() const { return PQsocket(m_conn.raw()); }

    // The next message without blocking: Kind::XLogData with wal_start set to the message's LSN
    // (the same LSN the walsender would give it) and data its pgoutput bytes, valid until the
    // next read(); Kind::None when nothing is buffered yet (call consume_input() once the socket
    // is readable); Kind::End once every row is read and the query succeeded.
    StreamMessage read();
    void consume_input();
    // Stops the query early (a stop signal); the connection is usable again afterwards.
    void cancel();

private:
    bool next_row(StreamMessage& msg);

    Connection& m_conn;
    enum class State { Waiting, Copying, Ended } m_state = State::Waiting;
    std::unique_ptr<char, void (*)(void*)> m_buffer{nullptr, &PQfreemem};
    std::string_view m_pending; // unread bytes of m_buffer (rows are not split across messages)
    std::string m_carry;        // a row split across COPY messages, joined
    bool m_header_read = false;
};

// pg_replication_slot_advance(slot, to); the server clamps `to` to its flushed WAL. Returns the
// slot's confirmed position afterwards. The slot must not be active elsewhere.
Lsn advance_slot(Connection& conn, const std::string& slot, Lsn to);

} // namespace pgsync::pg
