// LIKE / ILIKE matching; see filter/like_match.h. The classic greedy wildcard scan that backtracks
// only to the last %, which is enough because % matches any sequence.
#include "filter/like_match.h"

#include <cstddef>

namespace pgsync::filter {

namespace {

// The byte length of the UTF-8 character starting at text[pos] (1 for a stray byte).
size_t char_length(std::string_view text, size_t pos) {
    unsigned char c = static_cast<unsigned char>(text[pos]);
    size_t length = c < 0xc0 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
    return pos + length <= text.size() ? length : text.size() - pos;
}

char fold(char c) {
    return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c;
}

} // namespace

bool like_match(std::string_view text, std::string_view pattern, bool case_insensitive) {
    constexpr size_t kNone = static_cast<size_t>(-1);
    size_t t = 0, p = 0;
    size_t star_p = kNone, star_t = 0;
    while (t < text.size()) {
        if (p < pattern.size()) {
            const char pc = pattern[p];
            if (pc == '%') {
                star_p = ++p;
                star_t = t;
                continue;
            }
            if (pc == '_') {
                t += char_length(text, t);
                ++p;
                continue;
            }
            size_t literal = pc == '\\' && p + 1 < pattern.size() ? p + 1 : p;
            char a = text[t], b = pattern[literal];
            if (case_insensitive ? fold(a) == fold(b) : a == b) {
                ++t;
                p = literal + 1;
                continue;
            }
        }
        if (star_p == kNone) return false;
        star_t += char_length(text, star_t);
        t = star_t;
        p = star_p;
    }
    while (p < pattern.size() && pattern[p] == '%')
        ++p;
    return p == pattern.size();
}

} // namespace pgsync::filter
