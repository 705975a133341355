// Helpers shared by the literal parsers behind ValueWriter (array, record and hstore text): the
// whitespace they skip, per-thread scratch buffers for unescaped text, and their error wording.
#pragma once

#include "pg/type_catalog.h"

#include <string>
#include <string_view>

namespace pgsync::record::detail {

// Deeper nesting of types (arrays of composites of arrays ...) means a broken catalog.
constexpr int kMaxTypeNesting = 64;
// PostgreSQL's MAXDIM: array_out never prints more nested braces than this.
constexpr int kMaxArrayDimensions = 6;

// array_isspace(), record_in's and hstore's isspace() in the C locale.
inline bool is_literal_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

// A buffer for unescaped text at one nesting depth, cleared, owned by the calling thread. Buffers
// keep their capacity, so after warm-up unescaping allocates nothing. The reference stays valid
// while deeper levels take their own buffers.
std::string& scratch_buffer(int depth);

// Throws pgsync::Error "malformed <kind> literal for type "<name>": <reason>".
[[noreturn]] void throw_malformed(std::string_view kind, const pg::TypeInfo& type,
                                  std::string_view reason);

} // namespace pgsync::record::detail
