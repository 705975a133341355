// Reads back the native change records pgsync writes (record/format_native.cpp), without a JSON
// library: the fields pgsync-serve routes on and the raw spans of the row images. Exact for our own
// output; anything else is rejected, never guessed at. Allocates nothing: it runs for every record.
#pragma once

#include "util/lsn.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace pgsync::record {

struct ScannedRecord {
    std::string_view op;     // begin, insert, update, delete, truncate, message, relation, commit
    uint32_t xid = 0;        // 0 for a non-transactional message
    Lsn commit_lsn;          // invalid for a non-transactional message
    Lsn lsn;                 // rows, truncates, messages
    int64_t seq = -1;        // rows, truncates, transactional messages; -1 otherwise
    Lsn end_lsn;             // commit
    std::string_view schema; // rows, relation: unescaped when it needed no escapes, else raw
    std::string_view table;  //   (see schema_token/table_token for the exact JSON tokens)
    std::string_view schema_token, table_token; // the JSON string tokens, quotes included
    std::string_view new_object;                // rows: the raw {...} of "new", empty when absent
    std::string_view old_object;                // rows: the raw {...} of "old", empty when absent
    std::string_view identity;                  // "key" or "full" when old is present
    std::string_view unchanged_toast;           // the raw [...] when present
    std::string_view relations;                 // truncate: the raw [...] of relations
    std::string_view columns;                   // relation: the raw [...] of columns

    // A record of a transaction (everything but a non-transactional message).
    bool transactional() const { return commit_lsn.is_valid(); }
};

// Parses one line (no trailing newline). False when it is not a native record: malformed JSON, an
// unknown op, a field of the wrong type, a duplicate field or a field its op requires missing.
// Members pgsync does not write are skipped (after checking they are well-formed JSON).
bool scan_record(std::string_view line, ScannedRecord& out);

// Calls fn(key_token, value_token) for each member of a raw JSON object, in order; key_token is the
// JSON string token with its quotes. False when object is not a well-formed JSON object (fn may
// have been called for the members before the fault). fn returns void, or bool: false stops the
// walk and makes for_each_member return false.
template <typename Fn> bool for_each_member(std::string_view object, Fn&& fn);

// Calls fn(element_token) for each element of a raw JSON array. False when malformed; fn as above.
template <typename Fn> bool for_each_element(std::string_view array, Fn&& fn);

// The end of the JSON value starting at text[pos] (string, number, literal, object or array), or
// std::string_view::npos when it is malformed. Nesting deeper than kMaxJsonDepth is malformed.
size_t skip_json_value(std::string_view text, size_t pos);
inline constexpr int kMaxJsonDepth = 512;

// The unescaped text of a JSON string token (quotes included); false when it is not one (a lone
// UTF-16 surrogate escape counts as malformed).
bool unescape_json_string(std::string_view token, std::string& out);

} // namespace pgsync::record

#include "record/record_scan_inline.h"
