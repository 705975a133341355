// Byte-level text helpers for records: UTF-8 validation and base64, for logical message contents
// that may be arbitrary bytes (R13).
#pragma once

#include <string>
#include <string_view>

namespace pgsync::record {

bool is_valid_utf8(std::string_view bytes);
void append_base64(std::string& out, std::string_view bytes);

} // namespace pgsync::record
