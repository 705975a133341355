// ShapeRequest: a /v1/shape request's query string (ElectricSQL's HTTP shape API), decoded and
// checked before anything touches the database: the table name by PostgreSQL's identifier rules,
// the offset, live/SSE flags, where and its $n params, columns, replica and log modes, and the
// subset-snapshot parameters. Pure: the table and columns are checked against the published tables
// later (serve/electric/shape_registry.h). Unknown parameters are ignored, as Electric does.
#pragma once

#include "changelog/log_offset.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgsync::serve::electric {

// Limits on what a request may carry, checked before anything is parsed: a parameter's name or
// value (and a POST body's string) of at most kMaxParamBytes, and at most kMaxParams $n values.
inline constexpr size_t kMaxParamBytes = 64 * 1024;
inline constexpr size_t kMaxParams = 1000;

// "0_inf": the end of a shape's snapshot region (op = kSnapshotEndOp at LSN 0). Snapshot chunks
// are 0_0, 0_1, ...; real changes have an LSN above 0, so offsets order as Electric's do.
inline constexpr uint64_t kSnapshotEndOp = UINT64_MAX;
inline constexpr LogOffset kSnapshotEnd{Lsn(0), kSnapshotEndOp};

// "<lsn>_<op>", with "0_inf" for kSnapshotEnd.
std::string offset_text(LogOffset offset);
// Parses what offset_text writes (and "0_inf"); nullopt for anything else ("-1" and "now" are
// not offsets: ShapeRequest handles them).
std::optional<LogOffset> parse_offset(std::string_view text);

struct QueryParam {
    std::string name;  // percent-decoded, '+' as a space
    std::string value; // likewise
};
// Splits and decodes a query string (the part after '?'). Malformed percent escapes are kept as
// they are (then refused by the parameter that holds them, if it matters).
std::vector<QueryParam> parse_query_string(std::string_view query);

struct TableRef {
    std::string schema = "public";
    std::string name;
};

struct RequestError {
    std::string field;   // the parameter, e.g. "offset"; "body" for a POST body
    std::string message; // e.g. "has invalid format"
};

// `name` or `schema.name`; a quoted part keeps its case and "" in it is a quote, an unquoted
// part is lower-cased and must be a plain identifier. False (with error) when malformed.
bool parse_table_name(std::string_view text, TableRef& out, std::string& error);
// A comma-separated column list, each name quoted or not (quoted: split only on commas outside
// quotes, "" is a quote; unquoted: lower-cased). False (with error) when malformed or empty.
bool parse_columns(std::string_view text, std::vector<std::string>& out, std::string& error);

struct Subset {
    bool present = false;
    std::string where;                              // SQL-like text in pgsync's filter grammar
    std::vector<std::optional<std::string>> params; // $1..$n
    std::optional<uint64_t> limit;                  // > 0
    std::optional<uint64_t> offset;                 // >= 0
    std::string order_by;                           // required with limit or offset
};

struct ShapeRequest {
    enum class Start { Beginning, Now, At }; // offset=-1, offset=now, a given offset
    TableRef table;
    bool has_table = false;
    Start start = Start::Beginning;
    LogOffset offset; // Start::At
    std::string handle;
    bool live = false;              // present with any value but "false"
    bool sse = false;               // live_sse or experimental_live_sse = true (requires live)
    std::optional<uint64_t> cursor; // empty or absent: nullopt
    std::string where;              // empty: none
    std::vector<std::optional<std::string>> params; // params[1]..params[n]: $1..$n
    std::vector<std::string> columns;               // empty: every column
    bool replica_full = false;                      // replica=full
    bool changes_only = false;                      // log=changes_only
    Subset subset;                                  // subset__* (GET) or the POST body
    std::string secret;                             // secret or api_secret, when given
};

// For GET and HEAD: table and offset are required; handle is required when offset is neither -1
// nor now (and ignored when it is); live is refused with -1 and now, live_sse without live;
// replica is default|full and log full|changes_only; params[n] must be numbered 1..n without gaps
// (at most 1,000). For DELETE (for_delete): table or handle is required and offset is not.
// False with error naming the first bad parameter (checked in a fixed order: sizes, table, offset,
// handle, live, live_sse, params, columns, replica, log, subset), and out left as it was.
bool parse_shape_request(const std::vector<QueryParam>& query, bool for_delete, ShapeRequest& out,
                         RequestError& error);

// The JSON body of a POST subset request: {"where", "params": {"1": ...}, "limit", "offset",
// "order_by"} (other keys ignored). False with error (field "body" or the key) when it is not a
// JSON object or a member has the wrong type; out is left as it was then.
bool parse_subset_body(std::string_view body, Subset& out, RequestError& error);

} // namespace pgsync::serve::electric
