// The replication loop. One Runner lives for the whole process (output writer, ack tracker, caches,
// buffered streamed transactions); each connection is one session of it. Order of duties in the
// loop: read what the socket has, handle messages (unless the output queue is full), take the
// consumer's acks, confirm, and answer the server on time whatever the consumer does (S2).
#include "stream/stream.h"

#include "ack/ack_file.h"
#include "ack/ack_tracker.h"
#include "decode/pgoutput.h"
#include "decode/relation_cache.h"
#include "decode/txn_buffer.h"
#include "pg/replication.h"
#include "pg/replication_stream.h"
#include "pg/zone_offsets.h"
#include "record/formatter.h"
#include "stream/output_writer.h"
#include "stream/slot_check.h"
#include "util/log.h"

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <poll.h>
#include <sys/socket.h>
#include <thread>

namespace pgsync::stream {
namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kChunkBytes = 256 * 1024; // output pushed mid-transaction past this size

// Why a session ended without an exception.
enum class SessionEnd { Endpos, Stopped };

record::ValueKind value_kind(decode::ValueKind kind) {
    switch (kind) {
    case decode::ValueKind::Null:
        return record::ValueKind::Null;
    case decode::ValueKind::UnchangedToast:
        return record::ValueKind::UnchangedToast;
    case decode::ValueKind::Text:
        return record::ValueKind::Text;
    case decode::ValueKind::Binary:
        break;
    }
    throw Error("pgoutput sent a binary value, but binary mode was not requested");
}

class Runner {
public:
    Runner(const StreamOptions& options, ChunkSink& out)
        : m_options(options), m_values(m_catalog), m_relations(m_catalog, m_values),
          m_writer(out, options.max_queued_bytes),
          m_buffer(options.memory_budget_bytes, options.spill_dir),
          m_tracker(options.ack_file.empty() ? ack::AckMode::Flush : ack::AckMode::Acknowledge) {
        if (!options.ack_file.empty()) m_ack_file.emplace(options.ack_file);
    }

    StreamEnd run() {
        int failures = 0;
        for (;;) {
            try {
                SessionEnd end = session();
                return end == SessionEnd::Endpos ? StreamEnd::EndposReached : StreamEnd::Stopped;
            } catch (const pg::QueryError& e) {
                if (!is_connection_loss(e) || m_options.no_loop) throw;
                if (stop_requested()) return StreamEnd::Stopped;
                ++failures;
                const int delay = std::min(30, 1 << std::min(failures - 1, 5));
                log::warning(std::string(e.what()) + "; reconnecting in " + std::to_string(delay) +
                             " s");
                if (!sleep_unless_stopped(delay)) return StreamEnd::Stopped;
            }
        }
    }

private:
    static bool is_connection_loss(const pg::QueryError& e) {
        return e.sqlstate().empty() || e.sqlstate().starts_with("08") || e.sqlstate() == "57P01" ||
               e.sqlstate() == "57P02" || e.sqlstate() == "57P03";
    }
    bool stop_requested() const { return m_options.stop && *m_options.stop; }
    bool sleep_unless_stopped(int seconds) {
        for (int i = 0; i < seconds * 10; ++i) {
            if (stop_requested()) return false;
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        return true;
    }

    // One connection: checks, START_REPLICATION, the loop.
    SessionEnd session() {
        // wal2json as pg_recvlogical reads it: values rendered under the server's defaults for
        // this role and database, not pgsync's pinned DateStyle, TimeZone, extra_float_digits,
        // and an empty search_path, so that format_type() qualifies type names as wal2json does.
        const bool as_recvlogical = m_options.format == "wal2json";
        pg::ConnectOptions sql_options{m_options.conninfo, false, m_options.application_name, {}};
        pg::ConnectOptions repl_options{m_options.conninfo, true, m_options.application_name, {}};
        if (as_recvlogical) {
            sql_options.settings = repl_options.settings = {{"search_path", ""}};
            repl_options.pin_settings = false;
        }
        pg::Connection sql = pg::Connection::open(sql_options);
        m_sql = &sql; // for m_zone, during this session's loop only
        if (!m_formatter) {
            record::FormatOptions format{"pgsync", PQdb(sql.raw()), m_options.slot, {}};
            if (as_recvlogical)
                format.commit_time_offset = [this](int64_t at) { return m_zone->at(*m_sql, at); };
            m_formatter = record::make_formatter(m_options.format, m_values, format);
        }
        SlotState state = wait_for_free_slot(sql);
        pg::Connection repl = pg::Connection::open(repl_options);
        if (as_recvlogical) { // the walsender reports its TimeZone, as every backend does
            const char* zone = PQparameterStatus(repl.raw(), "TimeZone");
            if (!m_zone || m_zone->zone() != (zone ? zone : "UTC"))
                m_zone.emplace(zone ? zone : "UTC");
        }
        pg::SystemIdentity system = pg::identify_system(repl);
        if (!m_system_id.empty() &&
            (system.system_id != m_system_id || system.timeline != m_timeline))
            throw Error("the server changed identity (system " + m_system_id + " timeline " +
                            std::to_string(m_timeline) + " is now system " + system.system_id +
                            " timeline " + std::to_string(system.timeline) + ")",
                        "After a failover the slot may not hold the changes this stream expects "
                        "(cdc-hard-cases S7); take a new snapshot.");
        m_system_id = system.system_id;
        m_timeline = system.timeline;

        // Resume after what this process already handed to the writer; the server skips what the
        // slot confirmed anyway.
        Lsn start = std::max(m_options.start, m_last_pushed_commit);
        pg::StartOptions start_options{m_options.slot,
                                       start,
                                       m_options.publications,
                                       pg::newest_proto_version(repl.server_version()),
                                       true,
                                       true};
        std::optional<pg::ReplicationStream> stream;
        try {
            stream.emplace(repl, start_options);
        } catch (const pg::QueryError& e) {
            if (e.sqlstate() == "55000") throw slot_lost_error(m_options.slot, e.what());
            if (e.sqlstate() == "55006")
                throw Error(e.what(), "Another client is streaming from this slot; stop it first.");
            throw;
        }
        log::info("streaming from slot \"" + m_options.slot + "\" at " +
                  (start.is_valid() ? start : state.confirmed_flush).str() + " (protocol " +
                  std::to_string(start_options.proto_version) + ")");
        // Status goes out at least every third of wal_sender_timeout, even while the output queue
        // is full and the socket is left unread (S2).
        m_status_interval =
            std::chrono::milliseconds(int64_t(m_options.status_interval_seconds * 1000));
        std::string timeout = sql.query_value(
            "SELECT setting FROM pg_catalog.pg_settings WHERE name = 'wal_sender_timeout'");
        if (!timeout.empty() && std::stoll(timeout) > 0)
            m_status_interval =
                std::min(m_status_interval, std::chrono::milliseconds(std::stoll(timeout) / 3));
        m_buffer.clear();
        m_low_water = 1; // a new socket
        m_in_txn = false;
        m_in_stream = false;
        m_output.clear();
        m_last_status = Clock::time_point{};
        return loop(*stream, sql);
    }

    // An active slot may be a previous instance of ours whose walsender has not noticed it is
    // gone yet (S6): retry with backoff for about a minute before giving up.
    SlotState wait_for_free_slot(pg::Connection& sql) {
        int waited = 0;
        for (int delay = 1;; delay = std::min(delay * 2, 10)) {
            SlotState state = check_slot(sql, m_options.slot, m_options.publications);
            if (state.active_pid.empty()) return state;
            if (waited >= 60 || m_options.no_loop)
                throw Error("replication slot \"" + m_options.slot + "\" is active for PID " +
                                state.active_pid,
                            "Another client is streaming from it. Stop that client, or if it is "
                            "stuck, end it with SELECT pg_terminate_backend(" +
                                state.active_pid + ").");
            log::warning("replication slot \"" + m_options.slot + "\" is active for PID " +
                         state.active_pid + "; retrying in " + std::to_string(delay) + " s");
            if (!sleep_unless_stopped(delay)) throw Error("interrupted while waiting for the slot");
            waited += delay;
        }
    }

    SessionEnd loop(pg::ReplicationStream& stream, pg::Connection& sql) {
        const bool ack_mode = m_ack_file.has_value();
        for (;;) {
            m_writer.check();
            if (m_options.reopen && *m_options.reopen) {
                *const_cast<volatile std::sig_atomic_t*>(m_options.reopen) = 0;
                m_writer.request_reopen();
            }
            if (stop_requested()) return finish(stream, SessionEnd::Stopped);

            // Handle buffered messages until there are none or the output queue is full.
            bool reply = false;
            int handled = 0;
            while (!m_writer.full() && handled < 10000) {
                pg::StreamMessage msg = stream.read();
                if (msg.kind == pg::StreamMessage::Kind::None) break;
                if (msg.kind == pg::StreamMessage::Kind::End)
                    throw pg::QueryError("the server ended the replication stream", "08006");
                ++handled;
                if (msg.kind == pg::StreamMessage::Kind::Keepalive) {
                    if (log::level() >= log::Level::Debug)
                        log::debug("keepalive: server WAL end " + msg.wal_end.str() +
                                   (msg.reply_requested ? ", reply requested" : ""));
                    m_wal_end = std::max(m_wal_end, msg.wal_end);
                    reply = reply || msg.reply_requested;
                    if (reached_endpos_idle()) return finish(stream, SessionEnd::Endpos);
                    continue;
                }
                m_wal_end = std::max(m_wal_end, msg.wal_end);
                if (handle_xlog(msg.data, msg.wal_start, sql))
                    return finish(stream, SessionEnd::Endpos);
            }
            collect_acks(ack_mode);
            if (idle()) m_tracker.set_idle_position(m_wal_end);
            maybe_send_status(stream, ack_mode, reply);

            if (handled > 0 && !m_writer.full()) {
                m_handled_since_poll += handled;
                continue; // more may be buffered in libpq
            }
            // While a backlog flows, wake only for 16 kB or after 2 ms: waking for every small
            // packet costs the walsender, the real bottleneck, more than it costs us. Idle, wake
            // for any byte, so a single commit still arrives at once.
            const bool busy = m_handled_since_poll >= 64;
            m_handled_since_poll = 0;
            set_receive_low_water(stream.socket(), busy ? 16384 : 1);
            pollfd fds[2] = {{stream.socket(), POLLIN, 0}, {-1, POLLIN, 0}};
            nfds_t n = 1;
            if (m_ack_file && m_ack_file->poll_fd() >= 0)
                fds[n++] = {m_ack_file->poll_fd(), POLLIN, 0};
            if (m_writer.full()) fds[0].fd = -1; // backpressure: let TCP hold the rest
            ::poll(fds, n, busy ? 2 : 100);
            if (fds[0].fd >= 0 && (fds[0].revents & (POLLIN | POLLERR | POLLHUP)))
                stream.consume_input();
        }
    }

    void set_receive_low_water(int socket, int bytes) {
        if (bytes == m_low_water) return;
        if (::setsockopt(socket, SOL_SOCKET, SO_RCVLOWAT, &bytes, sizeof bytes) == 0)
            m_low_water = bytes;
    }

    bool idle() const {
        return !m_in_txn && !m_in_stream && m_buffer.empty() && m_writer.empty() &&
               m_pushed_commits.empty();
    }

    bool reached_endpos_idle() const {
        return m_options.endpos.is_valid() && m_wal_end >= m_options.endpos && !m_in_txn;
    }

    // Registers commits the writer made durable, then the consumer's acks (S3, S4).
    void collect_acks(bool ack_mode) {
        Lsn durable = m_writer.durable();
        bool any = false;
        while (!m_pushed_commits.empty() && m_pushed_commits.front() <= durable) {
            if (m_pushed_commits.front() > m_tracker.last_written())
                m_tracker.commit_written(m_pushed_commits.front());
            m_pushed_commits.pop_front();
            any = true;
        }
        if (any) m_tracker.flushed();
        if (!ack_mode) return;
        if (auto ack = m_ack_file->read_new()) m_pending_ack = std::max(m_pending_ack, *ack);
        // An ack for a commit the writer has not reported yet waits for it; one past every commit
        // handed out is passed on for the tracker to clamp and report.
        if (m_pending_ack.is_valid() &&
            (m_pending_ack <= durable || m_pending_ack > m_last_pushed_commit)) {
            m_tracker.acknowledged(m_pending_ack);
            m_pending_ack = Lsn();
        }
    }

    void maybe_send_status(pg::ReplicationStream& stream, bool ack_mode, bool reply_requested) {
        const auto now = Clock::now();
        (void)ack_mode;
        const Lsn confirm = m_tracker.confirmable();
        const auto since = now - m_last_status;
        const bool due = since >= m_status_interval;
        const bool advanced = confirm > m_last_confirmed && since >= std::chrono::milliseconds(200);
        if (!(due || reply_requested || advanced)) return;
        send_status(stream, confirm);
        m_last_status = now;
    }

    void send_status(pg::ReplicationStream& stream, Lsn confirm) {
        // write: the last commit handed out; flush and apply: what may be confirmed (never more).
        Lsn written = std::max(m_last_pushed_commit, confirm);
        if (confirm > m_last_confirmed && m_options.before_confirm)
            m_options.before_confirm(confirm);
        stream.send_status(written, confirm, confirm);
        if (confirm > m_last_confirmed) {
            log::debug("confirmed " + confirm.str());
            m_last_confirmed = confirm;
        }
    }

    SessionEnd finish(pg::ReplicationStream& stream, SessionEnd why) {
        push_output(Lsn());
        m_writer.drain();
        collect_acks(m_ack_file.has_value());
        if (m_ack_file) {
            // Give a consumer a moment to acknowledge what it just received.
            for (int i = 0; i < 20 && m_tracker.confirmable() < m_last_pushed_commit; ++i) {
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
                collect_acks(true);
            }
        }
        if (idle()) m_tracker.set_idle_position(m_wal_end);
        send_status(stream, m_tracker.confirmable());
        stream.finish();
        return why;
    }

    void push_output(Lsn commit_end) {
        if (m_output.empty() && !commit_end.is_valid()) return;
        std::string chunk = m_writer.take_buffer(); // recycled: no allocation per transaction
        chunk.swap(m_output);
        m_writer.push(std::move(chunk), commit_end);
        if (commit_end.is_valid()) {
            m_pushed_commits.push_back(commit_end);
            m_last_pushed_commit = commit_end;
        }
    }

    // Handles one XLogData payload; returns true when --endpos is reached.
    bool handle_xlog(std::string_view data, Lsn wal_start, pg::Connection& sql) {
        decode::Message message = decode::parse_message(data, m_in_stream);
        if (m_in_stream) {
            if (auto* s = std::get_if<decode::StreamStop>(&message)) {
                (void)s;
                m_in_stream = false;
                return false;
            }
            // Changes of an in-progress transaction are kept, raw, until it commits (R6).
            uint32_t sub = std::visit(
                [](const auto& m) -> uint32_t {
                    if constexpr (requires { m.xid; })
                        return m.xid;
                    else
                        return 0;
                },
                message);
            if (auto* lm = std::get_if<decode::LogicalMessage>(&message); lm && !lm->transactional)
                return handle(message, wal_start, sql);
            // Stored with the change's LSN in front, so replayed records keep their own "lsn".
            std::string stored(8, '\0');
            for (int i = 0; i < 8; ++i)
                stored[size_t(i)] = char(wal_start.value() >> (56 - 8 * i));
            stored.append(data);
            m_buffer.append(m_stream_xid, sub ? sub : m_stream_xid, stored);
            return false;
        }
        return handle(message, wal_start, sql);
    }

    bool handle(const decode::Message& message, Lsn lsn, pg::Connection& sql) {
        return std::visit([&](const auto& m) { return on(m, lsn, sql); }, message);
    }

    bool on(const decode::Begin& m, Lsn, pg::Connection&) {
        m_txn = {m.xid, m.final_lsn, Lsn(), m.commit_time};
        m_in_txn = true;
        m_seq = 0;
        m_formatter->begin(m_output, m_txn);
        return false;
    }
    bool on(const decode::Commit& m, Lsn, pg::Connection&) {
        m_txn.end_lsn = m.end_lsn;
        m_txn.commit_time = m.commit_time;
        return end_transaction();
    }
    bool end_transaction() {
        m_formatter->commit(m_output, m_txn);
        m_in_txn = false;
        push_output(m_txn.end_lsn);
        return m_options.endpos.is_valid() && m_txn.end_lsn >= m_options.endpos;
    }
    bool on(const decode::Origin&, Lsn, pg::Connection&) { return false; }
    bool on(const decode::Type&, Lsn, pg::Connection&) {
        return false;
    } // types come from the catalog
    bool on(const decode::Relation& m, Lsn, pg::Connection& sql) {
        auto applied = m_relations.apply(m, sql);
        if (applied.changed) m_formatter->relation(m_output, m_txn, *applied.info);
        return false;
    }
    void fill(const decode::Tuple& tuple, std::vector<record::Value>& out,
              const record::RelationInfo& rel) {
        if (tuple.size() != rel.columns.size())
            throw Error("pgoutput sent " + std::to_string(tuple.size()) + " columns for \"" +
                        rel.schema + "." + rel.name + "\", which has " +
                        std::to_string(rel.columns.size()));
        out.resize(tuple.size());
        for (size_t i = 0; i < tuple.size(); ++i)
            out[i] = {value_kind(tuple[i].kind), tuple[i].data};
    }
    bool on(const decode::Insert& m, Lsn lsn, pg::Connection&) {
        const auto& rel = m_relations.get(m.relation);
        fill(m.new_tuple, m_new, rel);
        emit_row({record::RowOp::Insert, &rel, lsn, m_seq++, record::OldKind::None, {}, m_new});
        return false;
    }
    bool on(const decode::Update& m, Lsn lsn, pg::Connection&) {
        const auto& rel = m_relations.get(m.relation);
        fill(m.new_tuple, m_new, rel);
        record::OldKind kind = m.old_kind == 'O'   ? record::OldKind::Full
                               : m.old_kind == 'K' ? record::OldKind::Key
                                                   : record::OldKind::None;
        if (kind != record::OldKind::None) fill(m.old_tuple, m_old, rel);
        emit_row({record::RowOp::Update, &rel, lsn, m_seq++, kind,
                  kind == record::OldKind::None ? std::span<const record::Value>() : m_old, m_new});
        return false;
    }
    bool on(const decode::Delete& m, Lsn lsn, pg::Connection&) {
        const auto& rel = m_relations.get(m.relation);
        fill(m.old_tuple, m_old, rel);
        record::OldKind kind = m.old_kind == 'O' ? record::OldKind::Full : record::OldKind::Key;
        emit_row({record::RowOp::Delete, &rel, lsn, m_seq++, kind, m_old, {}});
        return false;
    }
    void emit_row(const record::RowChange& change) {
        m_formatter->row(m_output, m_txn, change);
        if (m_output.size() >= kChunkBytes) push_output(Lsn());
    }
    bool on(const decode::Truncate& m, Lsn lsn, pg::Connection&) {
        record::TruncateChange change{lsn, m_seq++, {}, m.cascade(), m.restart_identity()};
        for (uint32_t oid : m.relations)
            change.relations.push_back(&m_relations.get(oid));
        m_formatter->truncate(m_output, m_txn, change);
        return false;
    }
    bool on(const decode::LogicalMessage& m, Lsn, pg::Connection&) {
        if (m.transactional && m_in_txn) {
            m_formatter->message(m_output, &m_txn, {m.lsn, m_seq++, true, m.prefix, m.content});
            return false;
        }
        // A non-transactional message stands alone, even if its transaction rolls back (R13).
        m_formatter->message(m_output, nullptr, {m.lsn, 0, m.transactional, m.prefix, m.content});
        if (!m_in_txn) push_output(Lsn());
        return false;
    }
    bool on(const decode::StreamStart& m, Lsn, pg::Connection&) {
        m_in_stream = true;
        m_stream_xid = m.xid;
        return false;
    }
    bool on(const decode::StreamStop&, Lsn, pg::Connection&) {
        m_in_stream = false;
        return false;
    }
    bool on(const decode::StreamAbort& m, Lsn, pg::Connection&) {
        m_buffer.abort(m.xid, m.subxid); // a subtransaction's abort drops only its part (R7)
        return false;
    }
    bool on(const decode::StreamCommit& m, Lsn, pg::Connection& sql) {
        // Replay the transaction's buffered changes through the same handlers, in order.
        m_txn = {m.xid, m.commit_lsn, m.end_lsn, m.commit_time};
        m_in_txn = true;
        m_seq = 0;
        m_formatter->begin(m_output, m_txn);
        m_buffer.replay(m.xid, [&](std::string_view stored) {
            uint64_t lsn = 0;
            for (int i = 0; i < 8; ++i)
                lsn = (lsn << 8) | uint8_t(stored[size_t(i)]);
            decode::Message message = decode::parse_message(stored.substr(8), true);
            handle(message, Lsn(lsn), sql);
        });
        m_buffer.erase(m.xid);
        m_txn.end_lsn = m.end_lsn;
        return end_transaction();
    }

    const StreamOptions& m_options;
    pg::TypeCatalog m_catalog;
    record::ValueWriter m_values;
    decode::RelationCache m_relations;
    std::unique_ptr<record::Formatter>
        m_formatter;                       // made at the first connection (needs its database)
    std::optional<pg::ZoneOffsets> m_zone; // the walsender's TimeZone, for wal2json commit times
    pg::Connection* m_sql = nullptr;       // the current session's SQL connection
    OutputWriter m_writer;
    decode::TxnBuffer m_buffer;
    ack::AckTracker m_tracker;
    std::optional<ack::AckFile> m_ack_file;

    std::string m_output;             // lines not yet handed to the writer
    std::deque<Lsn> m_pushed_commits; // handed to the writer, not yet reported durable
    Lsn m_last_pushed_commit;
    Lsn m_pending_ack;
    Lsn m_last_confirmed;
    Lsn m_wal_end;
    Clock::time_point m_last_status{};
    std::chrono::milliseconds m_status_interval{10000};
    std::string m_system_id;
    int m_timeline = 0;

    record::TxnInfo m_txn;
    bool m_in_txn = false;
    bool m_in_stream = false;
    uint32_t m_stream_xid = 0;
    uint32_t m_seq = 0;
    size_t m_handled_since_poll = 0;
    int m_low_water = 1; // the socket's SO_RCVLOWAT
    std::vector<record::Value> m_new, m_old;
};

} // namespace

StreamEnd run_stream(const StreamOptions& options, ChunkSink& out) {
    if (options.publications.empty()) throw usage_error("--publication is required");
    Runner runner(options, out);
    return runner.run();
}

} // namespace pgsync::stream
