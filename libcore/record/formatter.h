// Formatter: renders change records as NDJSON lines in one of the output formats (native,
// wal2json, debezium). The one seam with several implementations, chosen by --format.
#pragma once

#include "record/change.h"
#include "record/value_json.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace pgsync::record {

struct FormatOptions {
    std::string source_name = "pgsync"; // debezium's source.name (the "server name")
    std::string database;               // source.db
    std::string slot;                   // source metadata
    // wal2json prints commit times in the walsender's TimeZone: its offset from UTC in seconds at
    // an instant (microseconds since 2000-01-01 UTC). Unset means UTC.
    std::function<int32_t(int64_t)> commit_time_offset;
};

// Every method appends whole lines (each ending in '\n') to `out`; a format may append nothing for
// a record kind it does not represent (wal2json has no relation records, for example).
class Formatter {
public:
    virtual ~Formatter() = default;
    virtual void begin(std::string& out, const TxnInfo& txn) = 0;
    virtual void row(std::string& out, const TxnInfo& txn, const RowChange& change) = 0;
    virtual void truncate(std::string& out, const TxnInfo& txn, const TruncateChange& change) = 0;
    // txn is null for a non-transactional message, which arrives outside any transaction (R13).
    virtual void message(std::string& out, const TxnInfo* txn, const MessageChange& change) = 0;
    // A table's shape as the server sent it, before its first row in this session or after a
    // change.
    virtual void relation(std::string& out, const TxnInfo& txn, const RelationInfo& relation) = 0;
    virtual void commit(std::string& out, const TxnInfo& txn) = 0;

    // Deferred rendering, for a streamed transaction's changes as their chunks arrive, long before
    // its commit. A format that supports it renders row(), truncate() and transactional
    // message() with txn.deferred set, writing a marker (a NUL byte, which JSON text never holds
    // raw, and a letter) where a field unknown before the commit goes: kTxnMarker for the
    // commit's fields, kSeqMarker for "seq", which aborted subtransactions may still shift. At
    // the commit, expand() copies such bytes to `out` with the markers filled in, numbering seq
    // from `seq` on. A format that does not (false) gets its changes at the commit instead.
    static constexpr char kTxnMarker = 'T';
    static constexpr char kSeqMarker = 'S';
    virtual bool supports_deferred() const { return false; }
    void expand(std::string& out, std::string_view deferred, const TxnInfo& txn, uint32_t& seq);

protected:
    static void append_marker(std::string& out, char marker) {
        out += '\0';
        out += marker;
    }
    // Writes the commit's fields where a deferred change has kTxnMarker.
    virtual void append_deferred_txn(std::string& out, const TxnInfo& txn);
};

// "native", "wal2json" or "debezium"; throws a usage Error for any other name.
std::unique_ptr<Formatter> make_formatter(std::string_view name, const ValueWriter& values,
                                          const FormatOptions& options = {});

// Implementations (one file each): record/format_native.cpp, format_wal2json.cpp,
// format_debezium.cpp.
std::unique_ptr<Formatter> make_native_formatter(const ValueWriter& values);
std::unique_ptr<Formatter> make_wal2json_formatter(const ValueWriter& values,
                                                   const FormatOptions& options);
std::unique_ptr<Formatter> make_debezium_formatter(const ValueWriter& values,
                                                   const FormatOptions& options);

} // namespace pgsync::record
