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
