// LIKE / ILIKE matching; see filter/like_match.h. Patterns compile to per-character bit masks; the
// text is read once, one UTF-8 character at a time, updating a bit set of live automaton states
// (shift-and with self-loops for %), so time is O(text * pattern/64) with no backtracking.
#include "filter/like_match.h"

#include <algorithm>
#include <array>

namespace pgsync::filter {

namespace {

// The character at text[pos] and its byte length. A byte that does not start a valid sequence
// stands for itself, outside Unicode's range, so pattern and text agree on it.
std::pair<uint32_t, size_t> next_char(std::string_view text, size_t pos) {
    const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
    const unsigned char c = byte(pos);
    if (c < 0x80) return {c, 1};
    size_t length = c >= 0xf0 && c < 0xf8 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
    if (length == 0 || pos + length > text.size()) return {0x200000u | c, 1};
    uint32_t code = c & (0x7fu >> length);
    for (size_t i = 1; i < length; ++i) {
        if ((byte(pos + i) & 0xc0) != 0x80) return {0x200000u | c, 1};
        code = (code << 6) | (byte(pos + i) & 0x3f);
    }
    return {code, length};
}

uint32_t fold(uint32_t c) {
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

void set_bit(uint64_t* words, size_t bit) {
    words[bit / 64] |= uint64_t(1) << (bit % 64);
}

} // namespace

LikePattern::LikePattern(std::string_view pattern, bool case_insensitive)
    : m_case_insensitive(case_insensitive) {
    struct Token {
        bool any;
        uint32_t code;
    };
    std::vector<Token> tokens;
    std::vector<size_t> loops; // states with a % after them
    for (size_t p = 0; p < pattern.size();) {
        if (pattern[p] == '%') {
            loops.push_back(tokens.size());
            ++p;
            continue;
        }
        if (pattern[p] == '_') {
            tokens.push_back({true, 0});
            ++p;
            continue;
        }
        if (pattern[p] == '\\' && p + 1 < pattern.size()) ++p;
        auto [code, length] = next_char(pattern, p);
        tokens.push_back({false, case_insensitive ? fold(code) : code});
        p += length;
    }
    m_tokens = tokens.size();
    m_words = (m_tokens + 1 + 63) / 64;
    m_loop.assign(m_words, 0);
    for (size_t state : loops)
        set_bit(m_loop.data(), state);
    m_any.assign(m_words, 0);
    for (size_t i = 0; i < tokens.size(); ++i)
        if (tokens[i].any) set_bit(m_any.data(), i + 1);
    m_ascii.resize(128 * m_words);
    for (size_t c = 0; c < 128; ++c)
        std::copy(m_any.begin(), m_any.end(), m_ascii.begin() + long(c * m_words));
    for (size_t i = 0; i < tokens.size(); ++i) {
        if (tokens[i].any) continue;
        const uint32_t code = tokens[i].code;
        if (code < 128) {
            set_bit(&m_ascii[code * m_words], i + 1);
            continue;
        }
        auto it = std::find_if(m_other.begin(), m_other.end(),
                               [&](const auto& entry) { return entry.first == code; });
        if (it == m_other.end()) {
            m_other.emplace_back(code, m_other_masks.size());
            m_other_masks.insert(m_other_masks.end(), m_any.begin(), m_any.end());
            it = m_other.end() - 1;
        }
        set_bit(&m_other_masks[it->second], i + 1);
    }
    std::sort(m_other.begin(), m_other.end());
}

const uint64_t* LikePattern::mask_of(uint32_t code) const {
    if (code < 128) return &m_ascii[(m_case_insensitive ? fold(code) : code) * m_words];
    auto it = std::lower_bound(m_other.begin(), m_other.end(), std::make_pair(code, size_t(0)));
    if (it != m_other.end() && it->first == code) return &m_other_masks[it->second];
    return m_any.data();
}

bool LikePattern::matches(std::string_view text) const {
    std::array<uint64_t, kLikeMaxWords> states{};
    const size_t words = std::min(m_words, kLikeMaxWords);
    states[0] = 1; // nothing matched yet
    for (size_t pos = 0; pos < text.size();) {
        auto [code, length] = next_char(text, pos);
        pos += length;
        const uint64_t* mask = mask_of(code);
        uint64_t carry = 0, alive = 0;
        for (size_t w = 0; w < words; ++w) {
            const uint64_t current = states[w];
            const uint64_t next = (((current << 1) | carry) & mask[w]) | (current & m_loop[w]);
            carry = current >> 63;
            states[w] = next;
            alive |= next;
        }
        if (!alive) return false;
    }
    const size_t accept = m_tokens;
    return (states[accept / 64] >> (accept % 64)) & 1;
}

bool like_match(std::string_view text, std::string_view pattern, bool case_insensitive) {
    return LikePattern(pattern, case_insensitive).matches(text);
}

} // namespace pgsync::filter
