// Loader: a small pool of threads, each with its own database connection, that runs the slow parts
// of a subscription off the WebSocket thread: the initial load (a REPEATABLE READ query of the
// shape's rows with the filter rendered as SQL with bound parameters, recording
// pg_current_snapshot()) and catch-up reads of the durable log. Results come back in batches the
// hub appends to the client's queue; a loader waits while that client's queue is full, so a slow
// client costs a loader's time, never unbounded memory. Catch-up is served from the log only,
// never by new replication connections (cdc-hard-cases F3).
#pragma once

#include "serve/change_log.h"
#include "serve/session.h"
#include "serve/shape.h"
#include "serve/xid_snapshot.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace pgsync::serve {

struct LoadJob {
    enum class Kind { Initial, CatchUp };
    Kind kind = Kind::CatchUp;
    uint64_t session_id = 0;
    std::string subscription_id;
    std::string id_json;
    uint64_t generation = 0;
    std::shared_ptr<const Shape> shape;  // null: a /v1/stream client (every record, raw)
    LogOffset after;                     // CatchUp: read the log after it
    std::optional<XidSnapshot> snapshot; // skip transactions this snapshot saw...
    Lsn snapshot_lsn;                    // ...up to this WAL position
    bool touched = false;                // a change of the open transaction was already sent
    bool after_at_boundary = true;       // `after` ends a transaction (or is before any)
    std::shared_ptr<std::atomic<size_t>> queued_bytes; // the session's queue, for pacing
    std::shared_ptr<std::atomic<size_t>> in_flight;    // results not yet taken by the hub
    std::shared_ptr<std::atomic<bool>> gone;
};

struct LoadResult {
    enum class Status {
        More,          // frames; the job goes on
        CaughtUp,      // reached the log's current end at `reached`
        Expired,       // `after` is no longer retained: must-refetch
        SchemaChanged, // the table's shape changed in the log: must-refetch
        Truncated,     // the table was truncated: must-refetch
        Stalled,       // the client did not read for too long: drop it as a slow consumer
        Failed,        // the query failed: error frame load-failed
    };
    uint64_t session_id = 0;
    std::string subscription_id;
    uint64_t generation = 0;
    Status status = Status::More;
    std::vector<Frame> frames;
    size_t bytes = 0;
    LogOffset reached;
    std::optional<XidSnapshot> snapshot;
    Lsn snapshot_lsn;
    bool touched = false;
    bool at_boundary = true; // `reached` ends a transaction
    std::string error;
};

class Loader {
public:
    // wake() tells the WebSocket thread results are waiting (lws_cancel_service).
    // A client whose queue stays past half of client_queue_bytes for stall_limit is reported
    // Stalled (and dropped).
    Loader(std::string conninfo, int jobs, const ChangeLog& log, size_t client_queue_bytes,
           std::chrono::milliseconds stall_limit, std::function<void()> wake);
    ~Loader(); // stops the threads (jobs in progress are abandoned)

    void submit(LoadJob job);
    std::vector<LoadResult> take_results();

private:
    void run(int worker);
    void run_job(LoadJob& job, struct LoaderWorker& worker);
    bool initial_load(LoadJob& job, struct LoaderWorker& worker);
    void catch_up(LoadJob& job);
    // Hands a batch to the hub, after waiting while the client's queue is full. False: stop.
    bool deliver(LoadJob& job, LoadResult&& result);

    std::string m_conninfo;
    const ChangeLog& m_log;
    size_t m_client_queue_bytes;
    std::chrono::milliseconds m_stall_limit;
    std::function<void()> m_wake;

    mutable std::mutex m_mutex;
    std::condition_variable m_cv;
    std::deque<LoadJob> m_jobs;
    std::vector<LoadResult> m_results;
    bool m_stop = false;
    std::vector<std::thread> m_threads;
};

} // namespace pgsync::serve
