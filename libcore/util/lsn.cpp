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

std::string Lsn::str() const {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%X/%X", unsigned(m_value >> 32), unsigned(m_value & 0xffffffffu));
    return buf;
}

} // namespace pgsync
