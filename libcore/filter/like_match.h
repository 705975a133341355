// SQL LIKE matching as PostgreSQL does it in a UTF-8 database under COLLATE "C": % any sequence,
// _ one character, backslash escapes the next pattern character; ILIKE folds ASCII letters only.
#pragma once

#include <string_view>

namespace pgsync::filter {

// pattern must not end with an unpaired backslash (bind refuses such patterns). Linear space,
// no allocation; worst case O(text * pattern).
bool like_match(std::string_view text, std::string_view pattern, bool case_insensitive);

} // namespace pgsync::filter
