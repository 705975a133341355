// The change-record model every output format renders: a committed transaction's begin, rows,
// truncates, messages, relation (schema) changes and commit, with the positions consumers need to
// acknowledge (end_lsn) and deduplicate (commit_lsn + seq, S3).
#pragma once

#include "pg/type_catalog.h"
#include "util/lsn.h"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pgsync::record {

// PostgreSQL's epoch (2000-01-01) is 946684800 s after Unix's (T8).
inline constexpr int64_t kPgEpochOffsetMicros = 946684800LL * 1000000LL;

struct TxnInfo {
    uint32_t xid = 0;
    Lsn commit_lsn;          // known from Begin
    Lsn end_lsn;             // known from Commit; invalid (0) before it
    int64_t commit_time = 0; // microseconds since 2000-01-01 UTC, as pgoutput sends it
    // A streamed transaction's change rendered before its commit: only xid is known, and the
    // formatter writes markers for the rest (Formatter::expand, formatter.h).
    bool deferred = false;
};

struct ColumnInfo {
    std::string name;
    uint32_t type_oid = 0;
    int32_t typmod = -1;
    bool key = false;                   // part of the replica identity (Relation flag 1)
    std::string type_name;              // format_type(oid, typmod), e.g. "character varying(10)"
    const pg::TypeInfo* type = nullptr; // the mapping's TypeInfo (ValueWriter::resolve)
    std::string json_key;               // the name as a JSON string and ':', rendered once
};

struct RelationInfo {
    uint32_t oid = 0;
    std::string schema;
    std::string name;
    char replica_identity = 'd'; // d default, n nothing, f full, i index
    std::vector<ColumnInfo> columns;
    std::string json_names; // "schema":…,"table":… rendered once
};

enum class ValueKind : char { Null = 'n', UnchangedToast = 'u', Text = 't' };

struct Value {
    ValueKind kind = ValueKind::Null;
    std::string_view text; // PostgreSQL's text output; Text only
};

enum class RowOp { Insert, Update, Delete };
// Which old image a row carries (R2): none; the replica identity key ('K': other columns are
// Null there and mean "not part of the key", never SQL NULL); or the full old row ('O').
enum class OldKind { None, Key, Full };

struct RowChange {
    RowOp op = RowOp::Insert;
    const RelationInfo* relation = nullptr;
    Lsn lsn;          // the change's own WAL position
    uint32_t seq = 0; // 0-based position of the record in its transaction
    OldKind old_kind = OldKind::None;
    std::span<const Value> old_values; // one per relation column when old_kind != None
    std::span<const Value> new_values; // one per relation column (Insert, Update)
};

struct TruncateChange {
    Lsn lsn;
    uint32_t seq = 0;
    std::vector<const RelationInfo*> relations;
    bool cascade = false;
    bool restart_identity = false;
};

struct MessageChange {
    Lsn lsn;
    uint32_t seq = 0; // meaningful when transactional
    bool transactional = false;
    std::string_view prefix;
    std::string_view content; // raw bytes; formats base64 them when not valid UTF-8
};

// Formats "2026-11-20T10:00:00.123456Z" from microseconds since 2000-01-01 UTC.
std::string format_commit_time(int64_t pg_micros);

} // namespace pgsync::record
