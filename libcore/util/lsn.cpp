// Lsn parsing and formatting, matching pg_lsn's text form.
#include "util/lsn.h"

#include <charconv>
#include <cstdio>

namespace pgsync {

std::optional<Lsn> Lsn::parse(std::string_view text) {
    size_t slash = text.find('/');
    if (slash == std::string_view::npos || slash == 0 || slash + 1 >= text.size() || slash > 8 ||
        text.size() - slash - 1 > 8)
        return std::nullopt;
    uint32_t hi = 0, lo = 0;
    auto r1 = std::from_chars(text.data(), text.data() + slash, hi, 16);
    if (r1.ec != std::errc() || r1.ptr != text.data() + slash) return std::nullopt;
    auto r2 = std::from_chars(text.data() + slash + 1, text.data() + text.size(), lo, 16);
    if (r2.ec != std::errc() || r2.ptr != text.data() + text.size()) return std::nullopt;
    return Lsn((uint64_t(hi) << 32) | lo);
}

void Lsn::append_to(std::string& out) const {
    char buf[20];
    auto put = [&](char* at, uint32_t v) { return std::to_chars(at, buf + sizeof buf, v, 16).ptr; };
    char* p = put(buf, uint32_t(m_value >> 32));
    *p++ = '/';
    p = put(p, uint32_t(m_value & 0xffffffffu));
    for (char* c = buf; c < p; ++c)
        if (*c >= 'a' && *c <= 'f') *c = char(*c - 'a' + 'A');
    out.append(buf, size_t(p - buf));
}

std::string Lsn::str() const {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%X/%X", unsigned(m_value >> 32),
                  unsigned(m_value & 0xffffffffu));
    return buf;
}

} // namespace pgsync
