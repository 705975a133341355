// Exact decimal parsing and comparison; see filter/decimal.h.
#include "filter/decimal.h"

#include <algorithm>

namespace pgsync::filter {

namespace {

constexpr int64_t kMaxExponent = 100000;

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool equals_folded(std::string_view text, std::string_view lower_word) {
    if (text.size() != lower_word.size()) return false;
    for (size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
        if (c != lower_word[i]) return false;
    }
    return true;
}

} // namespace

bool parse_decimal(std::string_view text, Decimal& out, bool words_and_spaces) {
    out = Decimal{};
    if (words_and_spaces) {
        while (!text.empty() && is_space(text.front()))
            text.remove_prefix(1);
        while (!text.empty() && is_space(text.back()))
            text.remove_suffix(1);
        if (equals_folded(text, "nan")) {
            out.kind = Decimal::Kind::NaN;
            return true;
        }
    } else if (text == "NaN") {
        out.kind = Decimal::Kind::NaN;
        return true;
    }
    size_t pos = 0;
    bool negative = false;
    if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
        if (!words_and_spaces && text[pos] == '+') return false;
        negative = text[pos] == '-';
        ++pos;
    }
    std::string_view rest = text.substr(pos);
    if (words_and_spaces ? (equals_folded(rest, "infinity") || equals_folded(rest, "inf"))
                         : rest == "Infinity") {
        out.kind = negative ? Decimal::Kind::NegativeInfinity : Decimal::Kind::PositiveInfinity;
        return true;
    }
    size_t int_begin = pos;
    while (pos < text.size() && is_digit(text[pos]))
        ++pos;
    std::string_view int_part = text.substr(int_begin, pos - int_begin);
    std::string_view frac_part;
    if (pos < text.size() && text[pos] == '.') {
        size_t frac_begin = ++pos;
        while (pos < text.size() && is_digit(text[pos]))
            ++pos;
        frac_part = text.substr(frac_begin, pos - frac_begin);
    }
    if (int_part.empty() && frac_part.empty()) return false;
    int64_t exponent = 0;
    if (pos < text.size() && (text[pos] == 'e' || text[pos] == 'E')) {
        ++pos;
        bool exponent_negative = false;
        if (pos < text.size() && (text[pos] == '+' || text[pos] == '-'))
            exponent_negative = text[pos++] == '-';
        if (pos >= text.size() || !is_digit(text[pos])) return false;
        while (pos < text.size() && is_digit(text[pos])) {
            exponent = exponent * 10 + (text[pos++] - '0');
            if (exponent > kMaxExponent) return false;
        }
        if (exponent_negative) exponent = -exponent;
    }
    if (pos != text.size()) return false;

    int64_t point = int64_t(int_part.size());
    while (!int_part.empty() && int_part.front() == '0') {
        int_part.remove_prefix(1);
        --point;
    }
    if (int_part.empty())
        while (!frac_part.empty() && frac_part.front() == '0') {
            frac_part.remove_prefix(1);
            --point;
        }
    while (!frac_part.empty() && frac_part.back() == '0')
        frac_part.remove_suffix(1);
    if (frac_part.empty())
        while (!int_part.empty() && int_part.back() == '0')
            int_part.remove_suffix(1);
    out.head = int_part;
    out.tail = frac_part;
    if (out.size() == 0) return true; // zero, of either sign
    out.negative = negative;
    out.point = point + exponent;
    return true;
}

int compare_decimal(const Decimal& a, const Decimal& b) {
    auto rank = [](const Decimal& d) {
        switch (d.kind) {
        case Decimal::Kind::NegativeInfinity:
            return 0;
        case Decimal::Kind::Finite:
            return 1;
        case Decimal::Kind::PositiveInfinity:
            return 2;
        case Decimal::Kind::NaN:
            return 3;
        }
        return 3;
    };
    int rank_a = rank(a), rank_b = rank(b);
    if (rank_a != rank_b) return rank_a < rank_b ? -1 : 1;
    if (a.kind != Decimal::Kind::Finite) return 0;
    auto sign = [](const Decimal& d) { return d.size() == 0 ? 0 : (d.negative ? -1 : 1); };
    int sign_a = sign(a), sign_b = sign(b);
    if (sign_a != sign_b) return sign_a < sign_b ? -1 : 1;
    if (sign_a == 0) return 0;
    int magnitude = 0;
    if (a.point != b.point) {
        magnitude = a.point < b.point ? -1 : 1;
    } else {
        size_t size = std::max(a.size(), b.size());
        for (size_t i = 0; i < size && magnitude == 0; ++i) {
            char digit_a = i < a.size() ? a.digit(i) : '0';
            char digit_b = i < b.size() ? b.digit(i) : '0';
            if (digit_a != digit_b) magnitude = digit_a < digit_b ? -1 : 1;
        }
    }
    return sign_a < 0 ? -magnitude : magnitude;
}

void append_canonical_decimal(std::string& out, const Decimal& value) {
    switch (value.kind) {
    case Decimal::Kind::NaN:
        out += "NaN";
        return;
    case Decimal::Kind::PositiveInfinity:
        out += "Infinity";
        return;
    case Decimal::Kind::NegativeInfinity:
        out += "-Infinity";
        return;
    case Decimal::Kind::Finite:
        break;
    }
    if (value.size() == 0) {
        out += '0';
        return;
    }
    if (value.negative) out += '-';
    out += "0.";
    out += value.head;
    out += value.tail;
    out += 'e';
    out += std::to_string(value.point);
}

OwnedDecimal OwnedDecimal::from(const Decimal& value) {
    OwnedDecimal owned;
    owned.kind = value.kind;
    owned.negative = value.negative;
    owned.digits.reserve(value.size());
    owned.digits += value.head;
    owned.digits += value.tail;
    owned.point = value.point;
    return owned;
}

} // namespace pgsync::filter
