// ValueWriter's dispatch on the type's JSON kind, the scalar mappings (numbers, booleans, the XSD
// date/time style of to_json) and hstore text; arrays and records live in array_literal.cpp and
// record_literal.cpp.
#include "record/value_json.h"

#include "record/json_text.h"
#include "record/literal_scan.h"
#include "util/error.h"

#include <algorithm>
#include <deque>

namespace pgsync::record {

using pg::JsonKind;
using pg::TypeInfo;

namespace detail {

std::string& scratch_buffer(int depth) {
    // A deque, so growing it never moves the buffers that outer levels are still reading.
    thread_local std::deque<std::string> buffers;
    while (buffers.size() <= size_t(depth))
        buffers.emplace_back();
    std::string& buffer = buffers[size_t(depth)];
    buffer.clear();
    return buffer;
}

void throw_malformed(std::string_view kind, const TypeInfo& type, std::string_view reason) {
    throw Error("malformed " + std::string(kind) + " literal for type \"" + type.name +
                "\": " + std::string(reason));
}

} // namespace detail

namespace {

// timestamp and timestamptz as to_json() prints them (JsonEncodeDateTime with USE_XSD_DATES):
// DateStyle ISO text with 'T' for the space between date and time and, for timestamptz, the UTC
// offset always with minutes ("+00" becomes "+00:00"; "+05:30" and "+00:19:32" stay). " BC" and
// "infinity"/"-infinity" are the same in both styles. Hand-written scans: this runs per value.
void append_timestamp(std::string& out, std::string_view text, bool with_zone) {
    const size_t size = text.size();
    size_t space = 0;
    while (space < size && text[space] != ' ')
        ++space;
    if (space == size) {
        append_json_string(out, text);
        return;
    }
    size_t zone_end = space + 1;
    bool zone_without_minutes = false;
    if (with_zone) {
        // The time part has no sign, so the first one starts the offset; " BC" may follow it.
        size_t sign = space + 1;
        while (sign < size && text[sign] != '+' && text[sign] != '-')
            ++sign;
        zone_end = sign;
        if (sign < size) {
            zone_without_minutes = true;
            for (zone_end = sign + 1; zone_end < size && text[zone_end] != ' '; ++zone_end)
                if (text[zone_end] == ':') zone_without_minutes = false;
        }
    }
    std::string_view date = text.substr(0, space);
    std::string_view time = text.substr(space + 1, zone_end - space - 1);
    std::string_view rest = text.substr(zone_end);
    // Timestamp text holds nothing to escape: build it on the stack and append it once.
    char buffer[80];
    if (size <= sizeof buffer - 6 && find_json_special(text) == text.size()) {
        char* write = buffer;
        *write++ = '"';
        write = std::copy(date.begin(), date.end(), write);
        *write++ = 'T';
        write = std::copy(time.begin(), time.end(), write);
        if (zone_without_minutes) write = std::copy_n(":00", 3, write);
        write = std::copy(rest.begin(), rest.end(), write);
        *write++ = '"';
        out.append(buffer, size_t(write - buffer));
        return;
    }
    out.push_back('"');
    append_json_escaped(out, date);
    out.push_back('T');
    append_json_escaped(out, time);
    if (zone_without_minutes) out.append(":00", 3);
    append_json_escaped(out, rest);
    out.push_back('"');
}

// Reads one hstore token (quoted with backslash escapes, or bare) starting at text[pos]; moves pos
// past it. Sets quoted for a quoted token, so a bare NULL can be told from "NULL".
std::string_view read_hstore_token(const TypeInfo& type, std::string_view text, size_t& pos,
                                   bool is_key, bool& quoted, int depth) {
    quoted = pos < text.size() && text[pos] == '"';
    size_t start = quoted ? pos + 1 : pos;
    bool escaped = false;
    size_t end = start;
    for (; end < text.size(); ++end) {
        char c = text[end];
        if (c == '\\') {
            escaped = true;
            if (++end == text.size()) break;
        } else if (quoted ? c == '"'
                          : (detail::is_literal_space(c) || c == ',' || c == '"' ||
                             (is_key ? c == '=' : false))) {
            break;
        }
    }
    if (end > text.size() || (quoted && end == text.size()))
        detail::throw_malformed("hstore", type, "unexpected end of input");
    if (!quoted && end == start) detail::throw_malformed("hstore", type, "expected a string");
    pos = quoted ? end + 1 : end;
    std::string_view raw = text.substr(start, end - start);
    if (!escaped) return raw;
    std::string& buffer = detail::scratch_buffer(depth);
    for (size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] == '\\' && i + 1 < raw.size()) ++i;
        buffer.push_back(raw[i]);
    }
    return buffer;
}

bool equals_null(std::string_view token) {
    return token.size() == 4 && (token[0] | 0x20) == 'n' && (token[1] | 0x20) == 'u' &&
           (token[2] | 0x20) == 'l' && (token[3] | 0x20) == 'l';
}

// hstore text ("a"=>"1", "b c"=>NULL) as hstore_to_json() renders it: {"a": "1", "b c": null},
// with the spaces that function puts after ':' and ','. Pairs keep the order of the text, which
// is the order hstore stores them in.
void append_hstore(std::string& out, const TypeInfo& type, std::string_view text, int depth) {
    auto skip_space = [&](size_t& pos) {
        while (pos < text.size() && detail::is_literal_space(text[pos]))
            ++pos;
    };
    size_t pos = 0;
    bool first = true;
    bool quoted = false;
    out.push_back('{');
    skip_space(pos);
    while (pos < text.size()) {
        std::string_view key = read_hstore_token(type, text, pos, true, quoted, depth);
        if (!first) out.append(", ", 2);
        first = false;
        append_json_string(out, key);
        out.append(": ", 2);
        skip_space(pos);
        if (text.substr(pos, 2) != "=>") detail::throw_malformed("hstore", type, "expected \"=>\"");
        pos += 2;
        skip_space(pos);
        std::string_view value = read_hstore_token(type, text, pos, false, quoted, depth);
        if (!quoted && equals_null(value))
            out.append("null", 4);
        else
            append_json_string(out, value);
        skip_space(pos);
        if (pos == text.size()) break;
        if (text[pos] != ',') detail::throw_malformed("hstore", type, "expected \",\"");
        ++pos;
        skip_space(pos);
    }
    out.push_back('}');
}

} // namespace

const TypeInfo& ValueWriter::resolve(uint32_t type_oid) const {
    const TypeInfo& type = m_catalog.get(type_oid);
    if (!type.resolved)
        throw Error("base type of domain \"" + type.name + "\" (OID " + std::to_string(type_oid) +
                    ") is not in the type catalog");
    return *type.resolved;
}

void ValueWriter::append(std::string& out, const TypeInfo& type, std::string_view text) const {
    const TypeInfo* mapping = type.resolved ? type.resolved : &type;
    if (mapping->is_domain())
        throw Error("base type of domain \"" + type.name + "\" (OID " + std::to_string(type.oid) +
                    ") is not in the type catalog");
    append_value(out, *mapping, text, 0);
}

// type is a mapping type (never a domain): the catalog points elements and fields at those.
void ValueWriter::append_value(std::string& out, const TypeInfo& type, std::string_view text,
                               int depth) const {
    switch (type.kind) {
    case JsonKind::Number:
        if (m_options.numbers_as_strings && type.is_wide_number())
            append_json_string(out, text);
        else if (is_json_number(text))
            out.append(text);
        else
            append_json_string(out, text); // NaN, Infinity, -Infinity
        return;
    case JsonKind::Text:
    case JsonKind::Date:
        append_json_string(out, text);
        return;
    case JsonKind::Bool:
        if (text == "t")
            out.append("true", 4);
        else if (text == "f")
            out.append("false", 5);
        else
            throw Error("invalid text for type \"" + type.name + "\": expected \"t\" or \"f\"");
        return;
    case JsonKind::Timestamp:
        append_timestamp(out, text, false);
        return;
    case JsonKind::TimestampTz:
        append_timestamp(out, text, true);
        return;
    case JsonKind::Json:
    case JsonKind::Jsonb:
        out.append(text);
        return; // already JSON; never re-serialised
    case JsonKind::Hstore:
        append_hstore(out, type, text, depth);
        return;
    case JsonKind::Array:
    case JsonKind::Composite:
        if (depth >= detail::kMaxTypeNesting)
            throw Error("type \"" + type.name + "\" is nested too deeply");
        if (type.kind == JsonKind::Composite)
            append_record(out, type, text, depth);
        else if (type.vector_syntax)
            append_vector(out, type, text, depth);
        else
            append_array(out, type, text, depth);
        return;
    }
}

} // namespace pgsync::record
