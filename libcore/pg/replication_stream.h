// The streaming half of the replication protocol: START_REPLICATION for a pgoutput slot, then
// CopyBoth messages (XLogData 'w', keepalive 'k') in, standby status updates ('r') out.
// Reference: https://www.postgresql.org/docs/current/protocol-replication.html
#pragma once

#include "pg/connection.h"
#include "util/lsn.h"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace pgsync::pg {

struct StartOptions {
    std::string slot;
    Lsn start; // 0/0: the slot's confirmed position
    std::vector<std::string> publications;
    int proto_version = 1;
    bool streaming = false; // in-progress transactions (proto 2+)
    bool messages = true;   // pg_logical_emit_message (R13)
};

// The newest pgoutput protocol the server speaks: 4 from 16, 3 from 15, 2 from 14, else 1.
int newest_proto_version(int server_version);

std::string start_replication_sql(const StartOptions& options);

// One message from the walsender, valid until the next read().
struct StreamMessage {
    enum class Kind { None, XLogData, Keepalive, End } kind = Kind::None;
    Lsn wal_start; // XLogData: where this data starts
    Lsn wal_end;   // the server's WAL end (both kinds)
    int64_t send_time = 0;
    bool reply_requested = false; // Keepalive
    std::string_view data;        // XLogData payload: one pgoutput message
};

class ReplicationStream {
public:
    // Sends START_REPLICATION; throws QueryError (with SQLSTATE) when the server refuses.
    ReplicationStream(Connection& conn, const StartOptions& options);
    ReplicationStream(const ReplicationStream&) = delete;
    ReplicationStream& operator=(const ReplicationStream&) = delete;

    int socket() const { return PQsocket(m_conn.raw()); }

    // Reads one buffered message without blocking; Kind::None when nothing is buffered (call
    // consume_input() after the socket is readable). Throws on a protocol or connection error.
    StreamMessage read();
    // Reads what the socket has into libpq's buffer; throws on connection loss.
    void consume_input();

    // Sends a standby status update; throws on connection loss.
    void send_status(Lsn written, Lsn flushed, Lsn applied, bool reply_requested = false);
    // Flushes libpq's output buffer; returns false when the socket is not writable yet.
    bool flush();

    // Ends the COPY cleanly (for --endpos and signals) and drains the server's reply.
    void finish();

private:
    Connection& m_conn;
    std::unique_ptr<char, void (*)(void*)> m_buffer{nullptr, &PQfreemem};
    bool m_ended = false;
};

// Microseconds since 2000-01-01 UTC, as the protocol's timestamps count.
int64_t pg_now_micros();

} // namespace pgsync::pg
