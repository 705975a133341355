// SQL LIKE matching as PostgreSQL does it in a UTF-8 database under COLLATE "C": % any sequence,
// _ one character, backslash escapes the next pattern character; ILIKE folds ASCII letters only.
// Linear in the text whatever the pattern: a hostile pattern must not stall the event loop.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace pgsync::filter {

// The longest LIKE pattern a filter may bind, in bytes (bind refuses longer ones). It bounds the
// matcher's state to kLikeMaxWords words, so a match costs at most that many word operations per
// character of text.
inline constexpr size_t kMaxLikePatternBytes = 1024;
inline constexpr size_t kLikeMaxWords = (kMaxLikePatternBytes + 1 + 63) / 64;

// A compiled pattern: a bit-parallel simulation of the pattern's automaton (state i = the first i
// non-% pattern characters matched; a % is a self-loop on the state before it). Immutable.
class LikePattern {
public:
    // pattern: at most kMaxLikePatternBytes, not ending with an unpaired backslash (bind checks).
    LikePattern(std::string_view pattern, bool case_insensitive);
    bool matches(std::string_view text) const;

private:
    const uint64_t* mask_of(uint32_t code) const;

    size_t m_tokens = 0; // non-% pattern characters
    size_t m_words = 1;
    bool m_case_insensitive = false;
    std::vector<uint64_t> m_loop;  // states with a % after them
    std::vector<uint64_t> m_any;   // bit i+1 for each _ at token i
    std::vector<uint64_t> m_ascii; // 128 masks: any | the literal tokens equal to the byte
    std::vector<std::pair<uint32_t, size_t>> m_other; // non-ASCII code -> mask offset, sorted
    std::vector<uint64_t> m_other_masks;
};

// One-off match (compiles the pattern each call): for tests and tools, not the hot path.
bool like_match(std::string_view text, std::string_view pattern, bool case_insensitive);

} // namespace pgsync::filter
