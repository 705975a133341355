// LikePattern agrees with a plain recursive LIKE on random patterns and texts (UTF-8, escapes,
// ILIKE), and matches a worst-case pattern against a long text without backtracking.
#include "filter/like_match.h"

#include <catch2/catch.hpp>
#include <random>
#include <string>

using pgsync::filter::like_match;
using pgsync::filter::LikePattern;

namespace {

// The definition, exponential in the worst case: the reference, for short inputs only.
size_t char_len(const std::string& s, size_t i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    return std::min(n, s.size() - i);
}

char fold(char c, bool ci) {
    return ci && c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c;
}

bool reference(const std::string& t, size_t ti, const std::string& p, size_t pi, bool ci) {
    if (pi == p.size()) return ti == t.size();
    if (p[pi] == '%') {
        for (size_t k = ti;; k += char_len(t, k)) {
            if (reference(t, k, p, pi + 1, ci)) return true;
            if (k >= t.size()) return false;
        }
    }
    if (ti == t.size()) return false;
    if (p[pi] == '_') return reference(t, ti + char_len(t, ti), p, pi + 1, ci);
    size_t lit = p[pi] == '\\' && pi + 1 < p.size() ? pi + 1 : pi;
    size_t pl = char_len(p, lit), tl = char_len(t, ti);
    if (pl != tl) return false;
    for (size_t k = 0; k < pl; ++k)
        if (fold(p[lit + k], ci) != fold(t[ti + k], ci)) return false;
    return reference(t, ti + tl, p, lit + pl, ci);
}

} // namespace

TEST_CASE("like: agrees with the definition on random patterns and texts", "[filter]") {
    const std::vector<std::string> atoms = {
        "a", "b", "A", "%", "_", "\\%", "\\_", "\\\\", "\xc3\xa9", "\xc3\x89", "\xe6\x97\xa5", "x"};
    std::mt19937 random(42);
    int matches = 0;
    for (int round = 0; round < 20000; ++round) {
        std::string pattern, text;
        for (int i = int(random() % 7); i > 0; --i)
            pattern += atoms[random() % atoms.size()];
        for (int i = int(random() % 8); i > 0; --i) {
            std::string atom = atoms[random() % atoms.size()];
            if (atom[0] == '\\') atom = atom.substr(1);
            text += atom;
        }
        const bool ci = random() % 2;
        const bool expected = reference(text, 0, pattern, 0, ci);
        INFO("text \"" << text << "\" pattern \"" << pattern << "\" ci " << ci);
        REQUIRE(like_match(text, pattern, ci) == expected);
        matches += expected;
    }
    CHECK(matches > 300); // the sample exercises both outcomes
}

TEST_CASE("like: patterns wider than one machine word", "[filter]") {
    std::string pattern;
    for (int i = 0; i < 200; ++i)
        pattern += i % 3 ? "a" : "%a";
    std::string text(300, 'a');
    CHECK(LikePattern(pattern, false).matches(text));
    CHECK_FALSE(LikePattern(pattern + "b", false).matches(text));
    CHECK(LikePattern(pattern + "%", false).matches(text + "zzz"));
}

TEST_CASE("like: a pattern at the length limit against 40 kB is matched in one pass", "[filter]") {
    // %a%a%a...%b against "aaa...": a backtracking matcher tries every split (the review's
    // 12-15 s stall); the automaton reads the text once.
    std::string pattern;
    while (pattern.size() + 4 <= pgsync::filter::kMaxLikePatternBytes)
        pattern += "%a";
    pattern += "%b";
    REQUIRE(pattern.size() <= pgsync::filter::kMaxLikePatternBytes);
    const std::string text(40000, 'a');
    const LikePattern compiled(pattern, false);
    for (int i = 0; i < 20; ++i)
        CHECK_FALSE(compiled.matches(text));
    CHECK(compiled.matches(text + "b"));
}
