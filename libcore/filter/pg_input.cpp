// PostgreSQL input semantics for filter constants; see filter/pg_input.h.
#include "filter/pg_input.h"

#include "filter/datetime.h"
#include "pg/type_oids.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>

namespace pgsync::filter {

namespace {

constexpr size_t kNameMaxBytes = 63; // NAMEDATALEN - 1

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
char fold(char c) {
    return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c;
}

std::string_view trim(std::string_view text) {
    while (!text.empty() && is_space(text.front()))
        text.remove_prefix(1);
    while (!text.empty() && is_space(text.back()))
        text.remove_suffix(1);
    return text;
}

std::string quoted(std::string_view text) {
    std::string out = "\"";
    out += text;
    out += '"';
    return out;
}

std::string syntax_error(uint32_t type_oid, std::string_view text) {
    return "invalid input syntax for type " + type_display_name(type_oid) + ": " + quoted(text);
}

// True when text is a case-insensitive prefix of word at least min_length long.
bool is_prefix_of(std::string_view text, std::string_view word, size_t min_length) {
    if (text.size() < min_length || text.size() > word.size()) return false;
    for (size_t i = 0; i < text.size(); ++i)
        if (fold(text[i]) != word[i]) return false;
    return true;
}

bool parse_bool(std::string_view text, bool& value) {
    text = trim(text);
    if (text.empty()) return false;
    switch (fold(text[0])) {
    case 't':
        value = true;
        return is_prefix_of(text, "true", 1);
    case 'f':
        value = false;
        return is_prefix_of(text, "false", 1);
    case 'y':
        value = true;
        return is_prefix_of(text, "yes", 1);
    case 'n':
        value = false;
        return is_prefix_of(text, "no", 1);
    case 'o':
        if (is_prefix_of(text, "on", 2)) {
            value = true;
            return true;
        }
        value = false;
        return is_prefix_of(text, "off", 2);
    case '1':
        value = true;
        return text.size() == 1;
    case '0':
        value = false;
        return text.size() == 1;
    default:
        return false;
    }
}

void integer_range(uint32_t type_oid, int64_t& low, int64_t& high) {
    switch (type_oid) {
    case pg::kInt2Oid:
        low = -32768, high = 32767;
        return;
    case pg::kInt4Oid:
        low = std::numeric_limits<int32_t>::min(), high = std::numeric_limits<int32_t>::max();
        return;
    case pg::kOidOid:
        low = std::numeric_limits<int32_t>::min(), high = 4294967295LL;
        return;
    default:
        low = std::numeric_limits<int64_t>::min(), high = std::numeric_limits<int64_t>::max();
        return;
    }
}

// An oid written as a negative number wraps around, as oidin (strtoul) does.
int64_t normalize_integer(uint32_t type_oid, int64_t value) {
    return type_oid == pg::kOidOid && value < 0 ? value + 4294967296LL : value;
}

void set_decimal_from_integer(BoundValue& value) {
    std::string digits = std::to_string(value.integer);
    Decimal decimal;
    parse_decimal(digits, decimal, false);
    value.decimal = OwnedDecimal::from(decimal);
    value.input.clear();
    append_canonical_decimal(value.input, decimal);
}

void set_double_input(BoundValue& value, bool single) {
    if (value.real == 0) value.real = 0; // -0 compares and renders as 0
    if (std::isnan(value.real)) {
        value.input = "NaN";
    } else if (std::isinf(value.real)) {
        value.input = value.real > 0 ? "Infinity" : "-Infinity";
    } else {
        char buffer[64];
        auto result = single ? std::to_chars(buffer, buffer + sizeof buffer, float(value.real))
                             : std::to_chars(buffer, buffer + sizeof buffer, value.real);
        value.input.assign(buffer, result.ptr);
    }
}

// float8in / float4in: whitespace, NaN, [+-]Infinity / inf, decimal and exponent forms.
bool parse_float(std::string_view original, uint32_t type_oid, bool single, BoundValue& value,
                 std::string& error) {
    std::string_view text = trim(original);
    std::string lower;
    for (char c : text)
        lower += fold(c);
    if (lower == "nan" || lower == "+nan" || lower == "-nan") {
        value.real = std::nan("");
    } else if (lower == "infinity" || lower == "+infinity" || lower == "inf" || lower == "+inf") {
        value.real = HUGE_VAL;
    } else if (lower == "-infinity" || lower == "-inf") {
        value.real = -HUGE_VAL;
    } else {
        std::string_view digits = text;
        if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);
        if (digits.empty()) {
            error = syntax_error(type_oid, original);
            return false;
        }
        std::from_chars_result result;
        if (single) {
            float number = 0;
            result = std::from_chars(digits.data(), digits.data() + digits.size(), number,
                                     std::chars_format::general);
            value.real = number;
        } else {
            result = std::from_chars(digits.data(), digits.data() + digits.size(), value.real,
                                     std::chars_format::general);
        }
        if (result.ptr != digits.data() + digits.size() ||
            (result.ec != std::errc() && result.ec != std::errc::result_out_of_range)) {
            error = syntax_error(type_oid, original);
            return false;
        }
        if (result.ec == std::errc::result_out_of_range) {
            error = quoted(original) + " is out of range for type " + type_display_name(type_oid);
            return false;
        }
    }
    set_double_input(value, single);
    return true;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// uuid_in: 32 hex digits, a '-' allowed after any group of four, optionally in braces.
bool parse_uuid(std::string_view text, std::string& bytes) {
    size_t pos = 0;
    bool braces = false;
    if (pos < text.size() && text[pos] == '{') {
        braces = true;
        ++pos;
    }
    bytes.clear();
    for (int i = 0; i < 16; ++i) {
        if (pos + 1 >= text.size()) return false;
        int high = hex_value(text[pos]), low = hex_value(text[pos + 1]);
        if (high < 0 || low < 0) return false;
        bytes += char(high * 16 + low);
        pos += 2;
        if (pos < text.size() && text[pos] == '-' && i % 2 == 1 && i < 15) ++pos;
    }
    if (braces) {
        if (pos >= text.size() || text[pos] != '}') return false;
        ++pos;
    }
    return pos == text.size();
}

std::string format_uuid(const std::string& bytes) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (size_t i = 0; i < bytes.size(); ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
        unsigned char byte = static_cast<unsigned char>(bytes[i]);
        out += kHex[byte >> 4];
        out += kHex[byte & 15];
    }
    return out;
}

// The length of the valid UTF-8 sequence at text[pos], or 0.
size_t utf8_length(std::string_view text, size_t pos) {
    unsigned char c = static_cast<unsigned char>(text[pos]);
    size_t length = c < 0x80                 ? 1
                    : c >= 0xc2 && c <= 0xdf ? 2
                    : c >= 0xe0 && c <= 0xef ? 3
                    : c >= 0xf0 && c <= 0xf4 ? 4
                                             : 0;
    if (length == 0 || pos + length > text.size()) return 0;
    for (size_t i = 1; i < length; ++i)
        if ((static_cast<unsigned char>(text[pos + i]) & 0xc0) != 0x80) return 0;
    unsigned char second = static_cast<unsigned char>(length > 1 ? text[pos + 1] : 0);
    if (c == 0xe0 && second < 0xa0) return 0; // overlong
    if (c == 0xed && second > 0x9f) return 0; // surrogate
    if (c == 0xf0 && second < 0x90) return 0; // overlong
    if (c == 0xf4 && second > 0x8f) return 0; // past U+10FFFF
    return length;
}

bool check_text(std::string_view text, std::string& error) {
    for (size_t pos = 0; pos < text.size();) {
        size_t length = text[pos] == '\0' ? 0 : utf8_length(text, pos);
        if (length == 0) {
            char buffer[64];
            std::snprintf(buffer, sizeof buffer,
                          "invalid byte sequence for encoding \"UTF8\": 0x%02x",
                          static_cast<unsigned char>(text[pos]));
            error = buffer;
            return false;
        }
        pos += length;
    }
    return true;
}

} // namespace

CompareKind base_kind(uint32_t type_oid) {
    switch (type_oid) {
    case pg::kBoolOid:
        return CompareKind::Bool;
    case pg::kInt8Oid:
    case pg::kInt2Oid:
    case pg::kInt4Oid:
    case pg::kOidOid:
        return CompareKind::Int;
    case pg::kNumericOid:
        return CompareKind::Decimal;
    case pg::kFloat4Oid:
        return CompareKind::Float4;
    case pg::kFloat8Oid:
        return CompareKind::Float8;
    case pg::kNameOid:
    case pg::kTextOid:
    case pg::kVarcharOid:
        return CompareKind::Text;
    case pg::kUuidOid:
        return CompareKind::Uuid;
    case pg::kDateOid:
        return CompareKind::Date;
    case pg::kTimestampOid:
        return CompareKind::Timestamp;
    case pg::kTimestampTzOid:
        return CompareKind::TimestampTz;
    default:
        return CompareKind::None;
    }
}

std::string type_display_name(uint32_t type_oid) {
    switch (type_oid) {
    case pg::kBoolOid:
        return "boolean";
    case pg::kNameOid:
        return "name";
    case pg::kInt8Oid:
        return "bigint";
    case pg::kInt2Oid:
        return "smallint";
    case pg::kInt4Oid:
        return "integer";
    case pg::kTextOid:
        return "text";
    case pg::kOidOid:
        return "oid";
    case pg::kFloat4Oid:
        return "real";
    case pg::kFloat8Oid:
        return "double precision";
    case pg::kBpcharOid:
        return "character";
    case pg::kVarcharOid:
        return "character varying";
    case pg::kDateOid:
        return "date";
    case pg::kTimestampOid:
        return "timestamp without time zone";
    case pg::kTimestampTzOid:
        return "timestamp with time zone";
    case pg::kNumericOid:
        return "numeric";
    case pg::kUuidOid:
        return "uuid";
    default:
        return "with OID " + std::to_string(type_oid);
    }
}

const char* cast_type_name(CompareKind kind, uint32_t column_type_oid) {
    switch (kind) {
    case CompareKind::Bool:
        return "bool";
    case CompareKind::Int:
        switch (column_type_oid) {
        case pg::kInt2Oid:
            return "int2";
        case pg::kInt4Oid:
            return "int4";
        case pg::kOidOid:
            return "oid";
        default:
            return "int8";
        }
    case CompareKind::Decimal:
        return "numeric";
    case CompareKind::Float4:
        return "float4";
    case CompareKind::Float8:
        return "float8";
    case CompareKind::Text:
        return column_type_oid == pg::kNameOid ? "name" : "text";
    case CompareKind::Uuid:
        return "uuid";
    case CompareKind::Date:
        return "date";
    case CompareKind::Timestamp:
        return "timestamp";
    case CompareKind::TimestampTz:
        return "timestamptz";
    case CompareKind::None:
        return "text";
    }
    return "text";
}

bool number_fits_integer(std::string_view number, uint32_t type_oid) {
    Decimal decimal;
    if (!parse_decimal(number, decimal, false) || decimal.kind != Decimal::Kind::Finite)
        return false;
    if (decimal.point < int64_t(decimal.size()) || decimal.point > 19) return decimal.is_zero();
    __int128 magnitude = 0;
    for (int64_t i = 0; i < decimal.point; ++i)
        magnitude =
            magnitude * 10 + (size_t(i) < decimal.size() ? decimal.digit(size_t(i)) - '0' : 0);
    __int128 signed_value = decimal.negative ? -magnitude : magnitude;
    int64_t low = 0, high = 0;
    integer_range(type_oid, low, high);
    if (type_oid == pg::kOidOid) low = 0; // a negative number literal is not an oid
    return signed_value >= low && signed_value <= high;
}

bool convert_text(std::string_view text, CompareKind kind, uint32_t type_oid, bool like_pattern,
                  BoundValue& value, std::string& error) {
    switch (kind) {
    case CompareKind::None:
        error = "internal error: no comparison kind";
        return false;
    case CompareKind::Bool:
        if (!parse_bool(text, value.boolean)) {
            error = syntax_error(type_oid, text);
            return false;
        }
        value.input = value.boolean ? "true" : "false";
        return true;
    case CompareKind::Int:
    case CompareKind::Decimal:
        if (base_kind(type_oid) == CompareKind::Int) {
            std::string_view digits = trim(text);
            if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);
            if (digits.empty() || digits.front() == '+') {
                error = syntax_error(type_oid, text);
                return false;
            }
            auto [end, code] =
                std::from_chars(digits.data(), digits.data() + digits.size(), value.integer);
            if (end != digits.data() + digits.size() ||
                (code != std::errc() && code != std::errc::result_out_of_range)) {
                error = syntax_error(type_oid, text);
                return false;
            }
            int64_t low = 0, high = 0;
            integer_range(type_oid, low, high);
            if (code == std::errc::result_out_of_range || value.integer < low ||
                value.integer > high) {
                error = "value " + quoted(text) + " is out of range for type " +
                        type_display_name(type_oid);
                return false;
            }
            value.integer = normalize_integer(type_oid, value.integer);
            value.input = std::to_string(value.integer);
            if (kind == CompareKind::Decimal) set_decimal_from_integer(value);
            return true;
        } else {
            Decimal decimal;
            if (!parse_decimal(text, decimal, true)) {
                error = syntax_error(type_oid, text);
                return false;
            }
            value.decimal = OwnedDecimal::from(decimal);
            value.input.clear();
            append_canonical_decimal(value.input, decimal);
            return true;
        }
    case CompareKind::Float8:
        return parse_float(text, type_oid, false, value, error);
    case CompareKind::Float4:
        return parse_float(text, type_oid, true, value, error);
    case CompareKind::Text: {
        if (!check_text(text, error)) return false;
        if (like_pattern) {
            for (size_t i = 0; i < text.size(); ++i)
                if (text[i] == '\\' && ++i == text.size()) {
                    error = "LIKE pattern must not end with escape character";
                    return false;
                }
        } else if (type_oid == pg::kNameOid && text.size() > kNameMaxBytes) {
            // A literal cast to name is cut to NAMEDATALEN - 1 bytes on a character boundary.
            size_t cut = 0;
            while (cut < text.size()) {
                size_t length = utf8_length(text, cut);
                if (cut + length > kNameMaxBytes) break;
                cut += length;
            }
            text = text.substr(0, cut);
        }
        value.bytes.assign(text);
        value.input.assign(text);
        return true;
    }
    case CompareKind::Uuid:
        if (!parse_uuid(text, value.bytes)) {
            error = syntax_error(type_oid, text);
            return false;
        }
        value.input = format_uuid(value.bytes);
        return true;
    case CompareKind::Date:
    case CompareKind::Timestamp:
    case CompareKind::TimestampTz: {
        DateTimeStatus status =
            kind == CompareKind::Date
                ? parse_date(text, value.integer)
                : parse_timestamp(text, kind == CompareKind::TimestampTz, value.integer);
        switch (status) {
        case DateTimeStatus::Ok:
            break;
        case DateTimeStatus::Syntax:
            error = syntax_error(type_oid, text);
            return false;
        case DateTimeStatus::FieldOutOfRange:
            error = "date/time field value out of range: " + quoted(text);
            return false;
        case DateTimeStatus::OutOfRange:
            error = std::string(kind == CompareKind::Date ? "date" : "timestamp") +
                    " out of range: " + quoted(text);
            return false;
        case DateTimeStatus::TooPrecise:
            error = syntax_error(type_oid, text) +
                    " (more than 6 fractional digits of seconds are not supported)";
            return false;
        }
        value.input.clear();
        if (kind == CompareKind::Date)
            append_date(value.input, value.integer);
        else
            append_timestamp(value.input, value.integer, kind == CompareKind::TimestampTz);
        return true;
    }
    }
    return false;
}

bool convert_number(std::string_view text, CompareKind kind, uint32_t type_oid, BoundValue& value,
                    std::string& error) {
    switch (kind) {
    case CompareKind::Int: {
        // Only reached for integers of the column's range (the caller checked).
        Decimal decimal;
        parse_decimal(text, decimal, false);
        __int128 magnitude = 0;
        for (int64_t i = 0; i < decimal.point; ++i)
            magnitude =
                magnitude * 10 + (size_t(i) < decimal.size() ? decimal.digit(size_t(i)) - '0' : 0);
        value.integer = int64_t(decimal.negative ? -magnitude : magnitude);
        value.input = std::to_string(value.integer);
        return true;
    }
    case CompareKind::Decimal: {
        Decimal decimal;
        if (!parse_decimal(text, decimal, false)) {
            error = "invalid number " + quoted(text);
            return false;
        }
        value.decimal = OwnedDecimal::from(decimal);
        value.input.clear();
        append_canonical_decimal(value.input, decimal);
        return true;
    }
    case CompareKind::Float8:
    case CompareKind::Float4:
        return convert_text(text, kind, type_oid, false, value, error);
    default:
        error = "cannot compare a column of type " + type_display_name(type_oid) + " with a number";
        return false;
    }
}

} // namespace pgsync::filter
