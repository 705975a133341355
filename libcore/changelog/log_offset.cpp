// LogOffset's text form, "<lsn as decimal>_<op>", parsed and formatted in this one place, and the
// numbering of records within a transaction (OffsetTracker).
#include "changelog/log_offset.h"

#include <charconv>

namespace pgsync::serve {

std::string LogOffset::str() const {
    char buf[48];
    char* end = std::to_chars(buf, buf + 20, lsn.value()).ptr;
    *end++ = '_';
    end = std::to_chars(end, buf + sizeof buf, op).ptr;
    return std::string(buf, size_t(end - buf));
}

std::optional<LogOffset> LogOffset::parse(std::string_view text) {
    auto number = [](std::string_view digits, uint64_t& out) {
        if (digits.empty() || digits.size() > 20) return false;
        for (char c : digits)
            if (c < '0' || c > '9') return false;
        auto result = std::from_chars(digits.data(), digits.data() + digits.size(), out);
        return result.ec == std::errc() && result.ptr == digits.data() + digits.size();
    };
    size_t underscore = text.find('_');
    if (underscore == std::string_view::npos) return std::nullopt;
    uint64_t lsn = 0, op = 0;
    if (!number(text.substr(0, underscore), lsn) || !number(text.substr(underscore + 1), op))
        return std::nullopt;
    return LogOffset{Lsn(lsn), op};
}

bool OffsetTracker::next(const record::ScannedRecord& record, LogOffset& offset, uint32_t& rank) {
    const std::string_view op = record.op;
    if (!record.transactional()) {
        offset = {record.lsn, 0};
    } else if (op == "begin") {
        m_in_txn = true;
        m_xid = record.xid;
        m_commit_lsn = record.commit_lsn;
        m_next_seq = 0;
        offset = {m_commit_lsn, 0};
    } else {
        if (!m_in_txn || record.xid != m_xid || record.commit_lsn != m_commit_lsn) return false;
        if (record.seq >= 0) {
            if (uint64_t(record.seq) < m_next_seq) return false;
            m_next_seq = uint64_t(record.seq) + 1;
            offset = {m_commit_lsn, 2 * uint64_t(record.seq) + 2};
        } else if (op == "relation" || op == "commit") {
            offset = {m_commit_lsn, 2 * m_next_seq + 1};
            if (op == "commit") m_in_txn = false;
        } else {
            return false;
        }
    }
    rank = offset == m_last ? m_rank + 1 : 0;
    m_last = offset;
    m_rank = rank;
    return true;
}

} // namespace pgsync::serve
