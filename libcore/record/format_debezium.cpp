// The debezium format: the value of a Debezium PostgreSQL connector change event as the Kafka
// Connect JsonConverter writes it with schemas disabled, one line per row change, truncated
// table and logical message. Row values use pgsync's value mapping, not Debezium's (see below).
#include "record/bytes_text.h"
#include "record/formatter.h"
#include "record/json_text.h"

#include <charconv>
#include <chrono>

namespace pgsync::record {
namespace {

// Debezium's unavailable.value.placeholder: the value of an unchanged TOASTed column that the
// server did not send.
constexpr std::string_view kUnavailable = "\"__debezium_unavailable_value\"";

void append_int(std::string& out, int64_t value) {
    char buf[24];
    auto result = std::to_chars(buf, buf + sizeof buf, value);
    out.append(buf, result.ptr);
}

// Milliseconds since the Unix epoch, rounded down like Instant.toEpochMilli().
int64_t unix_millis(int64_t pg_micros) {
    int64_t micros = pg_micros + kPgEpochOffsetMicros;
    return micros >= 0 ? micros / 1000 : -((-micros + 999) / 1000);
}

int64_t now_millis() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Field order is Debezium's (Envelope, PostgresSourceInfoStructMaker, LogicalDecodingMessageMonitor
// up to version 2.5): before, after, source{version, connector, name, ts_ms, snapshot, db,
// sequence, schema, table, txId, lsn, xmin}, op, ts_ms, transaction.
//
// Values: before and after hold each column as pgsync maps it everywhere (ValueWriter, the JSON
// that to_json() gives), not Debezium's per-type encodings: numeric is a JSON number (not base64
// bytes of decimal.handling.mode=precise), timestamps are ISO strings (not epoch micros), dates
// are strings (not epoch days), bytea is a string of hex (not base64), and so on.
//
// The envelope's ts_ms, which Debezium takes from the connector's clock, is the commit time here
// so that reading the same WAL twice gives the same output; only a non-transactional message,
// which has no commit time, uses the clock for both ts_ms fields, as Debezium does.
class DebeziumFormatter final : public Formatter {
public:
    DebeziumFormatter(const ValueWriter& values, const FormatOptions& options) : m_values(values) {
        m_source_head =
            "{\"version\":\"pgsync-" PGSYNC_VERSION "\",\"connector\":\"postgresql\",\"name\":";
        append_json_string(m_source_head, options.source_name);
        m_source_head += ",\"ts_ms\":";
        m_database = ",\"snapshot\":\"false\",\"db\":";
        append_json_string(m_database, options.database);
        m_database += ",\"sequence\":\"[";
    }

    // Debezium's transaction metadata topic is off by default: no begin or commit events.
    void begin(std::string&, const TxnInfo&) override {}

    void row(std::string& out, const TxnInfo& txn, const RowChange& change) override {
        const RelationInfo& rel = *change.relation;
        out += "{\"before\":";
        if (change.op == RowOp::Insert || change.old_kind == OldKind::None) {
            out += "null";
        } else {
            // A key image ('K') holds the replica identity columns only; the others are absent.
            const bool key_only = change.old_kind == OldKind::Key;
            out += '{';
            bool first = true;
            for (size_t i = 0; i < rel.columns.size(); ++i) {
                if (key_only && !rel.columns[i].key) continue;
                append_column(out, rel.columns[i], change.old_values[i], first);
            }
            out += '}';
        }
        out += ",\"after\":";
        if (change.op == RowOp::Delete) {
            out += "null";
        } else {
            out += '{';
            bool first = true;
            const bool full_old = change.old_kind == OldKind::Full;
            for (size_t i = 0; i < rel.columns.size(); ++i) {
                const Value* value = &change.new_values[i];
                // An unchanged TOASTed value is known only from a full old row.
                if (value->kind == ValueKind::UnchangedToast && full_old &&
                    change.old_values[i].kind != ValueKind::UnchangedToast)
                    value = &change.old_values[i];
                append_column(out, rel.columns[i], *value, first);
            }
            out += '}';
        }
        out += ",\"source\":";
        append_source(out, txn, change.lsn, &rel);
        out += change.op == RowOp::Insert   ? ",\"op\":\"c\",\"ts_ms\":"
               : change.op == RowOp::Update ? ",\"op\":\"u\",\"ts_ms\":"
                                            : ",\"op\":\"d\",\"ts_ms\":";
        append_int(out, unix_millis(txn.commit_time));
        out += ",\"transaction\":null}\n";
    }

    // One event per truncated table, as Debezium emits them (it skips them by default:
    // skipped.operations=t).
    void truncate(std::string& out, const TxnInfo& txn, const TruncateChange& change) override {
        for (const RelationInfo* rel : change.relations) {
            out += "{\"before\":null,\"after\":null,\"source\":";
            append_source(out, txn, change.lsn, rel);
            out += ",\"op\":\"t\",\"ts_ms\":";
            append_int(out, unix_millis(txn.commit_time));
            out += ",\"transaction\":null}\n";
        }
    }

    // A message event: op, ts_ms, source (empty schema and table, txId only when transactional),
    // then {prefix, content}, the content in base64 as binary.handling.mode=bytes gives it.
    void message(std::string& out, const TxnInfo* txn, const MessageChange& change) override {
        const bool transactional = change.transactional && txn;
        const int64_t millis = transactional ? unix_millis(txn->commit_time) : now_millis();
        out += "{\"op\":\"m\",\"ts_ms\":";
        append_int(out, millis);
        out += ",\"source\":";
        if (transactional) {
            append_source(out, *txn, change.lsn, nullptr);
        } else {
            out += m_source_head;
            append_int(out, millis);
            out += m_database;
            append_sequence_tail(out, change.lsn);
            out += ",\"schema\":\"\",\"table\":\"\",\"txId\":null,\"lsn\":";
            append_int(out, int64_t(change.lsn.value()));
            out += ",\"xmin\":null}";
        }
        out += ",\"message\":{\"prefix\":";
        append_json_string(out, change.prefix);
        out += ",\"content\":\"";
        append_base64(out, change.content);
        out += "\"}}\n";
    }

    void relation(std::string&, const TxnInfo&, const RelationInfo&) override {}

    // sequence's first element is the last committed transaction's end LSN: the position
    // Debezium records at each commit (the Commit message's WAL position).
    void commit(std::string&, const TxnInfo& txn) override {
        m_last_commit = txn.end_lsn;
        m_txn_source.clear();
    }

private:
    void append_column(std::string& out, const ColumnInfo& column, const Value& value,
                       bool& first) {
        if (!first) out += ',';
        first = false;
        append_json_string(out, column.name);
        out += ':';
        switch (value.kind) {
        case ValueKind::Null:
            out += "null";
            break;
        case ValueKind::UnchangedToast:
            out += kUnavailable;
            break;
        case ValueKind::Text:
            m_values.append(out, *column.type, value.text);
            break;
        }
    }

    // The source block; rel is null for a message (empty schema and table).
    void append_source(std::string& out, const TxnInfo& txn, Lsn lsn, const RelationInfo* rel) {
        if (m_txn_source.empty() || txn.xid != m_xid || txn.commit_lsn != m_commit_lsn) {
            m_xid = txn.xid;
            m_commit_lsn = txn.commit_lsn;
            m_txn_source = m_source_head;
            append_int(m_txn_source, unix_millis(txn.commit_time));
            m_txn_source += m_database;
            m_txn_id = ",\"txId\":";
            append_int(m_txn_id, txn.xid);
            m_txn_id += ",\"lsn\":";
        }
        out += m_txn_source;
        append_sequence_tail(out, lsn);
        if (rel) {
            out += ",\"schema\":";
            append_json_string(out, rel->schema);
            out += ",\"table\":";
            append_json_string(out, rel->name);
        } else {
            out += ",\"schema\":\"\",\"table\":\"\"";
        }
        out += m_txn_id;
        append_int(out, int64_t(lsn.value()));
        out += ",\"xmin\":null}";
    }

    // The rest of "sequence", a JSON array of two decimal strings as a string:
    // "[\"<last commit lsn>\",\"<lsn>\"]", with null before the first commit seen.
    void append_sequence_tail(std::string& out, Lsn lsn) const {
        if (m_last_commit.is_valid()) {
            out += "\\\"";
            append_int(out, int64_t(m_last_commit.value()));
            out += "\\\",\\\"";
        } else {
            out += "null,\\\"";
        }
        append_int(out, int64_t(lsn.value()));
        out += "\\\"]\"";
    }

    const ValueWriter& m_values;
    std::string m_source_head; // {"version":…,"connector":…,"name":…,"ts_ms":
    std::string m_database;    // ,"snapshot":"false","db":…,"sequence":"[
    Lsn m_last_commit;
    uint32_t m_xid = 0;
    Lsn m_commit_lsn;
    std::string m_txn_source; // m_source_head, commit ms and m_database for one transaction
    std::string m_txn_id;     // ,"txId":N,"lsn":
};

} // namespace

std::unique_ptr<Formatter> make_debezium_formatter(const ValueWriter& values,
                                                   const FormatOptions& options) {
    return std::make_unique<DebeziumFormatter>(values, options);
}

} // namespace pgsync::record
