// Catch-up through the SQL decoding functions (issue 9): on a long backlog the walsender, which
// sends and flushes message by message, is the bottleneck, while
// pg_logical_slot_peek_binary_changes read as a binary COPY delivers the same pgoutput messages
// about twice as fast. So while the slot is more than a quarter batch of WAL behind, the stream
// peeks bounded ranges (streaming on, so the server does not spill large transactions), writes them
// through the same handlers, and advances the slot with pg_replication_slot_advance only to what
// may be confirmed (flushed, or acknowledged with --ack-file): at-least-once holds exactly as when
// streaming. Then it switches to the replication protocol.
//
// A peek decodes from the slot's restart_lsn every time, and that stays behind an open transaction
// or the last running-xacts record; so each batch spans at least the stretch that must be decoded
// again, which keeps the total decoding work within twice the WAL read.
#include "pg/slot_changes.h"
#include "stream/runner.h"
#include "util/log.h"

#include <poll.h>
#include <thread>

namespace pgsync::stream {
namespace {

Lsn query_lsn(pg::Connection& conn, std::string_view sql) {
    auto lsn = Lsn::parse(conn.query_value(sql));
    if (!lsn) throw Error("the server returned no WAL position for: " + std::string(sql));
    return *lsn;
}

Lsn restart_lsn(pg::Connection& conn, const std::string& slot) {
    pg::Result r = conn.exec_params(
        "SELECT restart_lsn FROM pg_catalog.pg_replication_slots WHERE slot_name = $1", {slot});
    auto lsn = r.rows() == 1 && !r.is_null(0, 0) ? Lsn::parse(r.get(0, 0)) : std::nullopt;
    return lsn ? *lsn : Lsn();
}

} // namespace

std::optional<SessionEnd> Runner::catch_up(pg::Connection& sql, Lsn from) {
    const uint64_t batch = m_options.catch_up_batch_bytes;
    if (batch == 0) return std::nullopt;
    // Behind by less than a quarter batch, the replication protocol is about as fast and has no
    // peek to wait for.
    const uint64_t enough = batch / 4;
    Lsn flushed = query_lsn(sql, "SELECT pg_catalog.pg_current_wal_flush_lsn()");
    if (flushed.value() < from.value() + enough) return std::nullopt;

    // What the start position skips, a peek (which starts at the slot's position) must skip too.
    if (from.is_valid()) m_delivered_through = std::max(m_delivered_through, Lsn(from.value() - 1));
    pg::Connection decoding = pg::Connection::open(connect_options(false, true));
    const int proto = pg::newest_proto_version(decoding.server_version());
    log::info("catching up on slot \"" + m_options.slot + "\" from " + from.str() + " to " +
              flushed.str() + " through the SQL decoding functions");
    m_catching_up = true;
    struct Reset {
        bool& flag;
        ~Reset() { flag = false; }
    } reset{m_catching_up};

    Lsn decoded = from; // every record before it was decoded and its output handed out
    for (;;) {
        if (stop_requested()) return finish_catch_up(decoding, SessionEnd::Stopped);
        if (m_options.endpos.is_valid() && decoded >= m_options.endpos)
            return finish_catch_up(decoding, SessionEnd::Endpos);
        if (flushed.value() < decoded.value() + enough) break;

        collect_acks(m_ack_file.has_value());
        if (idle()) m_tracker.set_idle_position(decoded);
        confirm_through_sql(decoding);
        const Lsn restart = restart_lsn(decoding, m_options.slot);
        const uint64_t again =
            restart.is_valid() && restart < decoded ? decoded.value() - restart.value() : 0;
        Lsn upto(decoded.value() + std::max(batch, again));
        upto = std::min(upto, flushed);
        if (m_options.endpos.is_valid()) upto = std::min(upto, m_options.endpos);
        log::debug("peeking at slot \"" + m_options.slot + "\" up to " + upto.str() +
                   " (restart_lsn " + restart.str() + ")");
        const auto started = Clock::now();
        if (catch_up_batch(decoding, sql, proto, upto))
            return finish_catch_up(decoding, SessionEnd::Endpos);
        if (stop_requested()) return finish_catch_up(decoding, SessionEnd::Stopped);
        decoded = upto;
        m_wal_end = std::max(m_wal_end, upto);
        log::debug("peeked up to " + upto.str() + " in " +
                   std::to_string(
                       std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started)
                           .count()) +
                   " ms");
        flushed = query_lsn(sql, "SELECT pg_catalog.pg_current_wal_flush_lsn()");
    }
    // Hand the slot over at the position confirmed so far; the replication protocol starts after
    // what was delivered (the caller's start), so nothing is written twice.
    collect_acks(m_ack_file.has_value());
    if (idle()) m_tracker.set_idle_position(decoded);
    confirm_through_sql(decoding);
    m_wal_end = std::max(m_wal_end, decoded);
    log::info("caught up on slot \"" + m_options.slot + "\" at " + decoded.str() +
              "; switching to the replication protocol");
    return std::nullopt;
}

bool Runner::catch_up_batch(pg::Connection& decoding, pg::Connection& sql, int proto, Lsn upto) {
    const bool ack_mode = m_ack_file.has_value();
    pg::SlotChanges changes(decoding,
                            {m_options.slot, upto, m_options.publications, proto, true, true});
    for (;;) {
        m_writer.check();
        check_reopen();
        if (stop_requested()) {
            changes.cancel();
            return false;
        }
        int handled = 0;
        bool ended = false;
        while (!m_writer.full() && handled < 10000) {
            pg::StreamMessage msg;
            try {
                msg = changes.read();
            } catch (const pg::QueryError& e) {
                if (e.sqlstate() == "55006")
                    throw Error(e.what(), "Another client is streaming from this slot; stop it "
                                          "first.");
                throw;
            }
            if (msg.kind == pg::StreamMessage::Kind::None) break;
            if (msg.kind == pg::StreamMessage::Kind::End) {
                ended = true;
                break;
            }
            ++handled;
            if (handle_xlog(msg.data, msg.wal_start, sql)) {
                changes.cancel();
                return true;
            }
        }
        collect_acks(ack_mode);
        if (ended) {
            if (m_in_txn)
                throw Error("pg_logical_slot_peek_binary_changes ended inside a transaction");
            // Transactions streamed but not committed by `upto` come again, whole, in the next
            // peek: it decodes from restart_lsn, which stays before their start.
            forget_all_streamed();
            m_in_stream = false;
            return false;
        }
        if (handled > 0 && !m_writer.full()) continue; // more may be buffered in libpq
        pollfd fds[2] = {{changes.socket(), POLLIN, 0}, {-1, POLLIN, 0}};
        nfds_t n = 1;
        if (m_ack_file && m_ack_file->poll_fd() >= 0) fds[n++] = {m_ack_file->poll_fd(), POLLIN, 0};
        if (m_writer.full()) fds[0].fd = -1; // backpressure: the server's COPY waits
        ::poll(fds, n, m_writer.full() ? 2 : 100);
        if (fds[0].fd >= 0 && (fds[0].revents & (POLLIN | POLLERR | POLLHUP)))
            changes.consume_input();
    }
}

void Runner::confirm_through_sql(pg::Connection& decoding) {
    const Lsn confirm = m_tracker.confirmable();
    if (confirm <= m_slot_confirmed) return;
    if (m_options.before_confirm) m_options.before_confirm(confirm);
    m_slot_confirmed = pg::advance_slot(decoding, m_options.slot, confirm);
    if (confirm > m_last_confirmed) {
        log::debug("confirmed " + confirm.str());
        m_last_confirmed = confirm;
    }
}

SessionEnd Runner::finish_catch_up(pg::Connection& decoding, SessionEnd why) {
    settle();
    confirm_through_sql(decoding);
    return why;
}

// A peek starts at the slot's confirmed position, which may lie before output already handed out
// (it waits for a flush or an ack): such transactions and messages come again and are skipped by
// the WAL position of the record that produced them. A skipped transaction's Relation messages
// still update the cache, since the server will not send them again in this peek (after a
// streamed transaction commits, pgoutput counts its schema as sent for every later one too).
bool Runner::already_delivered(const decode::Message& message, pg::Connection& sql) {
    if (const auto* begin = std::get_if<decode::Begin>(&message)) {
        m_skipping_txn = begin->final_lsn <= m_delivered_through;
        return m_skipping_txn;
    }
    if (const auto* commit = std::get_if<decode::StreamCommit>(&message);
        commit && commit->commit_lsn <= m_delivered_through) {
        replay_streamed(commit->xid, sql, true);
        return true;
    }
    if (m_skipping_txn) {
        if (std::holds_alternative<decode::Commit>(message)) m_skipping_txn = false;
        if (const auto* relation = std::get_if<decode::Relation>(&message))
            m_relations.apply(*relation, sql);
        return true;
    }
    if (const auto* lm = std::get_if<decode::LogicalMessage>(&message); lm && !lm->transactional)
        return lm->lsn <= m_delivered_through;
    return false;
}

} // namespace pgsync::stream
