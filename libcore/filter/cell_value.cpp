// Cell reading, comparison and index keys; see filter/cell_value.h.
#include "filter/cell_value.h"

#include "filter/datetime.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

namespace pgsync::filter {

namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

void append_utf8(std::string& out, uint32_t code) {
    if (code < 0x80) {
        out += char(code);
    } else if (code < 0x800) {
        out += char(0xc0 | (code >> 6));
        out += char(0x80 | (code & 0x3f));
    } else if (code < 0x10000) {
        out += char(0xe0 | (code >> 12));
        out += char(0x80 | ((code >> 6) & 0x3f));
        out += char(0x80 | (code & 0x3f));
    } else {
        out += char(0xf0 | (code >> 18));
        out += char(0x80 | ((code >> 12) & 0x3f));
        out += char(0x80 | ((code >> 6) & 0x3f));
        out += char(0x80 | (code & 0x3f));
    }
}

bool read_hex4(std::string_view text, size_t pos, uint32_t& code) {
    if (pos + 4 > text.size()) return false;
    code = 0;
    for (size_t i = pos; i < pos + 4; ++i) {
        int digit = hex_value(text[i]);
        if (digit < 0) return false;
        code = code * 16 + uint32_t(digit);
    }
    return true;
}

// A number cell: a JSON number, or a JSON string (NaN, the infinities, numbers_as_strings).
bool number_text(std::string_view json, std::string_view& out) {
    if (!json.empty() && json.front() == '"') return json_string_value(json, out);
    out = json;
    return !json.empty();
}

bool read_double(std::string_view text, double& out) {
    if (text == "NaN") {
        out = std::nan("");
        return true;
    }
    if (text == "Infinity") {
        out = HUGE_VAL;
        return true;
    }
    if (text == "-Infinity") {
        out = -HUGE_VAL;
        return true;
    }
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
    return error == std::errc() && end == text.data() + text.size();
}

bool read_float(std::string_view text, double& out) {
    if (text == "NaN" || text == "Infinity" || text == "-Infinity") return read_double(text, out);
    float value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size()) return false;
    out = value;
    return true;
}

int compare_double(double a, double b) {
    // PostgreSQL's float order: NaN equals NaN and sorts above every other value; -0 = 0.
    bool nan_a = std::isnan(a), nan_b = std::isnan(b);
    if (nan_a || nan_b) return nan_a == nan_b ? 0 : (nan_a ? 1 : -1);
    return a < b ? -1 : (a > b ? 1 : 0);
}

template <typename T> int three_way(T a, T b) {
    return a < b ? -1 : (a > b ? 1 : 0);
}

void append_double_key(std::string& key, double value) {
    if (std::isnan(value)) {
        key += "NaN";
        return;
    }
    if (value == 0) {
        key += '0';
        return;
    }
    char buffer[64];
    auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
    key.append(buffer, end);
}

bool parse_uuid_cell(std::string_view text, unsigned char* out) {
    if (text.size() != 36) return false;
    size_t pos = 0;
    for (int i = 0; i < 16; ++i) {
        if (pos == 8 || pos == 13 || pos == 18 || pos == 23) {
            if (text[pos] != '-') return false;
            ++pos;
        }
        int high = hex_value(text[pos]), low = hex_value(text[pos + 1]);
        if (high < 0 || low < 0) return false;
        out[i] = static_cast<unsigned char>(high * 16 + low);
        pos += 2;
    }
    return true;
}

} // namespace

bool json_string_value(std::string_view json, std::string_view& out) {
    if (json.size() < 2 || json.front() != '"' || json.back() != '"') return false;
    std::string_view inner = json.substr(1, json.size() - 2);
    if (inner.find('\\') == std::string_view::npos) {
        out = inner;
        return true;
    }
    thread_local std::string buffer;
    buffer.clear();
    for (size_t i = 0; i < inner.size(); ++i) {
        char c = inner[i];
        if (c != '\\') {
            buffer += c;
            continue;
        }
        if (++i >= inner.size()) return false;
        switch (inner[i]) {
        case '"':
            buffer += '"';
            break;
        case '\\':
            buffer += '\\';
            break;
        case '/':
            buffer += '/';
            break;
        case 'b':
            buffer += '\b';
            break;
        case 'f':
            buffer += '\f';
            break;
        case 'n':
            buffer += '\n';
            break;
        case 'r':
            buffer += '\r';
            break;
        case 't':
            buffer += '\t';
            break;
        case 'u': {
            uint32_t code = 0;
            if (!read_hex4(inner, i + 1, code)) return false;
            i += 4;
            if (code >= 0xd800 && code < 0xdc00) {
                uint32_t low = 0;
                if (i + 2 >= inner.size() || inner[i + 1] != '\\' || inner[i + 2] != 'u' ||
                    !read_hex4(inner, i + 3, low) || low < 0xdc00 || low > 0xdfff)
                    return false;
                i += 6;
                code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
            } else if (code >= 0xdc00 && code <= 0xdfff) {
                return false;
            }
            append_utf8(buffer, code);
            break;
        }
        default:
            return false;
        }
    }
    out = buffer;
    return true;
}

bool read_cell(CompareKind kind, std::string_view json, CellValue& out) {
    std::string_view text;
    switch (kind) {
    case CompareKind::None:
        return true;
    case CompareKind::Bool:
        if (json == "true")
            out.boolean = true;
        else if (json == "false")
            out.boolean = false;
        else
            return false;
        return true;
    case CompareKind::Int: {
        if (!number_text(json, text)) return false;
        auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out.integer);
        return error == std::errc() && end == text.data() + text.size();
    }
    case CompareKind::Decimal:
        return number_text(json, text) && parse_decimal(text, out.decimal, false);
    case CompareKind::Float8:
        return number_text(json, text) && read_double(text, out.real);
    case CompareKind::Float4:
        return number_text(json, text) && read_float(text, out.real);
    case CompareKind::Text:
        return json_string_value(json, out.text);
    case CompareKind::Uuid:
        return json_string_value(json, text) && parse_uuid_cell(text, out.uuid);
    case CompareKind::Date:
        return json_string_value(json, text) && parse_date(text, out.integer) == DateTimeStatus::Ok;
    case CompareKind::Timestamp:
    case CompareKind::TimestampTz:
        return json_string_value(json, text) &&
               parse_timestamp(text, kind == CompareKind::TimestampTz, out.integer) ==
                   DateTimeStatus::Ok;
    }
    return false;
}

int compare_cell(CompareKind kind, const CellValue& cell, const BoundValue& value) {
    switch (kind) {
    case CompareKind::None:
        return 0;
    case CompareKind::Bool:
        return three_way(int(cell.boolean), int(value.boolean));
    case CompareKind::Int:
    case CompareKind::Date:
    case CompareKind::Timestamp:
    case CompareKind::TimestampTz:
        return three_way(cell.integer, value.integer);
    case CompareKind::Decimal:
        return compare_decimal(cell.decimal, value.decimal.view());
    case CompareKind::Float8:
    case CompareKind::Float4:
        return compare_double(cell.real, value.real);
    case CompareKind::Text: {
        // Byte order: what PostgreSQL does under COLLATE "C", which render_sql asks for.
        size_t common = std::min(cell.text.size(), value.bytes.size());
        int result = common ? std::memcmp(cell.text.data(), value.bytes.data(), common) : 0;
        if (result != 0) return result < 0 ? -1 : 1;
        return three_way(cell.text.size(), value.bytes.size());
    }
    case CompareKind::Uuid: {
        int result = std::memcmp(cell.uuid, value.bytes.data(), 16);
        return result < 0 ? -1 : (result > 0 ? 1 : 0);
    }
    }
    return 0;
}

CompareKind index_kind(CompareKind kind) {
    if (kind == CompareKind::Int) return CompareKind::Decimal;
    if (kind == CompareKind::Float4) return CompareKind::Float8;
    return kind;
}

bool index_key_of_value(CompareKind kind, const BoundValue& value, std::string& key) {
    key.clear();
    if (value.null) return false;
    switch (kind) {
    case CompareKind::None:
        return false;
    case CompareKind::Bool:
        key += value.boolean ? 't' : 'f';
        return true;
    case CompareKind::Int: {
        std::string digits = std::to_string(value.integer);
        Decimal decimal;
        parse_decimal(digits, decimal, false);
        append_canonical_decimal(key, decimal);
        return true;
    }
    case CompareKind::Decimal:
        append_canonical_decimal(key, value.decimal.view());
        return true;
    case CompareKind::Float8:
    case CompareKind::Float4:
        append_double_key(key, value.real);
        return true;
    case CompareKind::Text:
    case CompareKind::Uuid:
        key += value.bytes;
        return true;
    case CompareKind::Date:
    case CompareKind::Timestamp:
    case CompareKind::TimestampTz:
        key += std::to_string(value.integer);
        return true;
    }
    return false;
}

bool index_key_of_cell(CompareKind kind, std::string_view json, std::string& key) {
    key.clear();
    CellValue cell;
    CompareKind read_kind = kind == CompareKind::Int ? CompareKind::Decimal : kind;
    if (!read_cell(read_kind, json, cell)) return false;
    switch (kind) {
    case CompareKind::None:
        return false;
    case CompareKind::Bool:
        key += cell.boolean ? 't' : 'f';
        return true;
    case CompareKind::Int:
    case CompareKind::Decimal:
        append_canonical_decimal(key, cell.decimal);
        return true;
    case CompareKind::Float8:
    case CompareKind::Float4:
        append_double_key(key, cell.real);
        return true;
    case CompareKind::Text:
        key += cell.text;
        return true;
    case CompareKind::Uuid:
        key.append(reinterpret_cast<const char*>(cell.uuid), 16);
        return true;
    case CompareKind::Date:
    case CompareKind::Timestamp:
    case CompareKind::TimestampTz:
        key += std::to_string(cell.integer);
        return true;
    }
    return false;
}

} // namespace pgsync::filter
