// Exact decimal numbers for numeric comparisons: a view of the significant digits of a number's
// text, compared without converting to double or allocating (numeric 1.50 equals 1.5; NaN equals
// NaN and sorts above everything, as in PostgreSQL).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace pgsync::filter {

struct Decimal {
    enum class Kind : char { Finite, NaN, PositiveInfinity, NegativeInfinity };
    Kind kind = Kind::Finite;
    bool negative = false;
    // The significant digits are head followed by tail: no leading zero, no trailing zero; both
    // empty for zero. They point into the parsed text, which must outlive the view.
    std::string_view head;
    std::string_view tail;
    // How many of the digits stand before the decimal point (may be negative or past the end):
    // the value is 0.<digits> * 10^point.
    int64_t point = 0;

    size_t size() const { return head.size() + tail.size(); }
    char digit(size_t i) const { return i < head.size() ? head[i] : tail[i - head.size()]; }
    bool is_zero() const { return kind == Kind::Finite && size() == 0; }
};

// Parses [+|-]digits[.digits][(e|E)[+|-]digits], or with words also NaN, Infinity, inf (any case,
// signed for the infinities) and surrounding whitespace, as numeric_in accepts. False if the text
// is not such a number or its exponent is beyond +-100000.
bool parse_decimal(std::string_view text, Decimal& out, bool words_and_spaces);

// <0, 0, >0 in PostgreSQL's numeric order: -Infinity < finite < Infinity < NaN, NaN = NaN.
int compare_decimal(const Decimal& a, const Decimal& b);

// A canonical text that is also valid numeric input: "0", "NaN", "Infinity", "-Infinity" or
// [-]0.<digits>e<point>. Equal values give equal texts.
void append_canonical_decimal(std::string& out, const Decimal& value);

// A Decimal with owned digits, for bound constants (the view is rebuilt on each use, so copies
// and moves of the owner stay valid).
struct OwnedDecimal {
    Decimal::Kind kind = Decimal::Kind::Finite;
    bool negative = false;
    std::string digits;
    int64_t point = 0;

    static OwnedDecimal from(const Decimal& value);
    Decimal view() const { return Decimal{kind, negative, digits, {}, point}; }
};

} // namespace pgsync::filter
