// Loader: a small pool of threads, each with its own database connection, that runs the slow parts
// of a subscription off the event loop: the fills of ordered windows, the initial load (a
// REPEATABLE READ query of the shape's rows, with the filter rendered as SQL with bound parameters,
// the publication's entry for the table read in the same transaction, pg_current_snapshot() and the
// WAL insert position recorded) and catch-up reads of the durable log. Catch-up is served from the
// log only, never by new replication connections (cdc-hard-cases F3).
//
// Fairness: jobs queue per connection and connections take turns, one running job per connection
// at a time, so one connection's storm of subscriptions cannot starve another's load. A job whose
// subscription ended is cancelled (taken off the queue, or stopped between batches). A catch-up
// whose client's queue is full steps aside instead of holding its thread: it is parked until the
// hub says the client read (unpark) or a fallback delay passes, and parked connections cost the
// scheduler nothing (a timer heap, not a scan), so thousands of clients reading from the log at
// their own pace do not slow the event loops that share this object's lock.
#pragma once

#include "changelog/change_log.h"
#include "serve/hub/session.h"
#include "serve/shapes/record_meaning.h"
#include "serve/shapes/shape.h"
#include "serve/windows/window.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace pgsync::serve {

struct LoadJob {
    // WindowFill: the rows of an ordered window (the query with its ORDER BY and LIMIT), for the
    // hub's window, not for one subscriber; session_id is then the window's own (kWindowJob).
    enum class Kind { Initial, CatchUp, WindowFill };
    Kind kind = Kind::CatchUp;
    uint64_t session_id = 0;
    size_t shard = 0; // the event-loop shard whose hub takes the results
    std::string subscription_id;
    std::string id_json;
    uint64_t generation = 0;
    std::shared_ptr<const Shape> shape; // null: a /v1/stream client (every record, raw)
    LogOffset after;                    // CatchUp: read the log after it
    std::optional<LoadSnapshot> load;   // skip the transactions the initial load saw
    bool touched = false;               // a change of the open transaction was already sent
    bool after_at_boundary = true;      // `after` ends a transaction (or is before any)
    std::shared_ptr<std::atomic<size_t>> queued_bytes; // the session's queue, for pacing
    std::shared_ptr<std::atomic<size_t>> in_flight;    // results not yet taken by the hub
    std::shared_ptr<std::atomic<bool>> gone;           // the session closed
    std::shared_ptr<std::atomic<bool>> cancelled;      // the subscription ended or moved on
    std::shared_ptr<std::atomic<bool>> parked; // set while a catch-up waits for the client to read
    // Pacing: not run before this; the client's queue has been full since stalled_since.
    std::chrono::steady_clock::time_point not_before{};
    std::optional<std::chrono::steady_clock::time_point> stalled_since;
    std::string order_sql; // WindowFill
    uint64_t fill_rows = 0;
};

// The bit that marks a job's session_id as an ordered window's (serve/hub/hub_windows.cpp).
inline constexpr uint64_t kWindowJob = 1ull << 63;

struct LoadResult {
    enum class Status {
        More,               // frames; the job goes on
        CaughtUp,           // reached the log's current end at `reached`
        Expired,            // `after` is no longer retained: must-refetch
        SchemaChanged,      // the table's shape changed in the log: must-refetch
        PublicationChanged, // the publication no longer sends a served column: must-refetch
        Truncated,          // the table was truncated: must-refetch
        Unpublished,        // the table left the publication
        Stalled,            // the client did not read for too long: drop it as a slow consumer
        Failed,             // the query failed: error frame load-failed
    };
    uint64_t session_id = 0;
    size_t shard = 0;
    std::string subscription_id;
    uint64_t generation = 0;
    Status status = Status::More;
    std::vector<Frame> frames;
    size_t bytes = 0;
    LogOffset reached;
    std::optional<LoadSnapshot> load;
    bool touched = false;
    bool at_boundary = true;    // `reached` ends a transaction
    std::vector<OwnedRow> rows; // WindowFill: the rows, in the query's order
};

class Loader {
public:
    // wake(shard) tells that shard's event loop results are waiting for it. A client whose queue
    // stays past half of client_queue_bytes for stall_limit is reported Stalled (and dropped).
    Loader(std::string conninfo, std::string publication, int jobs, const ChangeLog& log,
           size_t client_queue_bytes, std::chrono::milliseconds stall_limit,
           std::function<void(size_t shard)> wake);
    ~Loader(); // stops the threads (jobs in progress are abandoned)

    void submit(LoadJob job);
    // Takes the session's queued jobs of this subscription off the queue (a running one sees
    // job.cancelled, which the caller sets).
    void cancel(uint64_t session_id, const std::string& subscription_id);
    // The session's parked catch-up may run now (its client read). Any thread.
    void unpark(uint64_t session_id);
    // Jobs waiting, over every connection.
    size_t queued() const { return m_queued.load(); }
    // The results for the hub of one shard.
    std::vector<LoadResult> take_results(size_t shard);

private:
    void run();
    bool next_job(LoadJob& job);
    // Files session, whose front job is next to run, as ready or waiting for its time. Locked.
    void schedule(uint64_t session, std::chrono::steady_clock::time_point now);
    void run_job(LoadJob& job, struct LoaderWorker& worker);
    bool initial_load(LoadJob& job, struct LoaderWorker& worker);
    void window_fill(LoadJob& job, struct LoaderWorker& worker);
    void catch_up(LoadJob& job);
    // Hands a batch to the hub; an initial load first waits while the client's queue is full.
    // False: stop the job.
    bool deliver(LoadJob& job, LoadResult&& result);
    bool client_full(const LoadJob& job, size_t adding) const;
    static bool ended(const LoadJob& job);

    std::string m_conninfo;
    std::string m_publication;
    const ChangeLog& m_log;
    size_t m_client_queue_bytes;
    std::chrono::milliseconds m_stall_limit;
    std::function<void(size_t)> m_wake;

    mutable std::mutex m_mutex; // the queues below
    std::condition_variable m_cv;
    std::map<uint64_t, std::deque<LoadJob>> m_queues; // per session
    // Sessions whose front job may run now, in turn order, and those whose front job waits for
    // its time (earliest first). Entries may be stale (cancelled, running, rescheduled): checked
    // when taken.
    std::deque<uint64_t> m_turns;
    using Timed = std::pair<std::chrono::steady_clock::time_point, uint64_t>;
    std::priority_queue<Timed, std::vector<Timed>, std::greater<Timed>> m_waiting;
    std::set<uint64_t> m_running; // sessions with a job running
    std::atomic<size_t> m_queued{0};
    std::mutex m_results_mutex; // apart: the event loops take results without waiting on the queues
    std::vector<std::vector<LoadResult>> m_results; // per shard
    bool m_stop = false;
    std::vector<std::thread> m_threads;
};

} // namespace pgsync::serve
