// Array text (array_out's grammar) to a JSON array as array_to_json() renders it: elements by the
// element type's mapping, nested braces as nested arrays, the "[lo:hi]=" bounds prefix dropped,
// unquoted NULL as null, no spaces.
#include "record/json_text.h"
#include "record/literal_scan.h"
#include "record/value_json.h"
#include "util/error.h"

namespace pgsync::record {

using detail::is_literal_space;
using pg::TypeInfo;

namespace {

[[noreturn]] void malformed(const TypeInfo& type, std::string_view reason) {
    detail::throw_malformed("array", type, reason);
}

bool is_unquoted_null(std::string_view token) {
    return token.size() == 4 && (token[0] | 0x20) == 'n' && (token[1] | 0x20) == 'u' &&
           (token[2] | 0x20) == 'l' && (token[3] | 0x20) == 'l';
}

// Skips "[lo:hi]" groups and the '=' after them (array_out prints them when a lower bound is not
// 1); to_json() drops the bounds too.
size_t skip_dimensions(const TypeInfo& type, std::string_view text, size_t pos) {
    bool any = false;
    while (pos < text.size() && text[pos] == '[') {
        size_t close = text.find(']', pos);
        if (close == std::string_view::npos) malformed(type, "missing \"]\" in array dimensions");
        for (size_t i = pos + 1; i < close; ++i) {
            char c = text[i];
            if (!((c >= '0' && c <= '9') || c == '-' || c == '+' || c == ':'))
                malformed(type, "invalid array dimensions");
        }
        pos = close + 1;
        any = true;
        while (pos < text.size() && is_literal_space(text[pos]))
            ++pos;
    }
    if (!any) return pos;
    if (pos == text.size() || text[pos] != '=')
        malformed(type, "missing \"=\" after array dimensions");
    ++pos;
    while (pos < text.size() && is_literal_space(text[pos]))
        ++pos;
    return pos;
}

} // namespace

void ValueWriter::append_array(std::string& out, const TypeInfo& type, std::string_view text,
                               int depth) const {
    if (!type.element)
        throw Error("element type (OID " + std::to_string(type.element_oid) + ") of type \"" +
                    type.name + "\" is not in the type catalog");
    const TypeInfo& element = *type.element;
    const char delimiter = type.element_delimiter;
    const size_t size = text.size();

    size_t pos = 0;
    while (pos < size && is_literal_space(text[pos]))
        ++pos;
    pos = skip_dimensions(type, text, pos);
    if (pos == size || text[pos] != '{') malformed(type, "array value must start with \"{\"");

    // One brace level per dimension. Per level: does it hold sub-arrays or elements (never both),
    // and does the next token have to be an item (after '{' or a delimiter)?
    enum class Holds : uint8_t { Nothing, Arrays, Elements };
    Holds holds[detail::kMaxArrayDimensions + 1] = {};
    int level = 0;
    bool expect_item = true;
    auto take_item = [&](Holds what) {
        if (!expect_item) malformed(type, "expected a delimiter or \"}\"");
        if (holds[level] != Holds::Nothing && holds[level] != what)
            malformed(type, "multidimensional arrays must have sub-arrays of one kind");
        holds[level] = what;
        expect_item = false;
    };

    while (true) {
        while (pos < size && is_literal_space(text[pos]))
            ++pos;
        if (pos == size) malformed(type, "unexpected end of input");
        char c = text[pos];
        if (c == '{') {
            if (level > 0) take_item(Holds::Arrays);
            if (++level > detail::kMaxArrayDimensions)
                malformed(type, "too many dimensions (at most 6)");
            holds[level] = Holds::Nothing;
            expect_item = true;
            out.push_back('[');
            ++pos;
            continue;
        }
        if (c == '}') {
            // "{}" is an empty level; "{1,}" misses an element.
            if (expect_item && holds[level] != Holds::Nothing) malformed(type, "missing element");
            out.push_back(']');
            ++pos;
            expect_item = false;
            if (--level == 0) break;
            continue;
        }
        if (c == delimiter) {
            if (expect_item) malformed(type, "missing element");
            out.push_back(',');
            expect_item = true;
            ++pos;
            continue;
        }
        take_item(Holds::Elements);
        if (c == '"') {
            size_t start = ++pos;
            bool escaped = false;
            while (pos < size && text[pos] != '"') {
                if (text[pos] == '\\') {
                    escaped = true;
                    ++pos;
                }
                ++pos;
            }
            if (pos >= size) malformed(type, "unterminated quoted element");
            std::string_view raw = text.substr(start, pos - start);
            ++pos; // the closing quote
            if (!escaped) {
                append_value(out, element, raw, depth + 1);
                continue;
            }
            std::string& buffer = detail::scratch_buffer(depth);
            for (size_t i = 0; i < raw.size(); ++i) {
                if (raw[i] == '\\') ++i;
                buffer.push_back(raw[i]);
            }
            append_value(out, element, buffer, depth + 1);
            continue;
        }
        // An unquoted element runs to the delimiter or '}'; trailing unescaped spaces are not part
        // of it (array_out never prints any, array_in drops them).
        size_t start = pos;
        size_t kept_end = pos; // end of the last character that is not unescaped whitespace
        bool escaped = false;
        while (pos < size && text[pos] != delimiter && text[pos] != '}') {
            char e = text[pos];
            if (e == '"' || e == '{') malformed(type, "unexpected character in element");
            if (e == '\\') {
                if (pos + 1 == size) malformed(type, "unexpected end of input");
                escaped = true;
                pos += 2;
                kept_end = pos;
                continue;
            }
            ++pos;
            if (!is_literal_space(e)) kept_end = pos;
        }
        std::string_view raw = text.substr(start, kept_end - start);
        if (!escaped) {
            if (is_unquoted_null(raw))
                out.append("null", 4);
            else
                append_value(out, element, raw, depth + 1);
            continue;
        }
        std::string& buffer = detail::scratch_buffer(depth);
        for (size_t i = 0; i < raw.size(); ++i) {
            if (raw[i] == '\\') ++i;
            buffer.push_back(raw[i]);
        }
        append_value(out, element, buffer, depth + 1);
    }
    while (pos < size && is_literal_space(text[pos]))
        ++pos;
    if (pos != size) malformed(type, "junk after closing right brace");
}

// int2vector and oidvector print their elements separated by spaces, without braces.
void ValueWriter::append_vector(std::string& out, const TypeInfo& type, std::string_view text,
                                int depth) const {
    if (!type.element)
        throw Error("element type (OID " + std::to_string(type.element_oid) + ") of type \"" +
                    type.name + "\" is not in the type catalog");
    out.push_back('[');
    bool first = true;
    size_t pos = 0;
    while (true) {
        while (pos < text.size() && text[pos] == ' ')
            ++pos;
        if (pos == text.size()) break;
        size_t end = text.find(' ', pos);
        if (end == std::string_view::npos) end = text.size();
        if (!first) out.push_back(',');
        first = false;
        append_value(out, *type.element, text.substr(pos, end - pos), depth + 1);
        pos = end;
    }
    out.push_back(']');
}

} // namespace pgsync::record
