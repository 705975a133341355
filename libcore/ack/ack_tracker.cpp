// AckTracker: confirmable positions from written, flushed and acknowledged commits, plus the
// keepalive WAL end for idle streams.
#include "ack/ack_tracker.h"

#include "util/error.h"
#include "util/log.h"

#include <algorithm>

namespace pgsync::ack {

AckTracker::AckTracker(AckMode mode, Lsn start) : m_mode(mode) {
    reset(start);
}

void AckTracker::reset(Lsn start) {
    m_last_written = start;
    m_flushed = start;
    m_acknowledged = std::max(m_acknowledged, start);
    m_acknowledged_commit = start;
    m_unacknowledged.clear();
    m_idle_floor = start;
    m_idle_candidate = Lsn();
    m_idle_candidate_after = Lsn();
}

void AckTracker::commit_written(Lsn end_lsn) {
    if (end_lsn <= m_last_written)
        throw Error("commit end_lsn " + end_lsn.str() + " is not after the previous commit's " +
                    m_last_written.str());
    m_last_written = end_lsn;
    if (m_mode == AckMode::Flush) return;
    // An acknowledgement kept across a reconnect can already cover a transaction sent again.
    if (end_lsn <= m_acknowledged)
        m_acknowledged_commit = end_lsn;
    else
        m_unacknowledged.push_back(end_lsn);
}

void AckTracker::flushed() {
    m_flushed = m_last_written;
    promote_idle_position();
}

void AckTracker::acknowledged(Lsn lsn) {
    if (m_mode == AckMode::Flush || lsn <= m_acknowledged) return;
    if (lsn > m_last_written) {
        // The consumer cannot have handled what was never written to it: trusting such an ack
        // would confirm transactions it has not seen yet.
        if (lsn != m_last_clamp_warned) {
            log::warning("acknowledged position " + lsn.str() +
                             " is beyond the last transaction written (end_lsn " +
                             m_last_written.str() + "); counting it as " + m_last_written.str(),
                         "Acknowledge the end_lsn of commit records that were read, nothing else.");
            m_last_clamp_warned = lsn;
        }
        lsn = m_last_written;
        if (lsn <= m_acknowledged) return;
    }
    m_acknowledged = lsn;
    while (!m_unacknowledged.empty() && m_unacknowledged.front() <= lsn) {
        m_acknowledged_commit = m_unacknowledged.front();
        m_unacknowledged.pop_front();
    }
    promote_idle_position();
}

void AckTracker::set_idle_position(Lsn wal_end) {
    // A WAL end at or before the last commit written adds nothing: that commit's own end_lsn is
    // confirmed as soon as the commit is.
    if (wal_end <= m_last_written || wal_end <= m_idle_floor) return;
    if (idle()) {
        m_idle_floor = wal_end;
        m_idle_candidate = Lsn();
        return;
    }
    // Commits still wait: the WAL end may only be confirmed once they are. A later keepalive
    // replaces an earlier candidate; the earlier one is not needed once the later one applies.
    m_idle_candidate = wal_end;
    m_idle_candidate_after = m_last_written;
}

Lsn AckTracker::commit_confirmable() const {
    if (m_mode == AckMode::Flush) return m_flushed;
    // Both are written commits' end_lsn values, so the smaller one is a commit boundary too.
    return std::min(m_flushed, m_acknowledged_commit);
}

void AckTracker::promote_idle_position() {
    if (!m_idle_candidate.is_valid() || commit_confirmable() < m_idle_candidate_after) return;
    m_idle_floor = std::max(m_idle_floor, m_idle_candidate);
    m_idle_candidate = Lsn();
}

Lsn AckTracker::confirmable() const {
    return std::max(commit_confirmable(), m_idle_floor);
}

bool AckTracker::idle() const {
    return commit_confirmable() >= m_last_written;
}

} // namespace pgsync::ack
