// Parsing pg_current_snapshot() and the visibility test.
#include "serve/shapes/xid_snapshot.h"

#include <algorithm>
#include <charconv>

namespace pgsync::serve {

namespace {
bool parse_u64(std::string_view text, uint64_t& out) {
    if (text.empty()) return false;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && end == text.data() + text.size();
}
} // namespace

std::optional<XidSnapshot> XidSnapshot::parse(std::string_view text) {
    size_t a = text.find(':');
    if (a == std::string_view::npos) return std::nullopt;
    size_t b = text.find(':', a + 1);
    if (b == std::string_view::npos) return std::nullopt;
    XidSnapshot s;
    if (!parse_u64(text.substr(0, a), s.xmin) || !parse_u64(text.substr(a + 1, b - a - 1), s.xmax))
        return std::nullopt;
    std::string_view rest = text.substr(b + 1);
    while (!rest.empty()) {
        size_t comma = rest.find(',');
        uint64_t xid = 0;
        if (!parse_u64(rest.substr(0, comma), xid)) return std::nullopt;
        s.xip.push_back(xid);
        if (comma == std::string_view::npos) break;
        rest = rest.substr(comma + 1);
    }
    std::sort(s.xip.begin(), s.xip.end());
    if (s.xmin > s.xmax) return std::nullopt;
    return s;
}

bool XidSnapshot::visible(uint32_t xid) const {
    // Widen to the 64-bit xid nearest xmax: transactions in the log are recent, so one more than
    // 2^31 above xmax belongs to the previous epoch (xmax just wrapped).
    uint64_t full = (xmax & ~uint64_t(0xffffffff)) | xid;
    if (full > xmax && full - xmax > (uint64_t(1) << 31) && full >= (uint64_t(1) << 32))
        full -= uint64_t(1) << 32;
    if (full < xmin) return true;
    if (full >= xmax) return false;
    return !std::binary_search(xip.begin(), xip.end(), full);
}

} // namespace pgsync::serve
