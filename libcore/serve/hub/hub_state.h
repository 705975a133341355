// The hub's state, shared by its two halves: hub.cpp (client frames, subscriptions, output) and
// hub_dispatch.cpp (routing logged records, loader results, demotion of slow clients). Private to
// libcore/serve.
#pragma once

#include "channels/channel.h"
#include "filter/shape_index.h"
#include "record/record_scan.h"
#include "serve/hub/hub.h"
#include "serve/protocol/client_frame.h"
#include "serve/shapes/shape.h"
#include "serve/shapes/table_schema.h"
#include "serve/windows/window.h"

#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace pgsync::serve {

// Whether a client's offset ends a transaction: commits have odd ops (serve/log_offset.h), rows
// even ones. A resume from a change inside a transaction gets its up-to-date at that
// transaction's commit, not at once.
inline bool ends_transaction(LogOffset offset) {
    return offset.op % 2 == 1;
}

// An ordered window shared by the subscriptions with the same table, filter, columns, order and
// limit (serve/hub/hub_windows.cpp): the rows, the fill running for it, and its subscribers that
// wait for their first rows.
struct WindowEntry {
    explicit WindowEntry(Window w) : window(std::move(w)) {}
    Window window;
    bool filling = false;    // a fill query runs; dispatched records of the table wait in buffer
    uint64_t generation = 0; // matches the fill's result
    std::shared_ptr<std::atomic<bool>> cancelled = std::make_shared<std::atomic<bool>>(false);
    struct Buffered {
        std::shared_ptr<const std::string> line; // the native record
        uint32_t xid = 0;
    };
    std::vector<Buffered> buffer;
    size_t buffer_bytes = 0;
    bool overflowed = false;            // the buffer passed its cap: fill again
    std::optional<LoadSnapshot> load;   // the last fill's snapshot, until the log passes it
    std::vector<Subscription*> waiting; // subscribed, not yet sent the rows
    bool touched = false;               // changed in the transaction being dispatched
    bool shown = false;                 // its subscribers have been sent rows
    LogOffset shown_at;                 // the offset of the up-to-date they were last sent
};

// One published table: its columns, its shapes, and the index that finds them by value.
struct TableState {
    std::shared_ptr<const TableSchema> schema;
    filter::ShapeIndex index;
    std::unordered_map<uint64_t, std::shared_ptr<ShapeEntry>> shapes;
    std::unordered_map<std::string, uint64_t> by_identity;
    std::vector<uint64_t> needs_old; // shapes to try whenever a row lacks a full old image
    const config::Table* config = nullptr;
    // When its indexes were last read again for a window that none served (CREATE INDEX sends
    // nothing through the slot): at most every few seconds, whatever clients ask.
    std::chrono::steady_clock::time_point indexes_read{};
};

struct Hub::Impl {
    Impl(const HubOptions& o, ChangeLog& l, Loader& ld, Metrics& m,
         std::function<std::vector<TableSchema>()> r, std::function<void(Session&)> w);

    const HubOptions& options;
    ChangeLog& log;
    Loader& loader;
    Metrics& metrics;
    std::function<std::vector<TableSchema>()> read_tables;
    std::function<void(Session&)> wake;

    std::map<std::pair<std::string, std::string>, TableState> tables;
    std::unordered_map<uint64_t, Session*> sessions;
    std::vector<Subscription*> raw_live;
    std::vector<Subscription*> touched;
    std::vector<Session*> dirty;    // sessions with frames to write after this dispatch
    std::vector<Session*> to_wake;  // dirty, taken by finish (kept: no allocation per slice)
    std::vector<Session*> dropping; // dropped clients whose subscriptions go after dispatch
    std::vector<Subscription*> live_scratch;   // a copy of a live list, walked while it may change
    std::unique_ptr<ChangeLog::Reader> reader; // the dispatcher's position in the log
    LogOffset dispatched;
    std::chrono::microseconds slice{0}; // this pump's time (Hub::pump)
    bool dispatched_at_boundary = true;
    uint64_t next_shape_id = 1;
    uint64_t next_generation = 1;
    size_t subscription_count = 0;

    // Dispatch scratch, reused for every record.
    record::ScannedRecord scanned;
    RowImages row;
    std::vector<filter::ShapeIndex::ShapeId> candidates;
    std::string tail;
    const TableState* last_table = nullptr;
    // The record being dispatched, copied once for the windows whose fill is running, and its
    // row's keys, made once for every window of its table.
    std::shared_ptr<const std::string> record_copy;
    RowKeys record_keys;
    bool record_keys_made = false;
    void load_tables();
    TableState* find_table(std::string_view schema_token, std::string_view table_token);

    // ---- output

    void push(Session& session, Frame&& frame);
    // The one way a frame is queued: caps, demotion and the write after the slice apply.
    void enqueue(Session& session, std::initializer_list<std::string_view> parts,
                 const FrameMark& mark);
    // Coalescing: an unsent up-to-date of sub that a change is about to follow goes (the next
    // commit sends one for both).
    void retract_up_to_date(Subscription& sub);
    void clear_queue(Session& session);
    // Bytes queued (+) and written or dropped (-) since the last publish_queue_bytes: the shared
    // gauge takes one atomic add per slice or write, not one per frame.
    int64_t queue_delta = 0;
    void publish_queue_bytes() {
        if (queue_delta) metrics.queue_bytes += uint64_t(queue_delta); // modulo 2^64: adds < 0 too
        queue_delta = 0;
    }

    // F1: a client past its cap loses what is queued (never memory without bound, never slowing
    // others) and learns, per subscription, the last offset it got so it can resume from there.
    void drop_slow(Session& session);
    void error(Session& session, std::string_view id_json, std::string_view code,
               std::string_view message);
    // The database's WAL insert position, as last read (Hub::set_server_wal, from another shard).
    std::atomic<uint64_t> server_wal{0};
    // Whether a client's offset lies past anything the database has written: a forged one.
    bool past_known_wal(LogOffset offset) const;
    // /v1/stream with an offset it cannot serve: bad-offset, then close 4400.
    void refuse_raw(Session& session, const std::string& message);

    // ---- subscriptions

    void remove_subscription(Session& session, Subscription& sub);
    void remove_all_subscriptions(Session& session);
    void drop_shape(ShapeEntry& entry);

    // Ends every subscription of a table with must-refetch (schema change, truncate, reload);
    // keep_channels: not channels' (a truncate is an event on a channel's feed).
    void invalidate_table(TableState& state, std::string_view reason, bool keep_channels = false);
    void subscribe(Session& session, SubscribeRequest& request);
    // The offset a subscription resumes after (after and resume set when given and valid);
    // false when it was refused (the error or must-refetch frame is queued).
    bool resume_offset(Session& session, const std::string& id_json,
                       const std::optional<std::string>& text, LogOffset& after, bool& resume);
    LoadJob make_job(Session& session, Subscription& sub);
    // A new shape of the table (a window's when window is set): indexed, found by identity.
    std::shared_ptr<ShapeEntry> add_shape(TableState& state, std::shared_ptr<Shape> shape,
                                          const std::string& identity,
                                          std::shared_ptr<WindowEntry> window);
    // A subscription of session to entry, its filter cost counted against the session's budget;
    // the caller sets its state and adds it to session.subscriptions.
    std::unique_ptr<Subscription> new_subscription(Session& session, const std::string& id,
                                                   const std::string& id_json,
                                                   std::shared_ptr<ShapeEntry> entry,
                                                   uint64_t cost);
    void ack(Session& session, const AckRequest& request);
    std::string consumer_path(const std::string& name) const;
    std::string log_dir;
    void save_consumer(const std::string& name, const std::string& offset);
    std::string load_consumer(const std::string& name) const;

    // ---- dispatch

    void deliver_change(Subscription& sub, LogOffset offset, std::string_view tail, Lsn commit_lsn,
                        uint32_t xid);
    void dispatch_row(const LogRecord& record);
    void dispatch_one(const LogRecord& record);
    void reload_table(TableState& state);
    void reload_tables_logged(); // load_tables, a failure logged (the old tables kept)

    // ---- channels (hub_channels.cpp)

    std::vector<channels::Channel> channel_list; // the config's, in file order
    // Binds every channel's where to its served table: a usage Error for one that does not fit.
    void check_channels();
    // {"channel": …}: a feed of the channel's changes from the log's end or the offset given.
    void subscribe_channel(Session& session, SubscribeRequest& request);
    // A truncate record of a table: a change frame to the live subscribers of its channels that
    // list truncates.
    void dispatch_channel_truncate(const LogRecord& record, TableState& state);

    // ---- ordered windows (hub_windows.cpp)

    std::unordered_map<uint64_t, ShapeEntry*> windows; // by ShapeEntry::id
    std::vector<ShapeEntry*> touched_windows;          // changed in the open transaction
    // A new subscriber: the rows now, or once the first fill is done.
    void join_window(ShapeEntry& entry, Subscription& sub);
    void dispatch_window(ShapeEntry& entry, ShapeOp op, const LogRecord& record);
    // At a commit: each touched window sends its subscribers what changed (or fills first).
    void commit_windows(LogOffset commit);
    void settle_window(ShapeEntry& entry, LogOffset at);
    void show_window(ShapeEntry& entry, LogOffset at);
    void start_fill(ShapeEntry& entry);
    void on_window_result(LoadResult& result);
    void forget_window(ShapeEntry& entry);

    // ---- rows waiting for the app's row webhook, and tokens refreshed in place (hub_access.cpp)

    struct Ticket {
        uint64_t session = 0;
        std::string subscription;
        uint64_t serial = 0;
    };
    std::unordered_map<uint64_t, Ticket> tickets; // checks asked, by ticket
    uint64_t next_ticket = 1;
    std::vector<RowCheck> checks_to_submit; // submitted together at finish
    std::vector<Ticket> gates_to_settle;    // heads decided against: ended at finish
    bool releasing = false;                 // frames leaving the gate pass enqueue as is
    // Holds a frame of a subscription whose rows need the webhook; false: queue it as usual.
    bool gate(Session& session, Subscription& sub, std::initializer_list<std::string_view> parts,
              const FrameMark& mark);
    // Queues the decided frames at the head; a denial or failure there ends the subscription
    // when may_end (never during dispatch: its loops hold subscription pointers).
    void release(Session& session, Subscription& sub, bool may_end);
    void on_verdicts(std::vector<RowVerdict>&& verdicts);
    void settle_gates();

    void reauthenticate(Session& session, const AuthRequest& request);

    // ---- loader results

    void on_result(LoadResult& result);

    // The live subscriptions of a client past its cap go back to reading the log from where
    // their queued frames end. Safe during dispatch: the dispatch loops walk copies and skip
    // subscriptions that are no longer live.
    void demote(Session& session);

    // Work put off while dispatch loops were running: the subscriptions of dropped clients.
    void finish();
    void expire_all_live();
    void end_with(Session& session, Subscription& sub, Frame&& frame);
    void caught_up(Session& session, Subscription& sub, LoadResult& result);
};

} // namespace pgsync::serve
