// JSON text primitives shared by every value mapping: string escaping exactly as PostgreSQL's
// escape_json() does it, and PostgreSQL's test for "is this text a valid JSON number".
#pragma once

#include <string>
#include <string_view>

namespace pgsync::record {

// Appends text as a JSON string, quotes included, byte for byte as PostgreSQL 15's escape_json():
// \b \f \n \r \t \" \\ get their short escapes, other bytes below 0x20 become \u00xx (lower-case
// hex), everything else (UTF-8 sequences, 0x7f) is copied verbatim. PostgreSQL text never holds a
// NUL byte; here one becomes \u0000 where escape_json would stop.
void append_json_string(std::string& out, std::string_view text);

// The same escaping without the surrounding quotes, for callers that build one string in pieces.
void append_json_escaped(std::string& out, std::string_view text);

// The offset of the first byte that append_json_escaped would escape, or text.size() if none.
size_t find_json_special(std::string_view text);

// True when text is a whole JSON number (PostgreSQL's IsValidJsonNumber): optional '-', an integer
// part without leading zeros, an optional fraction and an optional exponent. "NaN", "Infinity",
// "+1", "1.", ".5" and "01" are not.
bool is_json_number(std::string_view text);

} // namespace pgsync::record
