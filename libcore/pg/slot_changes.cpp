// Peeking a slot's changes as a binary COPY: libpq's asynchronous query and COPY API, and the
// binary COPY format (a header, then per row a field count and length-prefixed fields, then -1).
// Reference: https://www.postgresql.org/docs/current/sql-copy.html (Binary Format)
#include "pg/slot_changes.h"

#include <cstring>

namespace pgsync::pg {
namespace {

constexpr std::string_view kSignature{"PGCOPY\n\377\r\n\0", 11};
constexpr size_t kHeaderBytes = 11 + 4 + 4; // signature, flags, header extension length

uint64_t read_u64(const char* p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i)
        v = (v << 8) | uint8_t(p[i]);
    return v;
}

uint32_t read_u32(const char* p) {
    return uint32_t(uint8_t(p[0])) << 24 | uint32_t(uint8_t(p[1])) << 16 |
           uint32_t(uint8_t(p[2])) << 8 | uint32_t(uint8_t(p[3]));
}

[[noreturn]] void bad_copy(const std::string& why) {
    throw Error("invalid binary COPY data from pg_logical_slot_peek_binary_changes: " + why);
}

} // namespace

std::string peek_changes_sql(const PeekOptions& o) {
    std::string pubs;
    for (size_t i = 0; i < o.publications.size(); ++i)
        pubs += (i ? "," : "") + quote_ident(o.publications[i]);
    std::string sql =
        "COPY (SELECT lsn, data FROM pg_catalog.pg_logical_slot_peek_binary_changes(" +
        quote_literal(o.slot) + ", " + quote_literal(o.upto.str()) + ", NULL, 'proto_version', '" +
        std::to_string(o.proto_version) + "', 'publication_names', " + quote_literal(pubs);
    if (o.messages) sql += ", 'messages', 'true'";
    if (o.streaming && o.proto_version >= 2) sql += ", 'streaming', 'on'";
    sql += ")) TO STDOUT (FORMAT binary)";
    return sql;
}

SlotChanges::SlotChanges(Connection& conn, const PeekOptions& options) : m_conn(conn) {
    const std::string sql = peek_changes_sql(options);
    if (!PQsendQuery(conn.raw(), sql.c_str()))
        throw QueryError("could not peek at the changes of slot \"" + options.slot +
                             "\": " + conn.error_message(),
                         "08006");
}

SlotChanges::~SlotChanges() {
    if (m_state == State::Ended) return;
    try {
        cancel();
    } catch (...) {
        // The connection is unusable; its owner closes it.
    }
}

void SlotChanges::consume_input() {
    if (!PQconsumeInput(m_conn.raw()))
        throw QueryError("lost the decoding connection: " + m_conn.error_message(), "08006");
}

void SlotChanges::cancel() {
    if (m_state == State::Ended) return;
    m_state = State::Ended;
    if (PGcancel* cancel = PQgetCancel(m_conn.raw())) {
        char why[256];
        PQcancel(cancel, why, sizeof why);
        PQfreeCancel(cancel);
    }
    m_buffer.reset();
    m_pending = {};
    for (;;) { // what the server sent before it saw the cancel
        char* raw = nullptr;
        int len = PQgetCopyData(m_conn.raw(), &raw, 0);
        if (raw) PQfreemem(raw);
        if (len < 0) break;
    }
    while (PGresult* res = PQgetResult(m_conn.raw()))
        PQclear(res);
}

StreamMessage SlotChanges::read() {
    StreamMessage msg;
    if (m_state == State::Waiting) {
        if (PQisBusy(m_conn.raw())) return msg;
        PGresult* res = PQgetResult(m_conn.raw());
        if (!res || PQresultStatus(res) != PGRES_COPY_OUT) {
            m_state = State::Ended;
            while (PGresult* extra = PQgetResult(m_conn.raw()))
                PQclear(extra);
            throw_result_error(m_conn.raw(), res, "could not peek at the slot's changes");
        }
        PQclear(res);
        m_state = State::Copying;
    }
    if (m_state == State::Ended) {
        msg.kind = StreamMessage::Kind::End;
        return msg;
    }
    next_row(msg);
    return msg;
}

// Parses the next row from m_pending, fetching COPY messages as needed; false when none is
// complete yet (msg stays None) or the COPY ended (msg is End).
bool SlotChanges::next_row(StreamMessage& msg) {
    for (;;) {
        std::string_view v = m_pending;
        size_t need = 0; // bytes the next item needs; 0 when complete
        size_t used = 0;
        if (!m_header_read) {
            if (v.size() < kHeaderBytes) {
                need = kHeaderBytes;
            } else {
                if (v.substr(0, kSignature.size()) != kSignature) bad_copy("no PGCOPY signature");
                const size_t extension = read_u32(v.data() + 15);
                if (v.size() < kHeaderBytes + extension) {
                    need = kHeaderBytes + extension;
                } else {
                    m_header_read = true;
                    m_pending = v.substr(kHeaderBytes + extension);
                    continue;
                }
            }
        } else if (v.size() >= 2) {
            const int16_t fields = int16_t(uint16_t(uint8_t(v[0]) << 8 | uint8_t(v[1])));
            if (fields == -1) {
                m_pending = v.substr(2); // the trailer; End comes with the COPY's end
            } else if (fields != 2) {
                bad_copy("a row of " + std::to_string(fields) + " fields, expected 2");
            } else if (v.size() < 2 + 4 + 8 + 4) {
                need = 2 + 4 + 8 + 4;
            } else {
                if (read_u32(v.data() + 2) != 8) bad_copy("an lsn that is not 8 bytes");
                const uint32_t length = read_u32(v.data() + 14);
                if (length == 0xffffffffu) bad_copy("a NULL data field");
                used = 2 + 4 + 8 + 4 + size_t(length);
                if (v.size() < used) {
                    need = used;
                } else {
                    msg.kind = StreamMessage::Kind::XLogData;
                    msg.wal_start = Lsn(read_u64(v.data() + 6));
                    msg.data = v.substr(18, length);
                    m_pending = v.substr(used);
                    return true;
                }
            }
            if (need == 0) continue;
        } else if (!v.empty()) {
            need = 2;
        }

        // The buffered bytes are used up or hold part of an item: fetch the next COPY message.
        char* raw = nullptr;
        const int len = PQgetCopyData(m_conn.raw(), &raw, 1);
        if (len == 0) {
            // Keep a partial item across the wait: the buffer it points into is about to go.
            if (!v.empty()) {
                std::string rest(v);
                m_carry.swap(rest);
                m_pending = m_carry;
            }
            m_buffer.reset();
            return false;
        }
        if (len == -1) {
            m_state = State::Ended;
            PGresult* res = PQgetResult(m_conn.raw());
            const bool ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
            if (!ok) {
                while (PGresult* extra = PQgetResult(m_conn.raw()))
                    PQclear(extra);
                throw_result_error(m_conn.raw(), res, "could not peek at the slot's changes");
            }
            PQclear(res);
            while (PGresult* extra = PQgetResult(m_conn.raw()))
                PQclear(extra);
            if (!v.empty()) bad_copy("it ends inside a row");
            msg.kind = StreamMessage::Kind::End;
            return false;
        }
        if (len < 0)
            throw QueryError("lost the decoding connection: " + m_conn.error_message(), "08006");
        if (v.empty()) {
            m_buffer.reset(raw);
            m_pending = std::string_view(raw, size_t(len));
            m_carry.clear();
        } else {
            // Rare: a row (or the header) continues in the next message. Join them in m_carry.
            std::string joined(v);
            joined.append(raw, size_t(len));
            PQfreemem(raw);
            m_buffer.reset();
            m_carry = std::move(joined);
            m_pending = m_carry;
        }
    }
}

Lsn advance_slot(Connection& conn, const std::string& slot, Lsn to) {
    Result r =
        conn.exec_params("SELECT end_lsn FROM pg_catalog.pg_replication_slot_advance($1, $2)",
                         {slot, to.str()}, "could not advance replication slot \"" + slot + "\"");
    auto lsn = r.rows() == 1 && !r.is_null(0, 0) ? Lsn::parse(r.get(0, 0)) : std::nullopt;
    if (!lsn) throw Error("pg_replication_slot_advance returned no position");
    return *lsn;
}

} // namespace pgsync::pg
