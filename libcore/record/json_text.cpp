// JSON string escaping and number recognition, byte-compatible with PostgreSQL's json.c. Both run
// once per value on the snapshot and stream hot paths, so escaping scans 8 bytes at a time and
// appends plain text in one go.
#include "record/json_text.h"

#include <cstdint>
#include <cstring>

namespace pgsync::record {

namespace {

constexpr uint64_t kOnes = 0x0101010101010101ull;
constexpr uint64_t kHighBits = 0x8080808080808080ull;

// Nonzero when some byte of word is below n (n <= 128); exact as a boolean.
constexpr uint64_t has_byte_below(uint64_t word, uint8_t n) {
    return (word - kOnes * n) & ~word & kHighBits;
}

constexpr uint64_t has_zero_byte(uint64_t word) {
    return (word - kOnes) & ~word & kHighBits;
}

// Nonzero when some byte of word needs escaping: a control byte, '"' or '\\'.
constexpr uint64_t needs_escape(uint64_t word) {
    return has_byte_below(word, 0x20) | has_zero_byte(word ^ (kOnes * '"')) |
           has_zero_byte(word ^ (kOnes * '\\'));
}

constexpr bool is_special(unsigned char c) {
    return c < 0x20 || c == '"' || c == '\\';
}

// Writes the escaped form of [p, end) to buffer (room for 6 bytes per input byte); returns the end.
char* escape_chunk(char* buffer, const char* p, const char* end) {
    static constexpr char kHex[] = "0123456789abcdef";
    for (; p < end; ++p) {
        unsigned char c = static_cast<unsigned char>(*p);
        if (!is_special(c)) {
            *buffer++ = char(c);
            continue;
        }
        *buffer++ = '\\';
        switch (c) {
        case '\b':
            *buffer++ = 'b';
            break;
        case '\f':
            *buffer++ = 'f';
            break;
        case '\n':
            *buffer++ = 'n';
            break;
        case '\r':
            *buffer++ = 'r';
            break;
        case '\t':
            *buffer++ = 't';
            break;
        case '"':
            *buffer++ = '"';
            break;
        case '\\':
            *buffer++ = '\\';
            break;
        default: // the other bytes below 0x20: "\\u%04x" as escape_json prints them
            *buffer++ = 'u';
            *buffer++ = '0';
            *buffer++ = '0';
            *buffer++ = kHex[c >> 4];
            *buffer++ = kHex[c & 15];
        }
    }
    return buffer;
}

// The first byte of [p, end) that needs escaping, or end.
const char* find_special(const char* p, const char* end) {
    for (; end - p >= 8; p += 8) {
        uint64_t word;
        std::memcpy(&word, p, 8);
        if (needs_escape(word)) break;
    }
    while (p < end && !is_special(static_cast<unsigned char>(*p)))
        ++p;
    return p;
}

} // namespace

void append_json_escaped(std::string& out, std::string_view text) {
    const char* p = text.data();
    const char* end = p + text.size();
    const char* first = find_special(p, end);
    out.append(p, size_t(first - p));
    if (first == end) return;
    // From the first escape on, build the output in a local buffer and append it in blocks:
    // std::string::append per escape would cost a call each.
    char buffer[512];
    char* write = buffer;
    for (p = first; p < end;) {
        if (buffer + sizeof buffer - write < 8 * 6) {
            out.append(buffer, size_t(write - buffer));
            write = buffer;
        }
        if (end - p < 8) {
            write = escape_chunk(write, p, end);
            break;
        }
        uint64_t word;
        std::memcpy(&word, p, 8);
        if (needs_escape(word)) {
            write = escape_chunk(write, p, p + 8);
        } else {
            std::memcpy(write, p, 8);
            write += 8;
        }
        p += 8;
    }
    out.append(buffer, size_t(write - buffer));
}

size_t find_json_special(std::string_view text) {
    return size_t(find_special(text.data(), text.data() + text.size()) - text.data());
}

void append_json_string(std::string& out, std::string_view text) {
    out.reserve(out.size() + text.size() + 2);
    out.push_back('"');
    append_json_escaped(out, text);
    out.push_back('"');
}

bool is_json_number(std::string_view text) {
    const char* p = text.data();
    const char* end = p + text.size();
    auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
    if (p < end && *p == '-') ++p;
    if (p == end) return false;
    if (*p == '0') {
        ++p;
    } else if (*p >= '1' && *p <= '9') {
        while (++p < end && is_digit(*p)) {
        }
    } else {
        return false;
    }
    if (p < end && *p == '.') {
        if (++p == end || !is_digit(*p)) return false;
        while (++p < end && is_digit(*p)) {
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        ++p;
        if (p < end && (*p == '+' || *p == '-')) ++p;
        if (p == end || !is_digit(*p)) return false;
        while (++p < end && is_digit(*p)) {
        }
    }
    return p == end;
}

} // namespace pgsync::record
