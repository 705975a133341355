// scan_record and the JSON token scanners behind it: one pass over the line, no allocation, strict
// JSON grammar (RFC 8259) so a torn or foreign line is rejected rather than half-read.
#include "record/record_scan.h"

#include <charconv>
#include <cstring>

namespace pgsync::record {
namespace {

constexpr size_t npos = std::string_view::npos;

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

bool is_hex(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

size_t skip_number(std::string_view text, size_t pos) {
    if (pos < text.size() && text[pos] == '-') ++pos;
    if (pos >= text.size() || !is_digit(text[pos])) return npos;
    if (text[pos] == '0') {
        ++pos;
    } else {
        while (pos < text.size() && is_digit(text[pos]))
            ++pos;
    }
    if (pos < text.size() && text[pos] == '.') {
        ++pos;
        if (pos >= text.size() || !is_digit(text[pos])) return npos;
        while (pos < text.size() && is_digit(text[pos]))
            ++pos;
    }
    if (pos < text.size() && (text[pos] == 'e' || text[pos] == 'E')) {
        ++pos;
        if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) ++pos;
        if (pos >= text.size() || !is_digit(text[pos])) return npos;
        while (pos < text.size() && is_digit(text[pos]))
            ++pos;
    }
    return pos;
}

size_t skip_literal(std::string_view text, size_t pos, std::string_view literal) {
    return text.substr(pos, literal.size()) == literal ? pos + literal.size() : npos;
}

// After '{' or ',' inside an object: the key, ':' and the space before the value.
size_t skip_key(std::string_view text, size_t pos) {
    pos = detail::skip_json_space(text, pos);
    if (pos >= text.size() || text[pos] != '"') return npos;
    pos = detail::skip_json_string(text, pos);
    if (pos == npos) return npos;
    pos = detail::skip_json_space(text, pos);
    if (pos >= text.size() || text[pos] != ':') return npos;
    return detail::skip_json_space(text, pos + 1);
}

// The text between the quotes of a string token that has no escapes; false otherwise.
bool plain_string(std::string_view token, std::string_view& inner) {
    if (token.size() < 2 || token.front() != '"') return false;
    inner = token.substr(1, token.size() - 2);
    return inner.find('\\') == npos;
}

bool parse_lsn(std::string_view token, Lsn& out) {
    std::string_view inner;
    if (!plain_string(token, inner)) return false;
    auto lsn = Lsn::parse(inner);
    if (!lsn) return false;
    out = *lsn;
    return true;
}

bool parse_unsigned(std::string_view token, uint64_t max, uint64_t& out) {
    if (token.empty() || !is_digit(token.front())) return false;
    auto result = std::from_chars(token.data(), token.data() + token.size(), out);
    return result.ec == std::errc() && result.ptr == token.data() + token.size() && out <= max;
}

enum Field : uint32_t {
    kOp = 1u << 0,
    kXid = 1u << 1,
    kCommitLsn = 1u << 2,
    kLsn = 1u << 3,
    kSeq = 1u << 4,
    kEndLsn = 1u << 5,
    kSchema = 1u << 6,
    kTable = 1u << 7,
    kNew = 1u << 8,
    kOld = 1u << 9,
    kIdentity = 1u << 10,
    kUnchangedToast = 1u << 11,
    kRelations = 1u << 12,
    kColumns = 1u << 13,
    kOther = 0,
};

Field field_of(std::string_view key) {
    // Keys pgsync writes never need escapes, so the token is compared as is.
    switch (key.size()) {
    case 4:
        if (key == "\"op\"") return kOp;
        break;
    case 5:
        if (key == "\"xid\"") return kXid;
        if (key == "\"lsn\"") return kLsn;
        if (key == "\"seq\"") return kSeq;
        if (key == "\"new\"") return kNew;
        if (key == "\"old\"") return kOld;
        break;
    case 7:
        if (key == "\"table\"") return kTable;
        break;
    case 8:
        if (key == "\"schema\"") return kSchema;
        break;
    case 9:
        if (key == "\"end_lsn\"") return kEndLsn;
        if (key == "\"columns\"") return kColumns;
        break;
    case 10:
        if (key == "\"identity\"") return kIdentity;
        break;
    case 11:
        if (key == "\"relations\"") return kRelations;
        break;
    case 12:
        if (key == "\"commit_lsn\"") return kCommitLsn;
        break;
    case 17:
        if (key == "\"unchanged_toast\"") return kUnchangedToast;
        break;
    default:
        break;
    }
    return kOther;
}

// The fields each op must carry, beyond "op" (and xid + commit_lsn for transaction records).
uint32_t required_fields(std::string_view op) {
    constexpr uint32_t kRow = kLsn | kSeq | kSchema | kTable;
    if (op == "insert" || op == "update") return kRow | kNew;
    if (op == "delete") return kRow | kOld;
    if (op == "begin") return 0;
    if (op == "commit") return kEndLsn;
    if (op == "relation") return kSchema | kTable | kColumns;
    if (op == "truncate") return kLsn | kSeq | kRelations;
    return ~0u; // not an op
}

} // namespace

namespace detail {

size_t skip_json_string(std::string_view text, size_t pos) {
    if (pos >= text.size() || text[pos] != '"') return npos;
    ++pos;
    while (pos < text.size()) {
        unsigned char c = static_cast<unsigned char>(text[pos]);
        if (c == '"') return pos + 1;
        if (c < 0x20) return npos;
        if (c == '\\') {
            if (++pos >= text.size()) return npos;
            switch (text[pos]) {
            case '"':
            case '\\':
            case '/':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't':
                break;
            case 'u':
                if (pos + 4 >= text.size()) return npos;
                for (int i = 1; i <= 4; ++i)
                    if (!is_hex(text[pos + size_t(i)])) return npos;
                pos += 4;
                break;
            default:
                return npos;
            }
        }
        ++pos;
    }
    return npos;
}

} // namespace detail

size_t skip_json_value(std::string_view text, size_t pos) {
    // Iterative, so hostile nesting costs a bounded stack: one flag per open container.
    bool in_object[kMaxJsonDepth];
    int depth = 0;
    for (;;) {
        // A value starts at pos.
        if (pos >= text.size()) return npos;
        switch (text[pos]) {
        case '{':
        case '[': {
            const bool object = text[pos] == '{';
            const char close = object ? '}' : ']';
            size_t inner = detail::skip_json_space(text, pos + 1);
            if (inner < text.size() && text[inner] == close) {
                pos = inner + 1;
                break;
            }
            if (depth == kMaxJsonDepth) return npos;
            in_object[depth++] = object;
            pos = object ? skip_key(text, pos + 1) : inner;
            if (pos == npos) return npos;
            continue; // the first member's or element's value
        }
        case '"':
            pos = detail::skip_json_string(text, pos);
            break;
        case 't':
            pos = skip_literal(text, pos, "true");
            break;
        case 'f':
            pos = skip_literal(text, pos, "false");
            break;
        case 'n':
            pos = skip_literal(text, pos, "null");
            break;
        default:
            pos = skip_number(text, pos);
            break;
        }
        if (pos == npos) return npos;
        // After a value: close containers or move to the next member or element.
        for (;;) {
            if (depth == 0) return pos;
            pos = detail::skip_json_space(text, pos);
            if (pos >= text.size()) return npos;
            const bool object = in_object[depth - 1];
            if (text[pos] == ',') {
                pos = object ? skip_key(text, pos + 1) : detail::skip_json_space(text, pos + 1);
                if (pos == npos) return npos;
                break;
            }
            if (text[pos] != (object ? '}' : ']')) return npos;
            --depth;
            ++pos;
        }
    }
}

bool scan_record(std::string_view line, ScannedRecord& out) {
    out = ScannedRecord();
    uint32_t seen = 0;
    bool valid = true;
    const bool well_formed =
        for_each_member(line, [&](std::string_view key, std::string_view value) {
            const Field field = field_of(key);
            if (seen & field) return valid = false; // a duplicate
            seen |= field;
            uint64_t number = 0;
            switch (field) {
            case kOp:
                valid = plain_string(value, out.op);
                break;
            case kXid:
                valid = parse_unsigned(value, UINT32_MAX, number);
                out.xid = uint32_t(number);
                break;
            case kSeq:
                valid = parse_unsigned(value, UINT32_MAX, number);
                out.seq = int64_t(number);
                break;
            case kCommitLsn:
                valid = parse_lsn(value, out.commit_lsn) && out.commit_lsn.is_valid();
                break;
            case kLsn:
                valid = parse_lsn(value, out.lsn);
                break;
            case kEndLsn:
                valid = parse_lsn(value, out.end_lsn);
                break;
            case kSchema:
            case kTable: {
                std::string_view inner;
                valid = value.front() == '"';
                if (!valid) break;
                plain_string(value, inner); // the raw inner text when it has escapes
                (field == kSchema ? out.schema : out.table) = inner;
                (field == kSchema ? out.schema_token : out.table_token) = value;
                break;
            }
            case kNew:
            case kOld:
                valid = value.front() == '{';
                (field == kNew ? out.new_object : out.old_object) = value;
                break;
            case kIdentity:
                valid = plain_string(value, out.identity) &&
                        (out.identity == "key" || out.identity == "full");
                break;
            case kUnchangedToast:
            case kRelations:
            case kColumns:
                valid = value.front() == '[';
                (field == kUnchangedToast ? out.unchanged_toast
                 : field == kRelations    ? out.relations
                                          : out.columns) = value;
                break;
            case kOther:
                break;
            }
            return valid;
        });
    if (!well_formed || !valid || !(seen & kOp)) return false;

    const bool in_txn = seen & kCommitLsn;
    if (bool(seen & kXid) != in_txn) return false;
    uint32_t required;
    if (out.op == "message")
        required = in_txn ? (kLsn | kSeq) : kLsn;
    else if (!in_txn)
        return false; // every other record belongs to a transaction
    else
        required = required_fields(out.op);
    if ((seen & required) != required) return false;
    if (out.op == "message" && !in_txn && (seen & kSeq)) return false;
    if ((seen & kOld) && !(seen & kIdentity)) return false;
    return true;
}

bool unescape_json_string(std::string_view token, std::string& out) {
    out.clear();
    if (detail::skip_json_string(token, 0) != token.size()) return false;
    auto hex4 = [&](size_t at) {
        unsigned value = 0;
        std::from_chars(token.data() + at, token.data() + at + 4, value, 16);
        return value;
    };
    auto append_utf8 = [&](uint32_t code) {
        if (code < 0x80) {
            out += char(code);
        } else if (code < 0x800) {
            out += char(0xC0 | (code >> 6));
            out += char(0x80 | (code & 0x3F));
        } else if (code < 0x10000) {
            out += char(0xE0 | (code >> 12));
            out += char(0x80 | ((code >> 6) & 0x3F));
            out += char(0x80 | (code & 0x3F));
        } else {
            out += char(0xF0 | (code >> 18));
            out += char(0x80 | ((code >> 12) & 0x3F));
            out += char(0x80 | ((code >> 6) & 0x3F));
            out += char(0x80 | (code & 0x3F));
        }
    };
    const size_t end = token.size() - 1;
    size_t pos = 1;
    while (pos < end) {
        size_t escape = token.find('\\', pos);
        if (escape == npos || escape >= end) {
            out.append(token.substr(pos, end - pos));
            break;
        }
        out.append(token.substr(pos, escape - pos));
        const char c = token[escape + 1];
        pos = escape + 2;
        switch (c) {
        case 'b':
            out += '\b';
            break;
        case 'f':
            out += '\f';
            break;
        case 'n':
            out += '\n';
            break;
        case 'r':
            out += '\r';
            break;
        case 't':
            out += '\t';
            break;
        case 'u': {
            uint32_t code = hex4(pos);
            pos += 4;
            if (code >= 0xDC00 && code <= 0xDFFF) return false; // a lone low surrogate
            if (code >= 0xD800 && code <= 0xDBFF) {
                if (pos + 6 > end || token[pos] != '\\' || token[pos + 1] != 'u') return false;
                uint32_t low = hex4(pos + 2);
                if (low < 0xDC00 || low > 0xDFFF) return false;
                pos += 6;
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
            }
            append_utf8(code);
            break;
        }
        default: // '"', '\\' and '/' stand for themselves
            out += c;
            break;
        }
    }
    return true;
}

} // namespace pgsync::record
