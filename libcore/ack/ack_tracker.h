// AckTracker: which WAL position a change stream may confirm to its slot. Keeps the written,
// flushed and acknowledged positions apart (HOUSE_STYLE 10) and only ever confirms a commit's
// end_lsn, or the WAL end of a keepalive received while nothing was left to confirm (S1, S3, S4).
#pragma once

#include "util/lsn.h"

#include <deque>

namespace pgsync::ack {

// What stands between a written transaction and confirming it: the output being flushed (stdout,
// or -o FILE fsynced), or that plus the consumer's acknowledgement (--ack-file). Fixed for a run.
enum class AckMode { Flush, Acknowledge };

// Not thread-safe: owned by the replication loop. Memory is one Lsn per written commit that is
// not yet acknowledged (Acknowledge mode) and constant otherwise; every call is amortised O(1).
class AckTracker {
public:
    explicit AckTracker(AckMode mode, Lsn start = Lsn());

    // A transaction's commit line was handed to the sink. Commits come in commit order: an
    // end_lsn at or below the last one written is a caller bug and throws pgsync::Error.
    void commit_written(Lsn end_lsn);
    // Everything written so far is flushed (stdout) or fsynced (-o FILE).
    void flushed();
    // The consumer has durably handled every transaction with end_lsn <= lsn. An ack beyond the
    // last written commit is clamped to it (a warning, once per distinct value); an ack below an
    // earlier one is ignored. Ignored in Flush mode.
    void acknowledged(Lsn lsn);
    // The WAL end of a keepalive (S1). It becomes confirmable once every commit written before it
    // is confirmable; it is never confirmed while an older commit still waits.
    void set_idle_position(Lsn wal_end);
    // After reconnecting at start (the position START_REPLICATION was given): forgets written,
    // pending and idle positions. The highest acknowledgement is kept: it still holds, since the
    // server resends the same transactions at the same LSNs.
    void reset(Lsn start);

    // The position to report as flushed in standby status updates: the greatest written commit
    // end_lsn that is flushed (and, in Acknowledge mode, acknowledged), or a later idle position.
    // Never decreases between resets; never a position inside or between unconfirmed commits.
    Lsn confirmable() const;
    // True when no written commit waits for a flush (or an acknowledgement).
    bool idle() const;

    AckMode mode() const { return m_mode; }
    Lsn last_written() const { return m_last_written; }
    Lsn last_flushed() const { return m_flushed; }
    Lsn last_acknowledged() const { return m_acknowledged; } // after clamping
    // Written commits above the highest acknowledgement (always 0 in Flush mode).
    size_t unacknowledged_count() const { return m_unacknowledged.size(); }

private:
    Lsn commit_confirmable() const;
    void promote_idle_position();

    AckMode m_mode;
    Lsn m_last_written;        // end_lsn of the last commit handed to the sink (or the start)
    Lsn m_flushed;             // end_lsn of the last commit known flushed (a written commit)
    Lsn m_acknowledged;        // highest acknowledgement, clamped; may lie between two commits
    Lsn m_acknowledged_commit; // greatest written commit end_lsn <= m_acknowledged
    std::deque<Lsn> m_unacknowledged; // written commits above m_acknowledged, in order
    Lsn m_last_clamp_warned;          // the last clamped ack warned about (warn once per value)

    // S1: a keepalive's WAL end waits in m_idle_candidate until every commit written before it
    // (up to m_idle_candidate_after) is confirmable, then becomes m_idle_floor.
    Lsn m_idle_floor;
    Lsn m_idle_candidate;
    Lsn m_idle_candidate_after;
};

} // namespace pgsync::ack
