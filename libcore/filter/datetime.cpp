// Date and timestamp parsing and formatting for filters; see filter/datetime.h. Civil-date
// arithmetic after Howard Hinnant's days_from_civil, valid for the proleptic Gregorian calendar
// PostgreSQL uses, BC years included (1 BC is astronomical year 0).
#include "filter/datetime.h"

#include <cstdio>

namespace pgsync::filter {

namespace {

constexpr int64_t kMicrosPerDay = 86400LL * 1000000LL;
constexpr int64_t kUnixToPostgresDays = 10957; // 1970-01-01 to 2000-01-01

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
char fold(char c) {
    return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c;
}

bool equals_folded(std::string_view text, std::string_view lower_word) {
    if (text.size() != lower_word.size()) return false;
    for (size_t i = 0; i < text.size(); ++i)
        if (fold(text[i]) != lower_word[i]) return false;
    return true;
}

int64_t days_from_civil(int64_t year, int64_t month, int64_t day) {
    year -= month <= 2;
    const int64_t era = (year >= 0 ? year : year - 399) / 400;
    const int64_t year_of_era = year - era * 400;
    const int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    const int64_t day_of_era =
        year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + day_of_era - 719468 - kUnixToPostgresDays;
}

void civil_from_days(int64_t days, int64_t& year, int& month, int& day) {
    int64_t z = days + kUnixToPostgresDays + 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const int64_t day_of_era = z - era * 146097;
    const int64_t year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    const int64_t day_of_year =
        day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    const int64_t mp = (5 * day_of_year + 2) / 153;
    day = int(day_of_year - (153 * mp + 2) / 5 + 1);
    month = int(mp < 10 ? mp + 3 : mp - 9);
    year = year_of_era + era * 400 + (month <= 2);
}

bool is_leap(int64_t year) {
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

int days_in_month(int64_t year, int month) {
    static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return month == 2 && is_leap(year) ? 29 : kDays[month - 1];
}

// The earliest and the first-too-late values PostgreSQL allows (4714-11-24 BC; 5874898-01-01 for
// dates, 294277-01-01 for timestamps).
const int64_t kMinDays = days_from_civil(-4713, 11, 24);
const int64_t kEndDays = days_from_civil(5874898, 1, 1);
const int64_t kEndTimestampDays = days_from_civil(294277, 1, 1);

struct Parts {
    int64_t days = 0;
    int64_t time_micros = 0;
    int64_t zone_seconds = 0; // east of UTC
    int infinity = 0;         // -1, 0, +1
};

class Scanner {
public:
    explicit Scanner(std::string_view text) : m_text(text) {}

    bool at_end() const { return m_pos >= m_text.size(); }
    char peek() const { return at_end() ? '\0' : m_text[m_pos]; }
    bool take(char c) {
        if (peek() != c) return false;
        ++m_pos;
        return true;
    }
    void skip_spaces() {
        while (!at_end() && is_space(m_text[m_pos]))
            ++m_pos;
    }
    // Reads min..max digits; false if fewer than min.
    bool number(int min, int max, int64_t& value, int* count = nullptr) {
        value = 0;
        int n = 0;
        while (n < max && is_digit(peek())) {
            value = value * 10 + (m_text[m_pos++] - '0');
            ++n;
        }
        if (count) *count = n;
        return n >= min;
    }
    bool take_word(std::string_view lower_word) {
        if (m_text.size() - m_pos < lower_word.size()) return false;
        if (!equals_folded(m_text.substr(m_pos, lower_word.size()), lower_word)) return false;
        m_pos += lower_word.size();
        return true;
    }

private:
    std::string_view m_text;
    size_t m_pos = 0;
};

DateTimeStatus parse_parts(std::string_view text, bool allow_time, Parts& parts) {
    while (!text.empty() && is_space(text.front()))
        text.remove_prefix(1);
    while (!text.empty() && is_space(text.back()))
        text.remove_suffix(1);
    if (equals_folded(text, "infinity") || equals_folded(text, "+infinity")) {
        parts.infinity = 1;
        return DateTimeStatus::Ok;
    }
    if (equals_folded(text, "-infinity")) {
        parts.infinity = -1;
        return DateTimeStatus::Ok;
    }
    Scanner scan(text);
    int64_t year = 0, month = 0, day = 0;
    if (!scan.number(4, 7, year) || !scan.take('-') || !scan.number(1, 2, month) ||
        !scan.take('-') || !scan.number(1, 2, day))
        return DateTimeStatus::Syntax;
    int64_t hour = 0, minute = 0, second = 0, micros = 0;
    bool bc = false;
    bool had_separator = scan.peek() == 'T' || scan.peek() == 't' || is_space(scan.peek());
    if (!scan.take('T') && !scan.take('t')) scan.skip_spaces();
    if (had_separator && is_digit(scan.peek())) {
        if (!allow_time) return DateTimeStatus::Syntax;
        if (!scan.number(1, 2, hour) || !scan.take(':') || !scan.number(2, 2, minute))
            return DateTimeStatus::Syntax;
        if (scan.take(':')) {
            if (!scan.number(2, 2, second)) return DateTimeStatus::Syntax;
            if (scan.take('.')) {
                int64_t fraction = 0;
                int digits = 0;
                if (!scan.number(1, 6, fraction, &digits)) return DateTimeStatus::Syntax;
                if (is_digit(scan.peek())) return DateTimeStatus::TooPrecise;
                for (; digits < 6; ++digits)
                    fraction *= 10;
                micros = fraction;
            }
        }
        scan.skip_spaces();
        const char sign = scan.peek();
        if (scan.take('Z') || scan.take('z') || scan.take_word("utc") || scan.take_word("gmt")) {
            parts.zone_seconds = 0;
        } else if (sign == '+' || sign == '-') {
            scan.take(sign);
            int64_t zone_hour = 0, zone_minute = 0, zone_second = 0;
            int digits = 0;
            if (!scan.number(1, 4, zone_hour, &digits)) return DateTimeStatus::Syntax;
            if (digits == 4) { // +hhmm
                zone_minute = zone_hour % 100;
                zone_hour /= 100;
            } else if (digits == 3) {
                return DateTimeStatus::Syntax;
            } else if (scan.take(':')) {
                if (!scan.number(2, 2, zone_minute)) return DateTimeStatus::Syntax;
                if (scan.take(':') && !scan.number(2, 2, zone_second))
                    return DateTimeStatus::Syntax;
            }
            if (zone_hour > 15 || zone_minute > 59 || zone_second > 59)
                return DateTimeStatus::FieldOutOfRange;
            parts.zone_seconds = zone_hour * 3600 + zone_minute * 60 + zone_second;
            if (sign == '-') parts.zone_seconds = -parts.zone_seconds;
        }
        scan.skip_spaces();
    }
    if (scan.take_word("bc"))
        bc = true;
    else
        scan.take_word("ad");
    if (!scan.at_end()) return DateTimeStatus::Syntax;

    if (year == 0 || month < 1 || month > 12) return DateTimeStatus::FieldOutOfRange;
    if (bc) year = 1 - year;
    if (day < 1 || day > days_in_month(year, int(month))) return DateTimeStatus::FieldOutOfRange;
    if (minute > 59 || second > 59) return DateTimeStatus::FieldOutOfRange;
    if (hour > 24 || (hour == 24 && (minute || second || micros)))
        return DateTimeStatus::FieldOutOfRange;
    parts.days = days_from_civil(year, month, day);
    parts.time_micros = ((hour * 60 + minute) * 60 + second) * 1000000 + micros;
    return DateTimeStatus::Ok;
}

void append_padded(std::string& out, int64_t value, int width) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%0*lld", width, static_cast<long long>(value));
    out += buffer;
}

// year is astronomical; appends "YYYY-MM-DD" and reports whether " BC" is due.
bool append_civil(std::string& out, int64_t days) {
    int64_t year = 0;
    int month = 0, day = 0;
    civil_from_days(days, year, month, day);
    bool bc = year <= 0;
    append_padded(out, bc ? 1 - year : year, 4);
    out += '-';
    append_padded(out, month, 2);
    out += '-';
    append_padded(out, day, 2);
    return bc;
}

} // namespace

DateTimeStatus parse_date(std::string_view text, int64_t& days) {
    Parts parts;
    DateTimeStatus status = parse_parts(text, false, parts);
    if (status != DateTimeStatus::Ok) return status;
    if (parts.infinity) {
        days = parts.infinity > 0 ? kPlusInfinity : kMinusInfinity;
        return DateTimeStatus::Ok;
    }
    if (parts.days < kMinDays || parts.days >= kEndDays) return DateTimeStatus::OutOfRange;
    days = parts.days;
    return DateTimeStatus::Ok;
}

DateTimeStatus parse_timestamp(std::string_view text, bool with_zone, int64_t& micros) {
    Parts parts;
    DateTimeStatus status = parse_parts(text, true, parts);
    if (status != DateTimeStatus::Ok) return status;
    if (parts.infinity) {
        micros = parts.infinity > 0 ? kPlusInfinity : kMinusInfinity;
        return DateTimeStatus::Ok;
    }
    if (parts.days < kMinDays || parts.days >= kEndTimestampDays) return DateTimeStatus::OutOfRange;
    // Within those days the product stays below 2^63 (PostgreSQL's own range is chosen so).
    micros = parts.days * kMicrosPerDay + parts.time_micros;
    if (with_zone) micros -= parts.zone_seconds * 1000000;
    if (micros < kMinDays * kMicrosPerDay || micros >= kEndTimestampDays * kMicrosPerDay)
        return DateTimeStatus::OutOfRange;
    return DateTimeStatus::Ok;
}

void append_date(std::string& out, int64_t days) {
    if (days == kPlusInfinity) {
        out += "infinity";
        return;
    }
    if (days == kMinusInfinity) {
        out += "-infinity";
        return;
    }
    if (append_civil(out, days)) out += " BC";
}

void append_timestamp(std::string& out, int64_t micros, bool with_zone) {
    if (micros == kPlusInfinity) {
        out += "infinity";
        return;
    }
    if (micros == kMinusInfinity) {
        out += "-infinity";
        return;
    }
    int64_t days = micros / kMicrosPerDay;
    int64_t rest = micros % kMicrosPerDay;
    if (rest < 0) {
        rest += kMicrosPerDay;
        --days;
    }
    bool bc = append_civil(out, days);
    out += ' ';
    append_padded(out, rest / 3600000000LL, 2);
    out += ':';
    append_padded(out, rest / 60000000LL % 60, 2);
    out += ':';
    append_padded(out, rest / 1000000LL % 60, 2);
    if (rest % 1000000) {
        out += '.';
        append_padded(out, rest % 1000000, 6);
    }
    if (with_zone) out += "+00";
    if (bc) out += " BC";
}

} // namespace pgsync::filter
