// LogOffset: the position of a record in pgsync-serve's change log, derived from WAL positions so
// it is the same after a restart or a replay: (commit LSN, op). Within a transaction: begin 0, the
// relation record before the row with seq s 2s+1, the row (truncate, message) with seq s 2s+2, the
// commit 2n+1 for n seq'd records. A non-transactional message: (its LSN, 0). Offsets are exclusive
// cursors: a reader resumes strictly after one. Text "<lsn as decimal>_<op>", Electric's form.
#pragma once

#include "util/lsn.h"

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pgsync::serve {

struct LogOffset {
    Lsn lsn;
    uint64_t op = 0;

    auto operator<=>(const LogOffset&) const = default;
    bool is_zero() const { return !lsn.is_valid() && op == 0; }
    std::string str() const; // "23886648_4"
    // Parses "<decimal>_<decimal>"; nullopt for anything else.
    static std::optional<LogOffset> parse(std::string_view text);
};

} // namespace pgsync::serve
