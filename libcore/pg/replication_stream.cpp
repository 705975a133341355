// CopyBoth handling over libpq's asynchronous COPY API.
#include "pg/replication_stream.h"

#include <chrono>
#include <cstring>

namespace pgsync::pg {
namespace {

uint64_t read_u64(const char* p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i)
        v = (v << 8) | uint8_t(p[i]);
    return v;
}

void put_u64(char* p, uint64_t v) {
    for (int i = 7; i >= 0; --i) {
        p[i] = char(v & 0xff);
        v >>= 8;
    }
}

} // namespace

int64_t pg_now_micros() {
    using namespace std::chrono;
    int64_t unix_us = duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
    return unix_us - 946684800LL * 1000000LL;
}

int newest_proto_version(int server_version) {
    if (server_version >= 160000) return 4;
    if (server_version >= 150000) return 3;
    if (server_version >= 140000) return 2;
    return 1;
}

std::string start_replication_sql(const StartOptions& o) {
    std::string pubs;
    for (size_t i = 0; i < o.publications.size(); ++i)
        pubs += (i ? "," : "") + quote_ident(o.publications[i]);
    std::string sql = "START_REPLICATION SLOT " + quote_ident(o.slot) + " LOGICAL " +
                      o.start.str() + " (proto_version '" + std::to_string(o.proto_version) +
                      "', publication_names " + quote_literal(pubs);
    if (o.messages) sql += ", messages 'true'";
    if (o.streaming && o.proto_version >= 2) sql += ", streaming 'on'";
    sql += ")";
    return sql;
}

ReplicationStream::ReplicationStream(Connection& conn, const StartOptions& options) : m_conn(conn) {
    const std::string sql = start_replication_sql(options);
    PGresult* res = PQexec(conn.raw(), sql.c_str());
    if (!res || PQresultStatus(res) != PGRES_COPY_BOTH)
        throw_result_error(conn.raw(), res,
                           "could not start replication on slot \"" + options.slot + "\"");
    PQclear(res);
}

void ReplicationStream::consume_input() {
    if (!PQconsumeInput(m_conn.raw()))
        throw QueryError("lost the replication connection: " + m_conn.error_message(), "08006");
}

StreamMessage ReplicationStream::read() {
    StreamMessage msg;
    m_buffer.reset();
    char* raw = nullptr;
    int len = PQgetCopyData(m_conn.raw(), &raw, 1);
    if (len == 0) return msg;
    if (len == -1) {
        // The server ended the COPY: collect the final result (an error, or the end of stream).
        m_ended = true;
        PGresult* res = PQgetResult(m_conn.raw());
        if (res && PQresultStatus(res) != PGRES_COMMAND_OK)
            throw_result_error(m_conn.raw(), res, "replication stream ended");
        PQclear(res);
        while (PGresult* extra = PQgetResult(m_conn.raw()))
            PQclear(extra);
        msg.kind = StreamMessage::Kind::End;
        return msg;
    }
    if (len < 0)
        throw QueryError("lost the replication connection: " + m_conn.error_message(), "08006");
    m_buffer.reset(raw);
    const char* p = raw;
    if (p[0] == 'w') {
        if (len < 25) throw Error("invalid XLogData message: " + std::to_string(len) + " bytes");
        msg.kind = StreamMessage::Kind::XLogData;
        msg.wal_start = Lsn(read_u64(p + 1));
        msg.wal_end = Lsn(read_u64(p + 9));
        msg.send_time = int64_t(read_u64(p + 17));
        msg.data = std::string_view(p + 25, size_t(len - 25));
    } else if (p[0] == 'k') {
        if (len < 18) throw Error("invalid keepalive message: " + std::to_string(len) + " bytes");
        msg.kind = StreamMessage::Kind::Keepalive;
        msg.wal_end = Lsn(read_u64(p + 1));
        msg.send_time = int64_t(read_u64(p + 9));
        msg.reply_requested = p[17] != 0;
    } else {
        throw Error(std::string("unexpected replication message type \"") + p[0] + "\"",
                    "The server sent something other than XLogData or a keepalive.");
    }
    return msg;
}

void ReplicationStream::send_status(Lsn written, Lsn flushed, Lsn applied, bool reply_requested) {
    char buf[34];
    buf[0] = 'r';
    put_u64(buf + 1, written.value());
    put_u64(buf + 9, flushed.value());
    put_u64(buf + 17, applied.value());
    put_u64(buf + 25, uint64_t(pg_now_micros()));
    buf[33] = reply_requested ? 1 : 0;
    if (PQputCopyData(m_conn.raw(), buf, sizeof buf) <= 0 || PQflush(m_conn.raw()) < 0)
        throw QueryError("could not send replication status: " + m_conn.error_message(), "08006");
}

bool ReplicationStream::flush() {
    return PQflush(m_conn.raw()) == 0;
}

void ReplicationStream::finish() {
    if (m_ended) return;
    m_ended = true;
    PQputCopyEnd(m_conn.raw(), nullptr);
    PQflush(m_conn.raw());
    // The server answers CopyDone with its own CopyDone and then CommandComplete; discard any data
    // still in flight.
    for (int i = 0; i < 100000; ++i) {
        char* raw = nullptr;
        int len = PQgetCopyData(m_conn.raw(), &raw, 0);
        if (raw) PQfreemem(raw);
        if (len < 0) break;
    }
    while (PGresult* res = PQgetResult(m_conn.raw()))
        PQclear(res);
}

} // namespace pgsync::pg
