// LogOffset: the position of a record in pgsync-serve's change log, derived from WAL positions so
// it is the same after a restart or a replay: (commit LSN, op). Within a transaction: begin 0, the
// relation record before the row with seq s 2s+1, the row (truncate, message) with seq s 2s+2, the
// commit 2n+1 for n seq'd records. A non-transactional message: (its LSN, 0). Offsets are exclusive
// cursors: a reader resumes strictly after one. Text "<lsn as decimal>_<op>", Electric's form.
#pragma once

#include "record/record_scan.h"
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

// Numbers a sequence of native records as the log does. Offsets never decrease; they repeat only
// for consecutive relation records before the same row (a TRUNCATE of several tables sends one
// for each) or a relation record just before the commit, which `rank` (0, 1, …) tells apart.
// Plain data, so the log's index can store the state before any record.
class OffsetTracker {
public:
    // The offset of the next record; false when it cannot follow the records before it (a row
    // outside a transaction or of another transaction, a seq going back). A begin may come while a
    // transaction is open: the stream resends a transaction from its start after a reconnect.
    bool next(const record::ScannedRecord& record, LogOffset& offset, uint32_t& rank);
    // Between transactions: after a commit, or before any begin.
    bool at_boundary() const { return !m_in_txn; }

private:
    bool m_in_txn = false;
    uint32_t m_xid = 0;
    Lsn m_commit_lsn;
    uint64_t m_next_seq = 0;
    LogOffset m_last;
    uint32_t m_rank = 0;
};

} // namespace pgsync::serve
