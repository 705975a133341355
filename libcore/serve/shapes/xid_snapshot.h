// XidSnapshot: pg_current_snapshot() as text ("xmin:xmax:xip,…"), and whether a transaction of the
// log (its 32-bit xid from pgoutput) was already visible to it. An initial load records the
// snapshot it read with; the log's transactions it already saw are skipped after it, so no change
// is missed or applied twice around the switch to the live stream.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace pgsync::serve {

struct XidSnapshot {
    uint64_t xmin = 0;
    uint64_t xmax = 0;
    std::vector<uint64_t> xip; // sorted

    static std::optional<XidSnapshot> parse(std::string_view text);
    // xid: a committed transaction's 32-bit xid, widened against xmax's epoch.
    bool visible(uint32_t xid) const;
};

} // namespace pgsync::serve
