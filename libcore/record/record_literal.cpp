// Record text (record_out's grammar) to a JSON object as composite_to_json() renders it: field
// names from the catalog in attnum order, an empty unquoted field as null, values by each field's
// type.
#include "record/json_text.h"
#include "record/literal_scan.h"
#include "record/value_json.h"
#include "util/error.h"

namespace pgsync::record {

using pg::TypeInfo;

namespace {

[[noreturn]] void malformed(const TypeInfo& type, std::string_view reason) {
    detail::throw_malformed("record", type, reason);
}

// Reads the field at text[pos] with record_in's rules: '"' opens and closes quoting anywhere, ""
// inside quotes is one '"', a backslash takes the next byte literally; an unquoted ',' or ')' ends
// it. The common shapes (plain, or wholly quoted without escapes) are returned as views of text.
std::string_view read_field(const TypeInfo& type, std::string_view text, size_t& pos, int depth) {
    const size_t size = text.size();
    const size_t start = pos;
    if (text[pos] == '"') {
        size_t close = text.find('"', pos + 1);
        if (close != std::string_view::npos && close + 1 < size &&
            (text[close + 1] == ',' || text[close + 1] == ')')) {
            std::string_view inside = text.substr(pos + 1, close - pos - 1);
            if (inside.find('\\') == std::string_view::npos) {
                pos = close + 1;
                return inside;
            }
        }
    } else {
        size_t end = pos;
        while (end < size && text[end] != ',' && text[end] != ')' && text[end] != '"' &&
               text[end] != '\\')
            ++end;
        if (end == size || text[end] == ',' || text[end] == ')') {
            pos = end;
            return text.substr(start, end - start);
        }
    }
    std::string& buffer = detail::scratch_buffer(depth);
    bool in_quotes = false;
    while (pos < size) {
        char c = text[pos];
        if (c == '\\') {
            if (++pos == size) break;
            buffer.push_back(text[pos++]);
        } else if (c == '"') {
            if (in_quotes && pos + 1 < size && text[pos + 1] == '"') {
                buffer.push_back('"');
                pos += 2;
            } else {
                in_quotes = !in_quotes;
                ++pos;
            }
        } else if (!in_quotes && (c == ',' || c == ')')) {
            return buffer;
        } else {
            buffer.push_back(c);
            ++pos;
        }
    }
    malformed(type, "unexpected end of input");
}

} // namespace

void ValueWriter::append_record(std::string& out, const TypeInfo& type, std::string_view text,
                                int depth) const {
    const size_t size = text.size();
    size_t pos = 0;
    while (pos < size && detail::is_literal_space(text[pos]))
        ++pos;
    if (pos == size || text[pos] != '(') malformed(type, "missing left parenthesis");
    ++pos;
    out.push_back('{');
    const size_t count = type.fields.size();
    for (size_t i = 0; i < count; ++i) {
        const pg::CompositeField& field = type.fields[i];
        if (!field.type)
            throw Error("type (OID " + std::to_string(field.type_oid) + ") of field \"" +
                        field.name + "\" of type \"" + type.name + "\" is not in the type catalog");
        if (i > 0) out.push_back(',');
        out.append(field.json_key);
        if (pos == size) malformed(type, "unexpected end of input");
        if (text[pos] == ',' || text[pos] == ')') {
            out.append("null", 4); // nothing at all, not even "": NULL
        } else {
            std::string_view value = read_field(type, text, pos, depth);
            append_value(out, *field.type, value, depth + 1);
        }
        // read_field stopped at ',' or ')', or at the end (reported below).
        if (pos == size) malformed(type, "unexpected end of input");
        if (i + 1 < count) {
            if (text[pos] != ',') malformed(type, "too few columns");
            ++pos;
        }
    }
    if (pos == size) malformed(type, "unexpected end of input");
    if (text[pos] != ')') malformed(type, "too many columns");
    ++pos;
    while (pos < size && detail::is_literal_space(text[pos]))
        ++pos;
    if (pos != size) malformed(type, "junk after right parenthesis");
    out.push_back('}');
}

} // namespace pgsync::record
