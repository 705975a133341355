// Runner: pgsync-stream's state for the whole process (output writer, ack tracker, caches, buffered
// streamed transactions), shared by its three parts: the replication loop (stream.cpp), the
// pgoutput message handlers (runner_records.cpp) and the SQL catch-up (catch_up.cpp). Internal to
// libcore/stream.
#pragma once

#include "ack/ack_file.h"
#include "ack/ack_tracker.h"
#include "decode/pgoutput.h"
#include "decode/relation_cache.h"
#include "decode/txn_buffer.h"
#include "pg/connection.h"
#include "pg/replication_stream.h"
#include "pg/zone_offsets.h"
#include "record/formatter.h"
#include "stream/output_writer.h"
#include "stream/slot_check.h"
#include "stream/stream.h"

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <unordered_map>

namespace pgsync::stream {

using Clock = std::chrono::steady_clock;
inline constexpr size_t kChunkBytes = 256 * 1024; // output pushed mid-transaction past this size

// Why a session ended without an exception.
enum class SessionEnd { Endpos, Stopped };

class Runner {
public:
    Runner(const StreamOptions& options, ChunkSink& out);
    StreamEnd run();

private:
    // --- the session and the replication loop (stream.cpp) ---
    static bool is_connection_loss(const pg::QueryError& e);
    bool stop_requested() const { return m_options.stop && *m_options.stop; }
    bool sleep_unless_stopped(int seconds);
    SessionEnd session();
    // How the stream's connections open: pinned settings, except for wal2json (see stream.cpp).
    // decoding: the catch-up connection whose SQL decoding functions render the values.
    pg::ConnectOptions connect_options(bool replication, bool decoding = false) const;
    SlotState wait_for_free_slot(pg::Connection& sql);
    SessionEnd loop(pg::ReplicationStream& stream, pg::Connection& sql);
    void set_receive_low_water(int socket, int bytes);
    bool idle() const;
    bool reached_endpos_idle() const;
    void collect_acks(bool ack_mode);
    void check_reopen();
    void maybe_send_status(pg::ReplicationStream& stream, bool reply_requested);
    void send_status(pg::ReplicationStream& stream, Lsn confirm);
    // Pushes what is left, waits for the writer and (briefly) for the consumer's acks.
    void settle();
    SessionEnd finish(pg::ReplicationStream& stream, SessionEnd why);
    void push_output(Lsn commit_end);

    // --- catch-up through the SQL decoding functions (catch_up.cpp) ---
    // While the slot is more than a batch of WAL behind, reads it in bounded peeks; returns an end
    // when --endpos or a stop came first, nullopt to go on with the replication protocol.
    std::optional<SessionEnd> catch_up(pg::Connection& sql, Lsn from);
    // One peek up to `upto`; true when --endpos was reached in it.
    bool catch_up_batch(pg::Connection& decoding, pg::Connection& sql, int proto, Lsn upto);
    // Advances the slot to what may be confirmed, when that moved.
    void confirm_through_sql(pg::Connection& decoding);
    SessionEnd finish_catch_up(pg::Connection& decoding, SessionEnd why);
    // Catch-up peeks overlap where the slot could not be advanced yet: true for a message an
    // earlier peek already delivered.
    bool already_delivered(const decode::Message& message, pg::Connection& sql);

    // --- pgoutput messages to records (runner_records.cpp) ---
    bool handle_xlog(std::string_view data, Lsn wal_start, pg::Connection& sql);
    // Keeps one message of a streamed transaction until its commit: rendered now when the format
    // supports deferred rendering, else raw.
    void keep_streamed(const decode::Message& message, std::string_view data, Lsn lsn,
                       uint32_t sub_xid, pg::Connection& sql);
    // Streamed transactions are rendered as they arrive, where the socket would otherwise wait;
    // not while catching up, where data never waits and rendering early only spills more bytes.
    bool defer_streamed() const { return !m_catching_up && m_formatter->supports_deferred(); }
    // A streamed transaction's kept messages at its commit: into the output, or (already
    // delivered, during catch-up) only its Relation messages into the cache. False when a stop
    // signal cut it short (the output then ends inside the transaction, without its commit).
    bool replay_streamed(uint32_t xid, pg::Connection& sql, bool relations_only);
    // Waits while the output queue is full, still answering the server (S2); false on a stop.
    bool wait_for_writer_room();
    void forget_streamed(uint32_t xid);
    void forget_all_streamed();
    // The table a change names: a streamed transaction's own Relation while rendering one.
    const record::RelationInfo& relation(uint32_t oid) const;
    std::string& target() { return m_rendering ? m_rendered : m_output; }
    const record::TxnInfo& target_txn() const { return m_rendering ? m_rendered_txn : m_txn; }
    bool handle(const decode::Message& message, Lsn lsn, pg::Connection& sql);
    bool end_transaction();
    bool on(const decode::Begin& m, Lsn, pg::Connection&);
    bool on(const decode::Commit& m, Lsn, pg::Connection&);
    bool on(const decode::Origin&, Lsn, pg::Connection&) { return false; }
    bool on(const decode::Type&, Lsn, pg::Connection&) { return false; } // from the catalog
    bool on(const decode::Relation& m, Lsn, pg::Connection& sql);
    bool on(const decode::Insert& m, Lsn lsn, pg::Connection&);
    bool on(const decode::Update& m, Lsn lsn, pg::Connection&);
    bool on(const decode::Delete& m, Lsn lsn, pg::Connection&);
    bool on(const decode::Truncate& m, Lsn lsn, pg::Connection&);
    bool on(const decode::LogicalMessage& m, Lsn, pg::Connection&);
    bool on(const decode::StreamStart& m, Lsn, pg::Connection&);
    bool on(const decode::StreamStop&, Lsn, pg::Connection&);
    bool on(const decode::StreamAbort& m, Lsn, pg::Connection&);
    bool on(const decode::StreamCommit& m, Lsn, pg::Connection& sql);
    void fill(const decode::Tuple& tuple, std::vector<record::Value>& out,
              const record::RelationInfo& rel);
    void emit_row(const record::RowChange& change);

    const StreamOptions& m_options;
    pg::TypeCatalog m_catalog;
    record::ValueWriter m_values;
    decode::RelationCache m_relations;
    std::unique_ptr<record::Formatter> m_formatter; // made at the first connection (needs its db)
    std::optional<pg::ZoneOffsets> m_zone; // the walsender's TimeZone, for wal2json commit times
    pg::Connection* m_sql = nullptr;       // the current session's SQL connection
    OutputWriter m_writer;
    decode::TxnBuffer m_buffer;
    ack::AckTracker m_tracker;
    std::optional<ack::AckFile> m_ack_file;

    std::string m_output;             // lines not yet handed to the writer
    std::deque<Lsn> m_pushed_commits; // handed to the writer, not yet reported durable
    Lsn m_last_pushed_commit;
    // The WAL position of the last record whose output was handed to the writer: a commit record
    // (its commit_lsn) or a non-transactional message. Everything before it was delivered too.
    Lsn m_delivered_through;
    Lsn m_pending_ack;
    Lsn m_last_confirmed;
    Lsn m_slot_confirmed; // the slot's confirmed_flush as the last check or advance saw it
    Lsn m_wal_end;
    Clock::time_point m_last_status{};
    std::chrono::milliseconds m_status_interval{10000};
    std::string m_system_id;
    int m_timeline = 0;

    record::TxnInfo m_txn;
    bool m_in_txn = false;
    bool m_in_stream = false;
    bool m_catching_up = false;
    bool m_skipping_txn = false; // catch-up: inside a transaction an earlier peek delivered
    uint32_t m_stream_xid = 0;
    uint32_t m_seq = 0;
    size_t m_handled_since_poll = 0;
    int m_low_water = 1;                       // the socket's SO_RCVLOWAT
    pg::ReplicationStream* m_stream = nullptr; // while loop() runs, for status during replays
    std::vector<record::Value> m_new, m_old;

    // Rendering a streamed transaction's change before its commit (keep_streamed).
    bool m_rendering = false;
    std::string m_rendered;         // one kept message, reused: no allocation per change
    record::TxnInfo m_rendered_txn; // xid and deferred only
    // Each streamed transaction's Relation messages so far, by xid then relation OID: its rows
    // render with them; the cache takes them in commit order.
    std::unordered_map<uint32_t,
                       std::unordered_map<uint32_t, std::unique_ptr<record::RelationInfo>>>
        m_stream_relations;
};

} // namespace pgsync::stream
