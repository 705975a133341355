// COPY text format decoding (see PostgreSQL's CopyReadAttributesText for the grammar).
#include "pg/copy_text.h"

#include <cstring>

namespace pgsync::pg {

namespace {
int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
} // namespace

void unescape_copy_field(std::string_view field, std::string& out) {
    const char* p = field.data();
    const char* end = p + field.size();
    while (p < end) {
        const char* bs = static_cast<const char*>(std::memchr(p, '\\', size_t(end - p)));
        if (!bs) {
            out.append(p, size_t(end - p));
            return;
        }
        out.append(p, size_t(bs - p));
        p = bs + 1;
        if (p >= end) { // a lone trailing backslash: keep it, as COPY FROM would
            out += '\\';
            return;
        }
        char c = *p++;
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
        case 'v':
            out += '\v';
            break;
        case 'x': {
            int v = 0, n = 0;
            while (n < 2 && p < end && hex_value(*p) >= 0)
                v = v * 16 + hex_value(*p++), ++n;
            if (n == 0)
                out += 'x';
            else
                out += char(v);
            break;
        }
        default:
            if (c >= '0' && c <= '7') {
                int v = c - '0', n = 1;
                while (n < 3 && p < end && *p >= '0' && *p <= '7')
                    v = v * 8 + (*p++ - '0'), ++n;
                out += char(v & 0xff);
            } else {
                out += c; // \\ and any other escaped character stand for themselves
            }
        }
    }
}

bool CopyTextRow::parse(std::string_view line, size_t columns) {
    if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
    m_fields.clear();
    m_scratch.clear();
    m_scratch.reserve(line.size());
    const char* p = line.data();
    const char* end = p + line.size();
    for (;;) {
        const char* tab = static_cast<const char*>(std::memchr(p, '\t', size_t(end - p)));
        const char* stop = tab ? tab : end;
        std::string_view raw(p, size_t(stop - p));
        Field f;
        if (raw.size() == 2 && raw[0] == '\\' && raw[1] == 'N') {
            f.null = true;
        } else if (std::memchr(raw.data(), '\\', raw.size())) {
            size_t start = m_scratch.size();
            unescape_copy_field(raw, m_scratch); // capacity reserved: no reallocation
            f.value = std::string_view(m_scratch.data() + start, m_scratch.size() - start);
        } else {
            f.value = raw;
        }
        m_fields.push_back(f);
        if (!tab) break;
        p = tab + 1;
    }
    return m_fields.size() == columns;
}

} // namespace pgsync::pg
