// append_value_text: record::ValueWriter run backwards. Each JSON kind gets PostgreSQL's text back
// (under pgsync's pinned session settings), and the array, record and hstore literals are rebuilt
// with array_out's, record_out's and hstore_out's own quoting.
#include "serve/electric/value_text.h"

#include "record/json_text.h"
#include "record/literal_scan.h"

namespace pgsync::serve::electric {

using pg::JsonKind;
using pg::TypeInfo;
using record::detail::is_literal_space;

namespace {

constexpr size_t kNoEnd = std::string_view::npos;

bool is_json_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

size_t skip_space(std::string_view text, size_t pos) {
    while (pos < text.size() && is_json_space(text[pos]))
        ++pos;
    return pos;
}

std::string_view trim(std::string_view text) {
    size_t start = skip_space(text, 0);
    size_t end = text.size();
    while (end > start && is_json_space(text[end - 1]))
        --end;
    return text.substr(start, end - start);
}

// The end of the JSON string whose opening quote is text[pos], or kNoEnd when it is not closed.
size_t string_end(std::string_view text, size_t pos) {
    for (++pos; pos < text.size(); ++pos) {
        if (text[pos] == '\\')
            ++pos;
        else if (text[pos] == '"')
            return pos + 1;
    }
    return kNoEnd;
}

// The end of the JSON value that starts at text[pos], or kNoEnd. Containers are matched by
// counting brackets, which finds their extent in well-formed JSON (what ValueWriter writes) and
// needs no stack however deep a json value nests; scalars must be whole literals or numbers.
size_t value_end(std::string_view text, size_t pos) {
    if (pos >= text.size()) return kNoEnd;
    char c = text[pos];
    if (c == '"') return string_end(text, pos);
    if (c == '[' || c == '{') {
        size_t depth = 0;
        while (pos < text.size()) {
            c = text[pos];
            if (c == '"') {
                pos = string_end(text, pos);
                if (pos == kNoEnd) return kNoEnd;
                continue;
            }
            if (c == '[' || c == '{') {
                ++depth;
            } else if (c == ']' || c == '}') {
                if (--depth == 0) return pos + 1;
            }
            ++pos;
        }
        return kNoEnd;
    }
    size_t end = pos;
    while (end < text.size() && !is_json_space(text[end]) && text[end] != ',' && text[end] != ']' &&
           text[end] != '}' && text[end] != ':')
        ++end;
    std::string_view scalar = text.substr(pos, end - pos);
    if (scalar == "true" || scalar == "false" || scalar == "null" || record::is_json_number(scalar))
        return end;
    return kNoEnd;
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Reads the four hex digits of a \u escape at text[pos]; -1 when they are not there.
long read_hex4(std::string_view text, size_t pos) {
    if (pos + 4 > text.size()) return -1;
    long value = 0;
    for (size_t i = pos; i < pos + 4; ++i) {
        int digit = hex_digit(text[i]);
        if (digit < 0) return -1;
        value = value * 16 + digit;
    }
    return value;
}

void append_utf8(std::string& out, long code) {
    if (code < 0x80) {
        out.push_back(char(code));
    } else if (code < 0x800) {
        out.push_back(char(0xc0 | (code >> 6)));
        out.push_back(char(0x80 | (code & 0x3f)));
    } else if (code < 0x10000) {
        out.push_back(char(0xe0 | (code >> 12)));
        out.push_back(char(0x80 | ((code >> 6) & 0x3f)));
        out.push_back(char(0x80 | (code & 0x3f)));
    } else {
        out.push_back(char(0xf0 | (code >> 18)));
        out.push_back(char(0x80 | ((code >> 12) & 0x3f)));
        out.push_back(char(0x80 | ((code >> 6) & 0x3f)));
        out.push_back(char(0x80 | (code & 0x3f)));
    }
}

// Appends what the JSON string token (its quotes and nothing around them) holds. Any valid JSON
// escape is decoded, not only the ones escape_json() writes, so tokens from other JSON writers
// fit too. False when the token is not one JSON string.
bool append_unescaped(std::string& out, std::string_view token) {
    if (token.size() < 2 || token.front() != '"' || token.back() != '"') return false;
    const size_t end = token.size() - 1;
    size_t pos = 1;
    while (pos < end) {
        size_t run = pos;
        while (run < end && token[run] != '\\' && token[run] != '"')
            ++run;
        out.append(token.data() + pos, run - pos);
        pos = run;
        if (pos == end) break;
        if (token[pos] == '"' || pos + 1 == end) return false; // a quote inside, or "\" at the end
        char escape = token[pos + 1];
        pos += 2;
        switch (escape) {
        case '"':
        case '\\':
        case '/':
            out.push_back(escape);
            break;
        case 'b':
            out.push_back('\b');
            break;
        case 'f':
            out.push_back('\f');
            break;
        case 'n':
            out.push_back('\n');
            break;
        case 'r':
            out.push_back('\r');
            break;
        case 't':
            out.push_back('\t');
            break;
        case 'u': {
            long code = pos + 4 <= end ? read_hex4(token, pos) : -1;
            if (code < 0) return false;
            pos += 4;
            if (code >= 0xdc00 && code <= 0xdfff) return false; // a low surrogate alone
            if (code >= 0xd800 && code <= 0xdbff) {
                if (pos + 6 > end || token[pos] != '\\' || token[pos + 1] != 'u') return false;
                long low = read_hex4(token, pos + 2);
                if (low < 0xdc00 || low > 0xdfff) return false;
                pos += 6;
                code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
            }
            append_utf8(out, code);
            break;
        }
        default:
            return false;
        }
    }
    return true;
}

// Wraps out[start..] in double quotes, putting a backslash before each '"' and '\' (array_out,
// hstore_out) or doubling them (record_out). In place: no scratch buffer per element.
void quote_in_place(std::string& out, size_t start, bool double_them) {
    size_t specials = 0;
    for (size_t i = start; i < out.size(); ++i)
        if (out[i] == '"' || out[i] == '\\') ++specials;
    size_t read = out.size();
    out.resize(out.size() + specials + 2);
    size_t write = out.size();
    out[--write] = '"';
    while (read > start) {
        char c = out[--read];
        out[--write] = c;
        if (c == '"' || c == '\\') out[--write] = double_them ? c : '\\';
    }
    out[--write] = '"';
}

bool equals_null(std::string_view text) {
    return text.size() == 4 && (text[0] | 0x20) == 'n' && (text[1] | 0x20) == 'u' &&
           (text[2] | 0x20) == 'l' && (text[3] | 0x20) == 'l';
}

// array_out's test: an element is quoted when it is empty, reads as NULL, or holds a quote, a
// backslash, a brace, the delimiter or whitespace.
bool array_element_needs_quotes(std::string_view text, char delimiter) {
    if (text.empty() || equals_null(text)) return true;
    for (char c : text)
        if (c == '"' || c == '\\' || c == '{' || c == '}' || c == delimiter || is_literal_space(c))
            return true;
    return false;
}

// record_out's test: a field is quoted when it is empty or holds a quote, a backslash, a
// parenthesis, a comma or whitespace.
bool record_field_needs_quotes(std::string_view text) {
    if (text.empty()) return true;
    for (char c : text)
        if (c == '"' || c == '\\' || c == '(' || c == ')' || c == ',' || is_literal_space(c))
            return true;
    return false;
}

// The XSD form ValueWriter gives timestamps back in DateStyle ISO: a space for the 'T', and for
// timestamptz the ":00" that to_json adds to an offset of whole hours removed again ("+00:00" to
// "+00"; "+05:30" and "+00:19:32" are printed so by PostgreSQL too). " BC" and the infinities need
// nothing.
bool append_timestamp(std::string& out, std::string_view token, bool with_zone) {
    const size_t start = out.size();
    if (!append_unescaped(out, token)) return false;
    size_t t = out.find('T', start);
    if (t == std::string::npos) return true;
    out[t] = ' ';
    if (!with_zone) return true;
    size_t sign = out.find_first_of("+-", t + 1);
    if (sign == std::string::npos) return true;
    size_t zone_end = out.find(' ', sign);
    if (zone_end == std::string::npos) zone_end = out.size();
    size_t colon = out.find(':', sign);
    if (colon < zone_end && zone_end - colon == 3 && out[colon + 1] == '0' && out[colon + 2] == '0')
        out.erase(colon, 3);
    return true;
}

// A number ValueWriter quoted: NaN, Infinity, -Infinity, or any number when it writes numbers as
// strings. Nothing else is a number's text.
bool append_quoted_number(std::string& out, std::string_view token) {
    const size_t start = out.size();
    if (!append_unescaped(out, token)) return false;
    std::string_view text = std::string_view(out).substr(start);
    if (text == "NaN" || text == "Infinity" || text == "-Infinity") return true;
    if (text.empty()) return false;
    for (char c : text)
        if (!((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'))
            return false;
    return true;
}

// jsonb's own text puts a space after each ':' and ','; ValueWriter passes that text through, and
// a compact token gets the spaces here. Key order stays the token's.
bool append_jsonb(std::string& out, std::string_view token) {
    if (value_end(token, 0) != token.size()) return false;
    size_t pos = 0;
    while (pos < token.size()) {
        char c = token[pos];
        if (c == '"') {
            size_t end = string_end(token, pos);
            out.append(token.data() + pos, end - pos);
            pos = end;
            continue;
        }
        ++pos;
        if (is_json_space(c)) continue;
        out.push_back(c);
        if (c == ',' || c == ':') out.push_back(' ');
    }
    return true;
}

// One JSON value inside an array or object.
struct Item {
    std::string_view value; // the value itself
    std::string_view raw;   // the value with the whitespace around it (part of a json value's text)
    size_t next = 0;        // the position of the ',' or closing bracket after it
};

// Reads the item that follows the '[', '{', ',' or ':' at text[pos - 1].
bool read_item(std::string_view text, size_t pos, Item& item) {
    size_t start = skip_space(text, pos);
    size_t end = value_end(text, start);
    if (end == kNoEnd) return false;
    size_t next = skip_space(text, end);
    if (next >= text.size()) return false;
    item.value = text.substr(start, end - start);
    item.raw = text.substr(pos, next - pos);
    item.next = next;
    return true;
}

bool append_value(std::string& out, const TypeInfo& type, std::string_view token, int depth);

// A field or element's text: json keeps the whitespace around the value, which is part of it.
bool append_item(std::string& out, const TypeInfo& type, const Item& item, int depth) {
    return append_value(out, type, type.kind == JsonKind::Json ? item.raw : item.value, depth + 1);
}

// One brace level of an array literal from a JSON array (token trimmed, starting with '['). A
// nested JSON array is a further dimension unless the elements are json or jsonb (whose values
// may be arrays) or vectors (int2vector[] elements are JSON arrays themselves).
bool append_array_level(std::string& out, const TypeInfo& type, std::string_view token, int level,
                        int depth) {
    const TypeInfo& element = *type.element;
    const bool may_nest = element.kind != JsonKind::Json && element.kind != JsonKind::Jsonb &&
                          element.kind != JsonKind::Array;
    out.push_back('{');
    size_t pos = skip_space(token, 1);
    if (pos < token.size() && token[pos] == ']') {
        out.push_back('}');
        return pos + 1 == token.size();
    }
    enum class Holds : uint8_t { Nothing, Arrays, Elements } holds = Holds::Nothing;
    pos = 1;
    while (true) {
        Item item;
        if (!read_item(token, pos, item)) return false;
        const bool sub_array = may_nest && item.value.front() == '[';
        const Holds what = sub_array ? Holds::Arrays : Holds::Elements;
        if (holds != Holds::Nothing && holds != what) return false;
        if (holds != Holds::Nothing) out.push_back(type.element_delimiter);
        holds = what;
        if (sub_array) {
            if (level + 1 >= record::detail::kMaxArrayDimensions) return false;
            if (!append_array_level(out, type, item.value, level + 1, depth)) return false;
        } else if (item.value == "null") {
            out.append("NULL", 4);
        } else {
            const size_t start = out.size();
            if (!append_item(out, element, item, depth)) return false;
            if (array_element_needs_quotes(std::string_view(out).substr(start),
                                           type.element_delimiter))
                quote_in_place(out, start, false);
        }
        const char next = token[item.next];
        if (next == ']') {
            out.push_back('}');
            return item.next + 1 == token.size();
        }
        if (next != ',') return false;
        pos = item.next + 1;
    }
}

// int2vector and oidvector: elements separated by single spaces, no braces, never NULL.
bool append_vector(std::string& out, const TypeInfo& type, std::string_view token, int depth) {
    size_t pos = skip_space(token, 1);
    if (pos < token.size() && token[pos] == ']') return pos + 1 == token.size();
    pos = 1;
    bool first = true;
    while (true) {
        Item item;
        if (!read_item(token, pos, item) || item.value == "null") return false;
        if (!first) out.push_back(' ');
        first = false;
        if (!append_item(out, *type.element, item, depth)) return false;
        const char next = token[item.next];
        if (next == ']') return item.next + 1 == token.size();
        if (next != ',') return false;
        pos = item.next + 1;
    }
}

// A JSON object with the composite's fields, in attnum order and by their names, to a record
// literal; a null field is left empty.
bool append_record(std::string& out, const TypeInfo& type, std::string_view token, int depth) {
    out.push_back('(');
    const size_t count = type.fields.size();
    size_t pos = 1;
    if (count == 0) {
        pos = skip_space(token, pos);
        if (pos + 1 != token.size() || token[pos] != '}') return false;
        out.push_back(')');
        return true;
    }
    for (size_t i = 0; i < count; ++i) {
        const pg::CompositeField& field = type.fields[i];
        if (!field.type) return false;
        if (i > 0) out.push_back(',');
        // ValueWriter writes field.json_key; another JSON writer escapes names no differently.
        pos = skip_space(token, pos);
        size_t key_end = pos < token.size() && token[pos] == '"' ? string_end(token, pos) : kNoEnd;
        if (key_end == kNoEnd) return false;
        std::string_view key = token.substr(pos, key_end - pos);
        if (field.json_key.size() != key.size() + 1 || !field.json_key.starts_with(key))
            return false;
        pos = skip_space(token, key_end);
        if (pos == token.size() || token[pos] != ':') return false;
        Item item;
        if (!read_item(token, pos + 1, item)) return false;
        if (item.value != "null") {
            const size_t start = out.size();
            if (!append_item(out, *field.type, item, depth)) return false;
            if (record_field_needs_quotes(std::string_view(out).substr(start)))
                quote_in_place(out, start, true);
        }
        if (token[item.next] != (i + 1 < count ? ',' : '}')) return false;
        pos = item.next + 1;
    }
    if (pos != token.size()) return false;
    out.push_back(')');
    return true;
}

// hstore_out's text: "key"=>"value" pairs joined by ", ", every key and value quoted with
// backslash escapes, NULL bare.
bool append_hstore(std::string& out, std::string_view token) {
    size_t pos = skip_space(token, 1);
    if (pos < token.size() && token[pos] == '}') return pos + 1 == token.size();
    pos = 1;
    bool first = true;
    while (true) {
        pos = skip_space(token, pos);
        size_t key_end = pos < token.size() && token[pos] == '"' ? string_end(token, pos) : kNoEnd;
        if (key_end == kNoEnd) return false;
        if (!first) out.append(", ", 2);
        first = false;
        size_t start = out.size();
        if (!append_unescaped(out, token.substr(pos, key_end - pos))) return false;
        quote_in_place(out, start, false);
        out.append("=>", 2);
        pos = skip_space(token, key_end);
        if (pos == token.size() || token[pos] != ':') return false;
        Item item;
        if (!read_item(token, pos + 1, item)) return false;
        if (item.value == "null") {
            out.append("NULL", 4);
        } else {
            start = out.size();
            if (!append_unescaped(out, item.value)) return false;
            quote_in_place(out, start, false);
        }
        const char next = token[item.next];
        if (next == '}') return item.next + 1 == token.size();
        if (next != ',') return false;
        pos = item.next + 1;
    }
}

// type is a mapping type (never a domain), as the catalog links elements and fields.
bool append_value(std::string& out, const TypeInfo& type, std::string_view token, int depth) {
    if (type.kind == JsonKind::Json) {
        // Verbatim, whitespace included: json keeps its input text.
        std::string_view value = trim(token);
        if (value.empty() || value_end(value, 0) != value.size()) return false;
        out.append(token);
        return true;
    }
    token = trim(token);
    if (token.empty()) return false;
    switch (type.kind) {
    case JsonKind::Number:
        if (token.front() == '"') return append_quoted_number(out, token);
        if (!record::is_json_number(token)) return false;
        out.append(token);
        return true;
    case JsonKind::Bool:
        if (token == "true")
            out.push_back('t');
        else if (token == "false")
            out.push_back('f');
        else
            return false;
        return true;
    case JsonKind::Text:
    case JsonKind::Date:
        return append_unescaped(out, token);
    case JsonKind::Timestamp:
        return append_timestamp(out, token, false);
    case JsonKind::TimestampTz:
        return append_timestamp(out, token, true);
    case JsonKind::Json:
        return false; // handled above
    case JsonKind::Jsonb:
        return append_jsonb(out, token);
    case JsonKind::Hstore:
        return token.front() == '{' && append_hstore(out, token);
    case JsonKind::Array:
        if (depth >= record::detail::kMaxTypeNesting || !type.element || token.front() != '[')
            return false;
        if (type.vector_syntax) return append_vector(out, type, token, depth);
        return append_array_level(out, type, token, 0, depth);
    case JsonKind::Composite:
        if (depth >= record::detail::kMaxTypeNesting || token.front() != '{') return false;
        return append_record(out, type, token, depth);
    }
    return false;
}

} // namespace

bool append_value_text(std::string& out, const pg::TypeInfo& type, std::string_view json_token) {
    const TypeInfo* mapping = type.resolved ? type.resolved : &type;
    if (mapping->is_domain()) return false; // its base type is not in the catalog
    return append_value(out, *mapping, json_token, 0);
}

} // namespace pgsync::serve::electric
