// The wal2json format: byte for byte what wal2json 2.5 writes with format-version 2, include-xids,
// include-timestamp and include-lsn on (all else default), so its consumers can switch to pgsync.
// Rules follow wal2json.c (pg_decode_*_v2, pg_decode_write_tuple, pg_decode_write_value).
#include "pg/type_oids.h"
#include "record/formatter.h"
#include "record/json_text.h"

#include <charconv>
#include <cstdio>

namespace pgsync::record {
namespace {

// A buffer that is released after a transaction this large, so that one huge transaction does not
// pin its memory for the rest of the session.
constexpr size_t kKeepPendingBytes = size_t(16) << 20;

bool starts_with_nocase(std::string_view text, std::string_view prefix) {
    if (text.size() < prefix.size()) return false;
    for (size_t i = 0; i < prefix.size(); ++i) {
        char c = text[i];
        if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
        if (c != prefix[i]) return false;
    }
    return true;
}

// pg_lsn_out(): "%X/%X".
void append_lsn(std::string& out, Lsn lsn) {
    char buf[24];
    int n = std::snprintf(buf, sizeof buf, "%X/%X", unsigned(lsn.value() >> 32),
                          unsigned(lsn.value() & 0xffffffffu));
    out.append(buf, size_t(n));
}

void append_uint(std::string& out, uint64_t value) {
    char buf[24];
    auto result = std::to_chars(buf, buf + sizeof buf, value);
    out.append(buf, result.ptr);
}

// timestamptz_to_str() of the commit time: EncodeDateTime() in ISO style whatever DateStyle is,
// in the session's TimeZone, offset_seconds east of UTC then: "2024-01-02 03:04:05.5-05", the
// fraction without trailing zeros and absent when zero, the offset's minutes and seconds only
// when not zero (EncodeTimezone). Commit times are never BC, so the " BC" form is not produced.
void append_commit_timestamp(std::string& out, int64_t pg_micros, int32_t offset_seconds) {
    constexpr int64_t kMicrosPerDay = 86400LL * 1000000LL;
    const int64_t local = pg_micros + int64_t(offset_seconds) * 1000000;
    int64_t days = local / kMicrosPerDay;
    int64_t of_day = local % kMicrosPerDay;
    if (of_day < 0) {
        of_day += kMicrosPerDay;
        --days;
    }
    // Civil date from days since 1970-01-01 (H. Hinnant's days_from_civil inverse).
    int64_t z = days + 10957 + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t day = doy - (153 * mp + 2) / 5 + 1;
    int64_t month = mp < 10 ? mp + 3 : mp - 9;
    int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);

    int64_t secs = of_day / 1000000;
    int64_t fraction = of_day % 1000000;
    char buf[64];
    int n =
        std::snprintf(buf, sizeof buf, "%04lld-%02lld-%02lld %02lld:%02lld:%02lld", (long long)year,
                      (long long)month, (long long)day, (long long)(secs / 3600),
                      (long long)(secs / 60 % 60), (long long)(secs % 60));
    out.append(buf, size_t(n));
    if (fraction != 0) {
        char digits[7];
        std::snprintf(digits, sizeof digits, "%06lld", (long long)fraction);
        size_t len = 6;
        while (digits[len - 1] == '0')
            --len;
        out += '.';
        out.append(digits, len);
    }
    const int32_t magnitude = offset_seconds < 0 ? -offset_seconds : offset_seconds;
    const int hours = magnitude / 3600, minutes = magnitude / 60 % 60, seconds = magnitude % 60;
    const char sign = offset_seconds < 0 ? '-' : '+';
    n = seconds != 0
            ? std::snprintf(buf, sizeof buf, "%c%02d:%02d:%02d", sign, hours, minutes, seconds)
        : minutes != 0 ? std::snprintf(buf, sizeof buf, "%c%02d:%02d", sign, hours, minutes)
                       : std::snprintf(buf, sizeof buf, "%c%02d", sign, hours);
    out.append(buf, size_t(n));
}

class Wal2jsonFormatter final : public Formatter {
public:
    Wal2jsonFormatter(const ValueWriter& values, const FormatOptions& options)
        : m_numbers_as_strings(values.options().numbers_as_strings),
          m_commit_time_offset(options.commit_time_offset) {}

    bool supports_deferred() const override { return true; }

    // wal2json's "B" object carries "nextlsn", the commit's end LSN, which pgoutput only sends in
    // Commit: a transaction's lines are held here and written out, "B" first, by commit(). A
    // streamed transaction is replayed after its commit, with end_lsn known: nothing is held then,
    // so memory stays bounded for the large transactions the server streams.
    void begin(std::string& out, const TxnInfo& txn) override {
        m_pending.clear();
        m_in_txn = !txn.end_lsn.is_valid();
        if (!m_in_txn) append_boundary(out, "{\"action\":\"B\"", txn);
        m_began_direct = !m_in_txn;
    }

    void row(std::string& out, const TxnInfo& txn, const RowChange& change) override {
        const RelationInfo& rel = *change.relation;
        const bool has_old = change.old_kind != OldKind::None;
        // Without an old image the identity comes from the new row's key columns; a table with no
        // key (replica identity nothing, or default without a primary key) gets no UPDATE or
        // DELETE object at all ("no tuple identifier" warning in pg_decode_write_change).
        if (change.op != RowOp::Insert && !has_old && !has_key(rel)) return;

        std::string& dst = txn.deferred ? out : target(out);
        dst += change.op == RowOp::Insert   ? "{\"action\":\"I\""
               : change.op == RowOp::Update ? "{\"action\":\"U\""
                                            : "{\"action\":\"D\"";
        append_txn_fields(dst, txn);
        dst += ",\"lsn\":\"";
        append_lsn(dst, change.lsn);
        dst += '"';
        append_names(dst, rel);

        if (change.op != RowOp::Delete) {
            dst += ",\"columns\":[";
            append_tuple(dst, rel, change.new_values, false);
            dst += ']';
        }
        if (has_old) {
            // Key image: the replica identity columns; full image (REPLICA IDENTITY FULL): all.
            dst += ",\"identity\":[";
            append_tuple(dst, rel, change.old_values, change.old_kind == OldKind::Key);
            dst += ']';
        } else if (change.op == RowOp::Update) {
            // The key did not change: wal2json takes it from the new row.
            dst += ",\"identity\":[";
            append_tuple(dst, rel, change.new_values, true);
            dst += ']';
        }
        dst += "}\n";
    }

    // One "T" object per table, all with the TRUNCATE's LSN; CASCADE and RESTART IDENTITY are not
    // shown (pg_decode_truncate_v2).
    void truncate(std::string& out, const TxnInfo& txn, const TruncateChange& change) override {
        std::string& dst = txn.deferred ? out : target(out);
        for (const RelationInfo* rel : change.relations) {
            dst += "{\"action\":\"T\"";
            append_txn_fields(dst, txn);
            dst += ",\"lsn\":\"";
            append_lsn(dst, change.lsn);
            dst += '"';
            append_names(dst, *rel);
            dst += "}\n";
        }
    }

    // pg_decode_message_v2: a non-transactional message has null xid and timestamp. The content
    // is copied as a C string (cut at the first NUL byte) and escaped like any text, so bytes that
    // are not UTF-8 pass through unchanged, as wal2json writes them.
    void message(std::string& out, const TxnInfo* txn, const MessageChange& change) override {
        std::string& dst = change.transactional && !(txn && txn->deferred) ? target(out) : out;
        dst += "{\"action\":\"M\"";
        if (change.transactional && txn)
            append_txn_fields(dst, *txn);
        else
            dst += ",\"xid\":null,\"timestamp\":null";
        dst += ",\"lsn\":\"";
        append_lsn(dst, change.lsn);
        dst += change.transactional ? "\",\"transactional\":true,\"prefix\":"
                                    : "\",\"transactional\":false,\"prefix\":";
        append_json_string(dst, change.prefix.substr(0, change.prefix.find('\0')));
        dst += ",\"content\":";
        append_json_string(dst, change.content.substr(0, change.content.find('\0')));
        dst += "}\n";
    }

    // wal2json has no relation objects.
    void relation(std::string&, const TxnInfo&, const RelationInfo&) override {}

    void commit(std::string& out, const TxnInfo& txn) override {
        if (!m_began_direct) {
            append_boundary(out, "{\"action\":\"B\"", txn);
            out += m_pending;
        }
        m_began_direct = false;
        append_boundary(out, "{\"action\":\"C\"", txn);
        m_in_txn = false;
        if (m_pending.capacity() > kKeepPendingBytes)
            std::string().swap(m_pending);
        else
            m_pending.clear();
    }

protected:
    void append_deferred_txn(std::string& out, const TxnInfo& txn) override {
        append_txn_fields(out, txn);
    }

private:
    bool m_began_direct = false; // B already written (end_lsn was known at begin)

    std::string& target(std::string& out) { return m_in_txn ? m_pending : out; }

    static bool has_key(const RelationInfo& rel) {
        for (const ColumnInfo& column : rel.columns)
            if (column.key) return true;
        return false;
    }

    // "lsn" is the commit record's LSN (txn->final_lsn in B, commit_lsn in C), "nextlsn" the end
    // of the commit record (txn->end_lsn).
    void append_boundary(std::string& out, const char* head, const TxnInfo& txn) {
        out += head;
        append_txn_fields(out, txn);
        out += ",\"lsn\":\"";
        append_lsn(out, txn.commit_lsn);
        out += "\",\"nextlsn\":\"";
        append_lsn(out, txn.end_lsn);
        out += "\"}\n";
    }

    // ,"xid":N,"timestamp":"…": rendered once per transaction.
    void append_txn_fields(std::string& out, const TxnInfo& txn) {
        if (txn.deferred) return append_marker(out, kTxnMarker);
        if (m_txn_fields.empty() || txn.xid != m_xid || txn.commit_time != m_commit_time) {
            m_xid = txn.xid;
            m_commit_time = txn.commit_time;
            m_txn_fields = ",\"xid\":";
            append_uint(m_txn_fields, txn.xid);
            m_txn_fields += ",\"timestamp\":\"";
            append_commit_timestamp(m_txn_fields, txn.commit_time,
                                    m_commit_time_offset ? m_commit_time_offset(txn.commit_time)
                                                         : 0);
            m_txn_fields += '"';
        }
        out += m_txn_fields;
    }

    static void append_names(std::string& out, const RelationInfo& rel) {
        out += ",\"schema\":";
        append_json_string(out, rel.schema);
        out += ",\"table\":";
        append_json_string(out, rel.name);
    }

    // pg_decode_write_tuple: {"name":…,"type":…,"value":…} per column in attnum order, leaving
    // out unchanged TOASTed values (not sent, so not known); NULL is null, also in an identity.
    void append_tuple(std::string& out, const RelationInfo& rel, std::span<const Value> values,
                      bool key_only) {
        bool first = true;
        for (size_t i = 0; i < rel.columns.size(); ++i) {
            const ColumnInfo& column = rel.columns[i];
            if (key_only && !column.key) continue;
            const Value& value = values[i];
            if (value.kind == ValueKind::UnchangedToast) continue;
            out += first ? "{\"name\":" : ",{\"name\":";
            first = false;
            append_json_string(out, column.name);
            out += ",\"type\":";
            append_type_name(out, column);
            out += ",\"value\":";
            if (value.kind == ValueKind::Null)
                out += "null";
            else
                append_value(out, column.type_oid, value.text);
            out += '}';
        }
    }

    // wal2json names types with format_type_with_typemod(), which says "bpchar" for a char
    // column without a length where format_type(oid, NULL) says "character": that one case is
    // mended here. format_type() double-quotes a name that needs it, and wal2json then copies it
    // as is ("Mood", or the invalid JSON "My Schema"."Q""t" for a schema-qualified one); a name
    // that ends in "[]" or does not start with a quote is escaped.
    static void append_type_name(std::string& out, const ColumnInfo& column) {
        std::string_view name = column.type_name;
        if (column.typmod < 0 && column.type_oid == pg::kBpcharOid && name == "character")
            name = "bpchar";
        else if (column.typmod < 0 && column.type_oid == pg::kBpcharArrayOid &&
                 name == "character[]")
            name = "bpchar[]";
        if (!name.empty() && name.front() == '"' && name.back() != ']')
            out += name;
        else
            append_json_string(out, name);
    }

    // pg_decode_write_value: numbers bare (NaN and ±Infinity as null), booleans as true/false,
    // bytea's hex digits without "\x", everything else as an escaped string of its text.
    // numbers_as_strings selects wal2json's numeric-data-types-as-string: every number quoted.
    // The switch is on the column's own type OID, so a domain over int4 or an int4[] is a string.
    void append_value(std::string& out, uint32_t type_oid, std::string_view text) const {
        switch (type_oid) {
        case pg::kInt2Oid:
        case pg::kInt4Oid:
        case pg::kInt8Oid:
        case pg::kOidOid:
        case pg::kFloat4Oid:
        case pg::kFloat8Oid:
        case pg::kNumericOid:
            if (m_numbers_as_strings)
                append_json_string(out, text);
            else if (starts_with_nocase(text, "nan") || starts_with_nocase(text, "infinity") ||
                     starts_with_nocase(text, "-infinity"))
                out += "null";
            else if (text.find_first_not_of("0123456789+-eE.") == std::string_view::npos)
                out += text;
            else
                append_json_string(out, text); // wal2json raises "is not a number" here
            break;
        case pg::kBoolOid:
            out += text == "t" ? "true" : "false";
            break;
        case pg::kByteaOid:
            append_json_string(out, text.substr(text.size() < 2 ? text.size() : 2));
            break;
        default:
            append_json_string(out, text);
            break;
        }
    }

    const bool m_numbers_as_strings;
    const std::function<int32_t(int64_t)> m_commit_time_offset;
    bool m_in_txn = false;
    std::string m_pending;
    uint32_t m_xid = 0;
    int64_t m_commit_time = 0;
    std::string m_txn_fields;
};

} // namespace

std::unique_ptr<Formatter> make_wal2json_formatter(const ValueWriter& values,
                                                   const FormatOptions& options) {
    return std::make_unique<Wal2jsonFormatter>(values, options);
}

} // namespace pgsync::record
