// The native format: one JSON object per record, every record of a transaction carrying "xid" and
// "commit_lsn", row records their own "lsn" and "seq" (S3). Row objects use the one value mapping.
#include "record/bytes_text.h"
#include "record/formatter.h"
#include "record/json_text.h"

#include <charconv>

namespace pgsync::record {
namespace {

class NativeFormatter final : public Formatter {
public:
    explicit NativeFormatter(const ValueWriter& values) : m_values(values) {}

    bool supports_deferred() const override { return true; }

    void begin(std::string& out, const TxnInfo& txn) override {
        out += "{\"op\":\"begin\"";
        append_txn(out, txn);
        out += ",\"commit_time\":\"";
        out += format_commit_time(txn.commit_time);
        out += "\"}\n";
    }

    void row(std::string& out, const TxnInfo& txn, const RowChange& change) override {
        const RelationInfo& rel = *change.relation;
        out += change.op == RowOp::Insert   ? "{\"op\":\"insert\""
               : change.op == RowOp::Update ? "{\"op\":\"update\""
                                            : "{\"op\":\"delete\"";
        append_txn(out, txn);
        append_position(out, change.lsn, change.seq, txn.deferred);
        out += ',';
        out += rel.json_names;
        const bool full_old = change.old_kind == OldKind::Full;
        if (change.op != RowOp::Delete) {
            out += ",\"new\":{";
            bool first = true;
            size_t unchanged = 0;
            for (size_t i = 0; i < rel.columns.size(); ++i) {
                const Value& v = change.new_values[i];
                // An unchanged TOASTed value was not sent: never invent it (R1). Only a full old
                // row ('O') holds the real value.
                if (v.kind == ValueKind::UnchangedToast) {
                    if (!(full_old && change.old_values[i].kind == ValueKind::Text)) {
                        ++unchanged;
                        continue;
                    }
                    append_column(out, rel.columns[i], change.old_values[i], first);
                    continue;
                }
                append_column(out, rel.columns[i], v, first);
            }
            out += '}';
            if (unchanged) {
                out += ",\"unchanged_toast\":[";
                bool first_name = true;
                for (size_t i = 0; i < rel.columns.size(); ++i) {
                    if (change.new_values[i].kind != ValueKind::UnchangedToast) continue;
                    if (full_old && change.old_values[i].kind == ValueKind::Text) continue;
                    if (!first_name) out += ',';
                    first_name = false;
                    append_json_string(out, rel.columns[i].name);
                }
                out += ']';
            }
        }
        if (change.old_kind != OldKind::None) {
            out += ",\"old\":{";
            bool first = true;
            for (size_t i = 0; i < rel.columns.size(); ++i) {
                // In a key image, columns outside the replica identity are absent, not NULL (R2).
                if (change.old_kind == OldKind::Key && !rel.columns[i].key) continue;
                const Value& v = change.old_values[i];
                if (v.kind == ValueKind::UnchangedToast) continue;
                append_column(out, rel.columns[i], v, first);
            }
            out += full_old ? "},\"identity\":\"full\"" : "},\"identity\":\"key\"";
        }
        out += "}\n";
    }

    void truncate(std::string& out, const TxnInfo& txn, const TruncateChange& change) override {
        out += "{\"op\":\"truncate\"";
        append_txn(out, txn);
        append_position(out, change.lsn, change.seq, txn.deferred);
        out += ",\"relations\":[";
        for (size_t i = 0; i < change.relations.size(); ++i) {
            if (i) out += ',';
            out += '{';
            out += change.relations[i]->json_names;
            out += '}';
        }
        out += "],\"cascade\":";
        out += change.cascade ? "true" : "false";
        out += ",\"restart_identity\":";
        out += change.restart_identity ? "true" : "false";
        out += "}\n";
    }

    void message(std::string& out, const TxnInfo* txn, const MessageChange& change) override {
        out += "{\"op\":\"message\"";
        if (txn) {
            append_txn(out, *txn);
            append_position(out, change.lsn, change.seq, txn->deferred);
        } else {
            out += ",\"lsn\":\"" + change.lsn.str() + "\"";
        }
        out += ",\"transactional\":";
        out += change.transactional ? "true" : "false";
        out += ",\"prefix\":";
        append_json_string(out, change.prefix);
        out += ",\"content\":";
        if (is_valid_utf8(change.content)) {
            append_json_string(out, change.content);
        } else {
            out += '"';
            append_base64(out, change.content);
            out += "\",\"content_encoding\":\"base64\"";
        }
        out += "}\n";
    }

    void relation(std::string& out, const TxnInfo& txn, const RelationInfo& rel) override {
        out += "{\"op\":\"relation\"";
        append_txn(out, txn);
        out += ',';
        out += rel.json_names;
        out += ",\"replica_identity\":\"";
        switch (rel.replica_identity) {
        case 'f':
            out += "full";
            break;
        case 'n':
            out += "nothing";
            break;
        case 'i':
            out += "index";
            break;
        default:
            out += "default";
            break;
        }
        out += "\",\"columns\":[";
        for (size_t i = 0; i < rel.columns.size(); ++i) {
            const ColumnInfo& c = rel.columns[i];
            out += i ? ",{\"name\":" : "{\"name\":";
            append_json_string(out, c.name);
            out += ",\"type\":";
            append_json_string(out, c.type_name);
            out += ",\"type_oid\":" + std::to_string(c.type_oid);
            out += c.key ? ",\"key\":true}" : ",\"key\":false}";
        }
        out += "]}\n";
    }

    void commit(std::string& out, const TxnInfo& txn) override {
        out += "{\"op\":\"commit\"";
        append_txn(out, txn);
        out += ",\"end_lsn\":\"" + txn.end_lsn.str() + "\",\"commit_time\":\"";
        out += format_commit_time(txn.commit_time);
        out += "\"}\n";
    }

protected:
    void append_deferred_txn(std::string& out, const TxnInfo& txn) override {
        append_txn(out, txn);
    }

private:
    void append_txn(std::string& out, const TxnInfo& txn) {
        if (txn.deferred) return append_marker(out, kTxnMarker);
        if (txn.xid != m_xid || txn.commit_lsn != m_commit_lsn || m_txn_fields.empty()) {
            m_xid = txn.xid;
            m_commit_lsn = txn.commit_lsn;
            m_txn_fields = ",\"xid\":" + std::to_string(txn.xid) + ",\"commit_lsn\":\"" +
                           txn.commit_lsn.str() + "\"";
        }
        out += m_txn_fields;
    }

    static void append_position(std::string& out, Lsn lsn, uint32_t seq, bool deferred) {
        out += ",\"lsn\":\"";
        lsn.append_to(out);
        out += "\",\"seq\":";
        if (deferred) return append_marker(out, kSeqMarker);
        char buf[12];
        out.append(buf, size_t(std::to_chars(buf, buf + sizeof buf, seq).ptr - buf));
    }

    void append_column(std::string& out, const ColumnInfo& column, const Value& v, bool& first) {
        if (!first) out += ',';
        first = false;
        out += column.json_key;
        if (v.kind == ValueKind::Null)
            out += "null";
        else
            m_values.append(out, *column.type, v.text);
    }

    const ValueWriter& m_values;
    uint32_t m_xid = 0;
    Lsn m_commit_lsn;
    std::string m_txn_fields;
};

} // namespace

std::unique_ptr<Formatter> make_native_formatter(const ValueWriter& values) {
    return std::make_unique<NativeFormatter>(values);
}

} // namespace pgsync::record
