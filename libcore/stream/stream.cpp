// The replication loop. One Runner lives for the whole process; each connection is one session
// of it: catch up through the SQL decoding functions while far behind (catch_up.cpp), then stream.
// Order of duties in the loop: read what the socket has, handle messages (unless the output queue
// is full), take the consumer's acks, confirm, and answer the server on time whatever the consumer
// does (S2).
#include "pg/replication.h"
#include "pg/zone_offsets.h"
#include "stream/runner.h"
#include "util/log.h"

#include <poll.h>
#include <sys/socket.h>
#include <thread>

namespace pgsync::stream {

Runner::Runner(const StreamOptions& options, ChunkSink& out)
    : m_options(options), m_values(m_catalog), m_relations(m_catalog, m_values),
      m_writer(out, options.max_queued_bytes, options.min_sync_interval),
      m_buffer(options.memory_budget_bytes, options.spill_dir),
      m_tracker(options.ack_file.empty() ? ack::AckMode::Flush : ack::AckMode::Acknowledge) {
    if (!options.ack_file.empty()) m_ack_file.emplace(options.ack_file);
}

StreamEnd Runner::run() {
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

bool Runner::is_connection_loss(const pg::QueryError& e) {
    return e.sqlstate().empty() || e.sqlstate().starts_with("08") || e.sqlstate() == "57P01" ||
           e.sqlstate() == "57P02" || e.sqlstate() == "57P03";
}
bool Runner::sleep_unless_stopped(int seconds) {
    for (int i = 0; i < seconds * 10; ++i) {
        if (stop_requested()) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return true;
}

// One connection: checks, START_REPLICATION, the loop.
pg::ConnectOptions Runner::connect_options(bool replication, bool decoding) const {
    pg::ConnectOptions options{m_options.conninfo, replication, m_options.application_name, {}};
    // wal2json as pg_recvlogical reads it: values rendered under the server's defaults for this
    // role and database, not pgsync's pinned DateStyle, TimeZone, extra_float_digits, and an
    // empty search_path, so that format_type() qualifies type names as wal2json does. The SQL
    // decoding functions of catch-up render values in their own session: the same rule.
    if (m_options.format == "wal2json") {
        options.settings = {{"search_path", ""}};
        if (replication || decoding) options.pin_settings = false;
    }
    return options;
}

SessionEnd Runner::session() {
    const bool as_recvlogical = m_options.format == "wal2json";
    pg::Connection sql = pg::Connection::open(connect_options(false));
    m_sql = &sql; // for m_zone, during this session's loop only
    if (!m_formatter) {
        record::FormatOptions format{"pgsync", PQdb(sql.raw()), m_options.slot, {}};
        if (as_recvlogical)
            format.commit_time_offset = [this](int64_t at) { return m_zone->at(*m_sql, at); };
        m_formatter = record::make_formatter(m_options.format, m_values, format);
    }
    SlotState state = wait_for_free_slot(sql);
    pg::Connection repl = pg::Connection::open(connect_options(true));
    if (as_recvlogical) { // the walsender reports its TimeZone, as every backend does
        const char* zone = PQparameterStatus(repl.raw(), "TimeZone");
        if (!m_zone || m_zone->zone() != (zone ? zone : "UTC")) m_zone.emplace(zone ? zone : "UTC");
    }
    pg::SystemIdentity system = pg::identify_system(repl);
    if (!m_system_id.empty() && (system.system_id != m_system_id || system.timeline != m_timeline))
        throw Error("the server changed identity (system " + m_system_id + " timeline " +
                        std::to_string(m_timeline) + " is now system " + system.system_id +
                        " timeline " + std::to_string(system.timeline) + ")",
                    "After a failover the slot may not hold the changes this stream expects "
                    "(cdc-hard-cases S7); take a new snapshot.");
    m_system_id = system.system_id;
    m_timeline = system.timeline;

    forget_all_streamed(); // the server streams in-progress transactions again
    m_in_txn = false;
    m_in_stream = false;
    m_skipping_txn = false;
    m_output.clear();
    m_slot_confirmed = state.confirmed_flush;

    // Resume after what this process already handed to the writer; the server skips what the
    // slot confirmed anyway. A non-transactional message delivered last is skipped by starting
    // just past its record.
    Lsn start = std::max({m_options.start, m_last_pushed_commit, state.confirmed_flush});
    if (m_delivered_through >= start) start = Lsn(m_delivered_through.value() + 1);
    if (auto end = catch_up(sql, start)) return *end;
    start = std::max({start, m_last_pushed_commit});
    if (m_delivered_through >= start) start = Lsn(m_delivered_through.value() + 1);

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
    log::info("streaming from slot \"" + m_options.slot + "\" at " + start.str() + " (protocol " +
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
    m_low_water = 1; // a new socket
    m_last_status = Clock::time_point{};
    return loop(*stream, sql);
}

// An active slot may be a previous instance of ours whose walsender has not noticed it is
// gone yet (S6): retry with backoff for about a minute before giving up.
SlotState Runner::wait_for_free_slot(pg::Connection& sql) {
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

SessionEnd Runner::loop(pg::ReplicationStream& stream, pg::Connection& sql) {
    const bool ack_mode = m_ack_file.has_value();
    m_stream = &stream;
    struct Forget {
        pg::ReplicationStream*& stream;
        ~Forget() { stream = nullptr; }
    } forget{m_stream};
    for (;;) {
        m_writer.check();
        check_reopen();
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
        maybe_send_status(stream, reply);

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
        if (m_ack_file && m_ack_file->poll_fd() >= 0) fds[n++] = {m_ack_file->poll_fd(), POLLIN, 0};
        if (m_writer.full()) fds[0].fd = -1; // backpressure: let TCP hold the rest
        ::poll(fds, n, busy ? 2 : 100);
        if (fds[0].fd >= 0 && (fds[0].revents & (POLLIN | POLLERR | POLLHUP)))
            stream.consume_input();
    }
}

bool Runner::wait_for_writer_room() {
    while (m_writer.full()) {
        if (stop_requested()) return false;
        m_writer.check();
        collect_acks(m_ack_file.has_value());
        if (m_stream) maybe_send_status(*m_stream, false);
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

void Runner::set_receive_low_water(int socket, int bytes) {
    if (bytes == m_low_water) return;
    if (::setsockopt(socket, SOL_SOCKET, SO_RCVLOWAT, &bytes, sizeof bytes) == 0)
        m_low_water = bytes;
}

bool Runner::idle() const {
    return !m_in_txn && !m_in_stream && m_buffer.empty() && m_writer.empty() &&
           m_pushed_commits.empty();
}

bool Runner::reached_endpos_idle() const {
    return m_options.endpos.is_valid() && m_wal_end >= m_options.endpos && !m_in_txn;
}

// Registers commits the writer made durable, then the consumer's acks (S3, S4).
void Runner::collect_acks(bool ack_mode) {
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

void Runner::check_reopen() {
    if (m_options.reopen && *m_options.reopen) {
        const_cast<StopFlag*>(m_options.reopen)->store(0);
        m_writer.request_reopen();
    }
}

void Runner::maybe_send_status(pg::ReplicationStream& stream, bool reply_requested) {
    const auto now = Clock::now();
    const Lsn confirm = m_tracker.confirmable();
    const auto since = now - m_last_status;
    const bool due = since >= m_status_interval;
    const bool advanced = confirm > m_last_confirmed && since >= std::chrono::milliseconds(200);
    if (!(due || reply_requested || advanced)) return;
    send_status(stream, confirm);
    m_last_status = now;
}

void Runner::send_status(pg::ReplicationStream& stream, Lsn confirm) {
    // write: the last commit handed out; flush and apply: what may be confirmed (never more).
    Lsn written = std::max(m_last_pushed_commit, confirm);
    if (confirm > m_last_confirmed && m_options.before_confirm) m_options.before_confirm(confirm);
    stream.send_status(written, confirm, confirm);
    if (confirm > m_last_confirmed) {
        log::debug("confirmed " + confirm.str());
        m_last_confirmed = confirm;
    }
}

void Runner::settle() {
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
}

SessionEnd Runner::finish(pg::ReplicationStream& stream, SessionEnd why) {
    settle();
    send_status(stream, m_tracker.confirmable());
    stream.finish();
    return why;
}

void Runner::push_output(Lsn commit_end) {
    if (m_output.empty() && !commit_end.is_valid()) return;
    std::string chunk = m_writer.take_buffer(); // recycled: no allocation per transaction
    chunk.swap(m_output);
    m_writer.push(std::move(chunk), commit_end);
    if (commit_end.is_valid()) {
        m_pushed_commits.push_back(commit_end);
        m_last_pushed_commit = commit_end;
    }
}

StreamEnd run_stream(const StreamOptions& options, ChunkSink& out) {
    if (options.publications.empty()) throw usage_error("--publication is required");
    Runner runner(options, out);
    return runner.run();
}

} // namespace pgsync::stream
