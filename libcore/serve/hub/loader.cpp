// The loader pool: initial loads and catch-up reads, connections taking turns.
#include "serve/hub/loader.h"

#include "pg/connection.h"
#include "record/record_scan.h"
#include "serve/protocol/frames.h"
#include "serve/shapes/shape_load.h"
#include "util/error.h"
#include "util/log.h"

#include <algorithm>
#include <chrono>
#include <libpq-fe.h>
#include <pthread.h>

namespace pgsync::serve {

namespace {
constexpr size_t kBatchBytes = 256 * 1024;
// How long a catch-up whose client's queue is full steps aside before it looks again.
constexpr auto kPacingDelay = std::chrono::milliseconds(250);
} // namespace

struct LoaderWorker : LoadConnection {};

Loader::Loader(std::string conninfo, std::string publication, int jobs, const ChangeLog& log,
               size_t client_queue_bytes, std::chrono::milliseconds stall_limit,
               std::function<void(size_t)> wake)
    : m_conninfo(std::move(conninfo)), m_publication(std::move(publication)), m_log(log),
      m_client_queue_bytes(client_queue_bytes), m_stall_limit(stall_limit),
      m_wake(std::move(wake)) {
    for (int i = 0; i < std::max(1, jobs); ++i)
        m_threads.emplace_back([this] {
            pthread_setname_np(pthread_self(), "pgsync-load");
            run();
        });
}

Loader::~Loader() {
    {
        std::lock_guard lock(m_mutex);
        m_stop = true;
    }
    m_cv.notify_all();
    for (auto& t : m_threads)
        t.join();
}

void Loader::submit(LoadJob job) {
    {
        std::lock_guard lock(m_mutex);
        const uint64_t session = job.session_id;
        auto& queue = m_queues[session];
        queue.push_back(std::move(job));
        ++m_queued;
        if (queue.size() == 1 && !m_running.count(session))
            schedule(session, std::chrono::steady_clock::now());
    }
    m_cv.notify_one();
}

void Loader::schedule(uint64_t session, std::chrono::steady_clock::time_point now) {
    auto it = m_queues.find(session);
    if (it == m_queues.end() || it->second.empty()) return;
    const auto when = it->second.front().not_before;
    if (when > now)
        m_waiting.push({when, session});
    else
        m_turns.push_back(session);
}

void Loader::unpark(uint64_t session_id) {
    {
        std::lock_guard lock(m_mutex);
        auto it = m_queues.find(session_id);
        if (it == m_queues.end() || it->second.empty()) return;
        LoadJob& front = it->second.front();
        if (front.parked) *front.parked = false;
        const auto now = std::chrono::steady_clock::now();
        if (front.not_before <= now) return; // already due: filed in m_turns, or running
        front.not_before = now;
        if (!m_running.count(session_id)) m_turns.push_back(session_id);
    }
    m_cv.notify_one();
}

void Loader::cancel(uint64_t session_id, const std::string& subscription_id) {
    std::lock_guard lock(m_mutex);
    auto it = m_queues.find(session_id);
    if (it == m_queues.end()) return;
    auto& queue = it->second;
    const size_t before = queue.size();
    std::erase_if(queue,
                  [&](const LoadJob& job) { return job.subscription_id == subscription_id; });
    m_queued -= before - queue.size();
    if (queue.empty()) m_queues.erase(it); // its entries in m_turns and m_waiting go stale
}

std::vector<LoadResult> Loader::take_results(size_t shard) {
    std::lock_guard lock(m_results_mutex);
    std::vector<LoadResult> out;
    if (shard < m_results.size()) out.swap(m_results[shard]);
    return out;
}

bool Loader::ended(const LoadJob& job) {
    return (job.gone && *job.gone) || (job.cancelled && *job.cancelled);
}

// The next connection in turn with a job ready and none running; waits when there is none.
bool Loader::next_job(LoadJob& job) {
    std::unique_lock lock(m_mutex);
    for (;;) {
        if (m_stop) return false;
        const auto now = std::chrono::steady_clock::now();
        while (!m_waiting.empty() && m_waiting.top().first <= now) {
            const uint64_t session = m_waiting.top().second;
            m_waiting.pop();
            auto it = m_queues.find(session);
            // Stale unless its front job is still the one waiting for this time.
            if (it != m_queues.end() && !it->second.empty() && !m_running.count(session) &&
                it->second.front().not_before <= now)
                m_turns.push_back(session);
        }
        while (!m_turns.empty()) {
            const uint64_t session = m_turns.front();
            m_turns.pop_front();
            auto it = m_queues.find(session);
            if (it == m_queues.end() || m_running.count(session)) continue; // stale
            auto& queue = it->second;
            while (!queue.empty() && ended(queue.front())) {
                queue.pop_front();
                --m_queued;
            }
            if (queue.empty()) {
                m_queues.erase(it);
                continue;
            }
            if (queue.front().not_before > now) { // parked again meanwhile
                m_waiting.push({queue.front().not_before, session});
                continue;
            }
            job = std::move(queue.front());
            queue.pop_front();
            --m_queued;
            if (queue.empty()) m_queues.erase(it);
            m_running.insert(session); // its next job is filed when this one ends (run)
            return true;
        }
        if (!m_waiting.empty())
            m_cv.wait_until(lock, m_waiting.top().first);
        else
            m_cv.wait(lock);
    }
}

void Loader::run() {
    LoaderWorker worker;
    LoadJob job;
    while (next_job(job)) {
        const uint64_t session = job.session_id;
        if (!ended(job)) run_job(job, worker);
        job = LoadJob{};
        {
            std::lock_guard lock(m_mutex);
            m_running.erase(session);
            schedule(session, std::chrono::steady_clock::now()); // its next job, if any
        }
        m_cv.notify_all(); // that session's next job may run now
    }
}

void Loader::run_job(LoadJob& job, LoaderWorker& worker) {
    try {
        if (job.kind == LoadJob::Kind::WindowFill) return window_fill(job, worker);
        if (job.kind == LoadJob::Kind::Initial && !initial_load(job, worker)) return;
        catch_up(job);
    } catch (const std::exception& e) {
        // The database's text goes to the log only: it may name things the client must not see.
        worker.conn.close(); // reopened by the next job
        if (job.kind == LoadJob::Kind::WindowFill)
            log::warning("the fill of an ordered window of table \"" +
                         job.shape->table->display_name() + "\" failed: " + e.what());
        else
            log::warning("initial load of subscription \"" + job.subscription_id + "\" (client " +
                         std::to_string(job.session_id) + ") failed: " + e.what());
        LoadResult result;
        result.status = LoadResult::Status::Failed;
        deliver(job, std::move(result));
    }
}

bool Loader::client_full(const LoadJob& job, size_t adding) const {
    const size_t queued = (job.queued_bytes ? job.queued_bytes->load() : 0) +
                          (job.in_flight ? job.in_flight->load() : 0);
    return queued != 0 && queued + adding > m_client_queue_bytes / 2;
}

bool Loader::deliver(LoadJob& job, LoadResult&& result) {
    result.session_id = job.session_id;
    result.shard = job.shard;
    result.subscription_id = job.subscription_id;
    result.generation = job.generation;
    // An initial load holds a transaction open, so it waits here (one thread per connection at
    // most, for at most the stall limit); catch-up paces itself before reading instead.
    if (job.kind == LoadJob::Kind::Initial && result.status == LoadResult::Status::More) {
        const auto started = std::chrono::steady_clock::now();
        while (client_full(job, result.bytes)) {
            if (ended(job)) return false;
            {
                std::unique_lock lock(m_mutex);
                if (m_stop) return false;
            }
            if (std::chrono::steady_clock::now() - started > m_stall_limit) {
                result.frames.clear();
                result.bytes = 0;
                result.status = LoadResult::Status::Stalled;
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }
    if (job.in_flight) *job.in_flight += result.bytes;
    const bool go_on = result.status == LoadResult::Status::More;
    {
        std::lock_guard lock(m_results_mutex);
        if (m_results.size() <= job.shard) m_results.resize(job.shard + 1);
        m_results[job.shard].push_back(std::move(result));
    }
    m_wake(job.shard);
    return go_on;
}

bool Loader::initial_load(LoadJob& job, LoaderWorker& worker) {
    const Shape& shape = *job.shape;
    auto stop = [&](LoadResult::Status status) {
        if (status != LoadResult::Status::More) {
            LoadResult result;
            result.status = status;
            deliver(job, std::move(result));
        }
        return false;
    };
    LoadSnapshot snapshot;
    switch (begin_shape_load(worker, m_conninfo, m_publication, shape, snapshot)) {
    case LoadStart::Unpublished:
        return stop(LoadResult::Status::Unpublished);
    case LoadStart::PublicationChanged:
        return stop(LoadResult::Status::PublicationChanged);
    case LoadStart::Started:
        break;
    }
    std::string tail;
    LoadResult result;
    bool more = true;
    while (more) {
        if (ended(job)) {
            abandon_shape_load(worker);
            return false;
        }
        more = read_shape_rows(worker, shape, [&](const RowImages& row) {
            tail.clear();
            append_change_tail(tail, shape, ShapeOp::Insert, row, {}, true);
            Frame frame = change_frame(job.id_json, tail);
            result.bytes += frame.data.size();
            result.frames.push_back(std::move(frame));
        });
        if (result.bytes >= kBatchBytes || (!more && !result.frames.empty())) {
            if (!deliver(job, std::move(result))) {
                if (more) abandon_shape_load(worker);
                return false;
            }
            result = LoadResult{};
        }
    }
    job.load = std::move(snapshot);
    return true;
}

void Loader::window_fill(LoadJob& job, LoaderWorker& worker) {
    LoadSnapshot snapshot;
    LoadSubset subset{nullptr, job.order_sql, job.fill_rows, std::nullopt};
    LoadResult result;
    switch (begin_shape_load(worker, m_conninfo, m_publication, *job.shape, snapshot, &subset)) {
    case LoadStart::Unpublished:
        result.status = LoadResult::Status::Unpublished;
        deliver(job, std::move(result));
        return;
    case LoadStart::PublicationChanged:
        result.status = LoadResult::Status::PublicationChanged;
        deliver(job, std::move(result));
        return;
    case LoadStart::Started:
        break;
    }
    for (bool more = true; more;) {
        if (ended(job)) return abandon_shape_load(worker);
        more = read_shape_rows(worker, *job.shape, [&](const RowImages& row) {
            OwnedRow owned(row.new_cells.size());
            for (size_t c = 0; c < row.new_cells.size(); ++c) {
                if (row.new_cells[c].kind == filter::Cell::Kind::Json)
                    owned[c].assign(row.new_cells[c].json);
                else if (row.new_cells[c].kind == filter::Cell::Kind::Null)
                    owned[c] = "null";
            }
            result.rows.push_back(std::move(owned));
        });
    }
    result.status = LoadResult::Status::CaughtUp;
    result.load = std::move(snapshot);
    deliver(job, std::move(result));
}

void Loader::catch_up(LoadJob& job) {
    const std::string& epoch = m_log.epoch();
    auto reader = m_log.read_after(job.after);
    LoadResult result;
    if (!reader) {
        result.status = LoadResult::Status::Expired;
        deliver(job, std::move(result));
        return;
    }
    const Shape* shape = job.shape.get();
    const TableSchema* table = shape ? shape->table.get() : nullptr;
    LogOffset reached = job.after;
    LogRecord record;
    record::ScannedRecord scanned;
    RowImages row;
    std::string tail;
    bool touched = job.touched;
    bool at_boundary = job.after_at_boundary;
    auto finish = [&](LoadResult::Status status) {
        result.status = status;
        result.reached = reached;
        result.load = job.load;
        result.touched = touched;
        result.at_boundary = at_boundary;
        deliver(job, std::move(result));
    };
    // A full client queue: hand over what is read, then step aside (requeued after a delay) so
    // the thread serves other connections; past the stall limit the client is dropped.
    auto pace = [&]() -> bool {
        if (!client_full(job, result.bytes)) {
            job.stalled_since.reset();
            return true;
        }
        const auto now = std::chrono::steady_clock::now();
        if (!job.stalled_since) job.stalled_since = now;
        if (now - *job.stalled_since > m_stall_limit) {
            result.frames.clear();
            result.bytes = 0;
            finish(LoadResult::Status::Stalled);
            return false;
        }
        if (!result.frames.empty()) {
            result.reached = reached;
            deliver(job, std::move(result));
            result = LoadResult{};
        }
        LoadJob next = job;
        next.kind = LoadJob::Kind::CatchUp;
        next.after = reached;
        next.after_at_boundary = at_boundary;
        next.touched = touched;
        // Parked until the hub sees the client read (unpark), or the delay passes: the stall limit
        // is checked then.
        next.not_before = now + kPacingDelay;
        if (next.parked) *next.parked = true;
        submit(std::move(next));
        return false;
    };
    if (!pace()) return;
    while (reader->next(record)) {
        if (ended(job)) return;
        reached = record.offset;
        at_boundary = record.commit || record.xid == 0;
        // Every frame of catch-up carries the offset of the record it came from.
        auto add = [&](Frame&& frame) {
            frame.offset = record.offset;
            frame.has_offset = true;
            result.bytes += frame.data.size();
            result.frames.push_back(std::move(frame));
        };
        if (!shape) { // /v1/stream: every record
            add(raw_record_frame(client_offset(epoch, record.offset), record.line));
        } else if (record::scan_record(record.line, scanned)) {
            switch (record_kind(scanned)) {
            case RecordKind::Commit:
                if (touched)
                    add(up_to_date_frame(job.id_json, client_offset(epoch, record.offset)));
                touched = false;
                break;
            case RecordKind::Relation:
                if (changes_schema(scanned, *table))
                    return finish(LoadResult::Status::SchemaChanged);
                break;
            case RecordKind::Truncate:
                if (!truncates(scanned, *table)) break;
                if (shape->channel) { // an event on a channel's feed, never the end of it
                    if (channel_takes_truncate(*shape)) {
                        tail.clear();
                        append_truncate_tail(tail, *shape, client_offset(epoch, record.offset));
                        add(change_frame(job.id_json, tail));
                        touched = true;
                    }
                    break;
                }
                if (!(job.load && job.load->saw(scanned.commit_lsn, record.xid)))
                    return finish(LoadResult::Status::Truncated);
                break;
            case RecordKind::Row:
                if (table->is(scanned.schema_token, scanned.table_token) &&
                    read_row(*table, scanned, row)) {
                    ShapeOp op = row_meaning(*shape, row, job.load, scanned.commit_lsn, record.xid);
                    if (op != ShapeOp::None) {
                        tail.clear();
                        append_change_tail(tail, *shape, op, row,
                                           client_offset(epoch, record.offset), false);
                        add(change_frame(job.id_json, tail));
                        touched = true;
                    }
                }
                break;
            case RecordKind::Other:
                break;
            }
        }
        if (result.bytes >= kBatchBytes) {
            result.reached = reached;
            if (!deliver(job, std::move(result))) return;
            result = LoadResult{};
            if (!pace()) return;
        }
    }
    finish(LoadResult::Status::CaughtUp);
}

} // namespace pgsync::serve
