// The hub: every subscription and shape, and the routing of logged changes to them. It answers
// client frames, dispatches each record the log appends to the shapes it may concern (through the
// per-table ShapeIndex, so equality filters cost the same for 10 or 10,000 shapes), and hands
// initial loads and catch-up reads to the loader pool. There is one hub per event-loop shard, each
// reading the log itself for its own sessions: hubs share nothing but the log, the loader and the
// metrics, so no lock is on the per-change path. A hub runs on its shard's thread only (but
// set_server_wal) and knows nothing of libwebsockets: the layer gives it a wake callback and
// writes Session::output.
#pragma once

#include "changelog/change_log.h"
#include "config/config.h"
#include "serve/access/row_webhook.h"
#include "serve/hub/loader.h"
#include "serve/hub/session.h"
#include "serve/metrics.h"
#include "serve/shapes/table_schema.h"

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace pgsync::serve {

struct WindowEntry; // serve/hub/hub_state.h

struct ShapeEntry {
    uint64_t id = 0;
    std::shared_ptr<const Shape> shape;
    std::vector<Subscription*> live; // subscribers past their load and catch-up
    size_t subscribers = 0;          // live or not
    std::shared_ptr<WindowEntry> window; // an ordered window's state; null for a plain shape
};

struct HubOptions {
    size_t shard = 0; // the event-loop shard this hub serves (its loader results come back there)
    std::string publication;
    std::string storage_dir; // consumers' kept acks go in its consumers/
    size_t client_queue_bytes = 4u << 20;
    size_t max_subscriptions_per_client = 100;
    uint64_t max_filter_cost_per_client = 1024; // filter::evaluation_cost summed per connection
    size_t max_queued_loads = 10000;            // over every connection
    // How long one pump may dispatch before the clients' writes (see pump): the first slice after
    // catching up gets the least, each slice that leaves more behind twice the last, up to the
    // most.
    std::chrono::microseconds least_slice{5000};
    std::chrono::microseconds most_slice{200000};
    std::vector<config::Table> tables; // when given: the tables clients may subscribe to, their
                                       // columns and live_queries allow-lists
    // Checks a token a client sends on its connection ({"type":"auth"}); empty: the server
    // checks no tokens.
    std::function<AuthResult(std::string_view token)> verify_token;
    // The app's row webhook: when set, a row reaches a token's user only once it said yes.
    RowWebhook* row_webhook = nullptr;
};

class Hub {
public:
    // read_tables: the published tables as the catalog has them now (called on this thread; the
    // seam a test replaces). wake(session): the session
    // has frames to write or must close.
    Hub(const HubOptions& options, ChangeLog& log, Loader& loader, Metrics& metrics,
        std::function<std::vector<TableSchema>()> read_tables, std::function<void(Session&)> wake);
    ~Hub();
    Hub(const Hub&) = delete;
    Hub& operator=(const Hub&) = delete;

    void on_open(Session& session);
    // A client's text frame; answers bad ones with error frames, never throws for client input.
    void on_text(Session& session, std::string_view text);
    void on_close(Session& session);
    // /v1/stream: starts the session's one raw subscription after offset_text (empty: the
    // consumer's kept ack, or the log's end), answering a bad or expired offset with a frame.
    void start_raw(Session& session, std::string_view offset_text);

    // Dispatches up to max_records records the log appended since the last call, reading the log
    // itself (the page cache, not copies: memory does not grow when the dispatcher falls behind),
    // and stops early once the slice's time is up. Returns true when more are waiting.
    // The slice is the unit of batching: each client gets one write for its frames of the whole
    // slice. A dispatcher that keeps up writes each transaction at once; one that falls behind
    // takes longer slices (least_slice doubling up to most_slice) and so makes fewer writes per
    // change, which is what lets it catch up: the kernel's send path costs per write, not per
    // byte.
    bool pump(size_t max_records);
    // Results of the loader pool.
    void on_load_results(std::vector<LoadResult>&& results);
    // What the event loop calls when woken: the loader's results, then pump(max_records).
    // Returns true when more records are waiting.
    bool service(size_t max_records);
    // An error frame about the connection (not a subscription).
    void send_error(Session& session, std::string_view code, std::string_view message);
    // Ends the session: drops what is queued, sends an error frame when code_name is given, then
    // the layer closes with close_code and reason.
    void close(Session& session, int close_code, std::string reason, std::string_view code_name,
               std::string_view message);
    // The database's WAL insert position (read at start and every few seconds): a resume offset
    // past both it and the log's end was never given out, and is refused as bad-offset. Any
    // thread.
    void set_server_wal(Lsn lsn);
    // The layer finished writing the frame of mark (its subscription's delivered offset moves).
    static void on_frame_written(const FrameMark& mark);
    // The layer wrote bytes of the session's output, frames of them whole, and consumed them.
    void on_written(Session& session, size_t bytes, size_t frames);

private:
    void handle_text(Session& session, std::string_view text);
    void begin_raw(Session& session, std::string_view offset_text);
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

} // namespace pgsync::serve
