// pgoutput's logical replication messages (protocol versions 1-4), decoded from the bytes of one
// XLogData payload. Views point into the payload: copy what must outlive it.
// Reference: https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html
#pragma once

#include "util/lsn.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace pgsync::decode {

// One column of a TupleData: 'n' NULL, 'u' unchanged TOASTed value (not sent), 't' text, 'b'
// binary.
enum class ValueKind : char { Null = 'n', UnchangedToast = 'u', Text = 't', Binary = 'b' };

struct TupleValue {
    ValueKind kind = ValueKind::Null;
    std::string_view data; // Text/Binary only
};
using Tuple = std::vector<TupleValue>;

struct Begin {
    Lsn final_lsn;           // the commit record's LSN (the transaction's commit_lsn)
    int64_t commit_time = 0; // microseconds since 2000-01-01 UTC
    uint32_t xid = 0;
};
struct Commit {
    uint8_t flags = 0;
    Lsn commit_lsn;
    Lsn end_lsn; // what a consumer acknowledges
    int64_t commit_time = 0;
};
struct Origin {
    Lsn commit_lsn;
    std::string_view name;
};
struct RelationColumn {
    bool key = false; // part of the replica identity
    std::string_view name;
    uint32_t type_oid = 0;
    int32_t typmod = -1;
};
struct Relation {
    uint32_t xid = 0; // streamed transactions only, else 0
    uint32_t oid = 0;
    std::string_view schema; // empty means pg_catalog
    std::string_view name;
    char replica_identity = 'd';
    std::vector<RelationColumn> columns;
};
struct Type {
    uint32_t xid = 0;
    uint32_t oid = 0;
    std::string_view schema;
    std::string_view name;
};
struct Insert {
    uint32_t xid = 0;
    uint32_t relation = 0;
    Tuple new_tuple;
};
struct Update {
    uint32_t xid = 0;
    uint32_t relation = 0;
    char old_kind = 0; // 0 (no old tuple), 'K' (replica identity key) or 'O' (whole old row)
    Tuple old_tuple;
    Tuple new_tuple;
};
struct Delete {
    uint32_t xid = 0;
    uint32_t relation = 0;
    char old_kind = 'K'; // 'K' or 'O'
    Tuple old_tuple;
};
struct Truncate {
    uint32_t xid = 0;
    uint8_t options = 0; // bit 1 CASCADE, bit 2 RESTART IDENTITY (R5)
    std::vector<uint32_t> relations;
    bool cascade() const { return options & 1; }
    bool restart_identity() const { return options & 2; }
};
struct LogicalMessage {
    uint32_t xid = 0;
    bool transactional = false;
    Lsn lsn;
    std::string_view prefix;
    std::string_view content;
};
struct StreamStart {
    uint32_t xid = 0;
    bool first_segment = false;
};
struct StreamStop {};
struct StreamCommit {
    uint32_t xid = 0;
    uint8_t flags = 0;
    Lsn commit_lsn;
    Lsn end_lsn;
    int64_t commit_time = 0;
};
struct StreamAbort {
    uint32_t xid = 0;
    uint32_t subxid = 0; // == xid: the whole transaction aborted; else only that subtransaction
    Lsn abort_lsn;       // protocol 4 with parallel streaming only
    int64_t abort_time = 0;
};

using Message =
    std::variant<Begin, Commit, Origin, Relation, Type, Insert, Update, Delete, Truncate,
                 LogicalMessage, StreamStart, StreamStop, StreamCommit, StreamAbort>;

// Decodes one message. `in_stream` is true between Stream Start and Stream Stop, where DML,
// Relation, Type, Truncate and Message carry the (sub)transaction's xid first. Throws
// pgsync::Error ("invalid pgoutput message: …", naming the message type and byte offset) on
// truncated or malformed input and on message types pgsync does not negotiate (two-phase).
Message parse_message(std::string_view bytes, bool in_stream);

// The message type byte's name for errors ("Insert", "Stream Commit", …).
const char* message_name(char type);

} // namespace pgsync::decode
