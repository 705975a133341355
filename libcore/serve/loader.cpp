// The loader pool: initial loads and catch-up reads, one job at a time per thread.
#include "serve/loader.h"

#include "filter/render_sql.h"
#include "pg/connection.h"
#include "pg/type_catalog.h"
#include "record/record_scan.h"
#include "record/value_json.h"
#include "serve/frames.h"
#include "util/error.h"
#include "util/log.h"

#include <chrono>
#include <libpq-fe.h>

namespace pgsync::serve {

namespace {
constexpr size_t kBatchBytes = 256 * 1024;
} // namespace

struct LoaderWorker {
    pg::Connection conn;
    pg::TypeCatalog catalog;
};

Loader::Loader(std::string conninfo, int jobs, const ChangeLog& log, size_t client_queue_bytes,
               std::chrono::milliseconds stall_limit, std::function<void()> wake)
    : m_conninfo(std::move(conninfo)), m_log(log), m_client_queue_bytes(client_queue_bytes),
      m_stall_limit(stall_limit), m_wake(std::move(wake)) {
    for (int i = 0; i < std::max(1, jobs); ++i)
        m_threads.emplace_back([this, i] { run(i); });
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
        m_jobs.push_back(std::move(job));
    }
    m_cv.notify_one();
}

std::vector<LoadResult> Loader::take_results() {
    std::lock_guard lock(m_mutex);
    std::vector<LoadResult> out;
    out.swap(m_results);
    return out;
}

void Loader::run(int) {
    LoaderWorker worker;
    for (;;) {
        LoadJob job;
        {
            std::unique_lock lock(m_mutex);
            m_cv.wait(lock, [&] { return m_stop || !m_jobs.empty(); });
            if (m_stop) return;
            job = std::move(m_jobs.front());
            m_jobs.pop_front();
        }
        if (job.gone && *job.gone) continue;
        run_job(job, worker);
    }
}

void Loader::run_job(LoadJob& job, LoaderWorker& worker) {
    try {
        if (job.kind == LoadJob::Kind::Initial && !initial_load(job, worker)) return;
        catch_up(job);
    } catch (const std::exception& e) {
        // A broken connection is reopened by the next job; the client may retry.
        worker.conn.close();
        log::warning(std::string("initial load for subscription \"") + job.subscription_id +
                     "\" failed: " + e.what());
        LoadResult result;
        result.status = LoadResult::Status::Failed;
        result.error = e.what();
        deliver(job, std::move(result));
    }
}

bool Loader::deliver(LoadJob& job, LoadResult&& result) {
    result.session_id = job.session_id;
    result.subscription_id = job.subscription_id;
    result.generation = job.generation;
    const auto started = std::chrono::steady_clock::now();
    // Pace: wait while the client's queue (and what we handed over) is past half the cap.
    while (result.status == LoadResult::Status::More) {
        if (job.gone && *job.gone) return false;
        size_t queued = (job.queued_bytes ? job.queued_bytes->load() : 0) +
                        (job.in_flight ? job.in_flight->load() : 0);
        if (queued + result.bytes <= m_client_queue_bytes / 2 || queued == 0) break;
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
    if (job.in_flight) *job.in_flight += result.bytes;
    const bool go_on = result.status == LoadResult::Status::More;
    {
        std::lock_guard lock(m_mutex);
        m_results.push_back(std::move(result));
    }
    m_wake();
    return go_on;
}

bool Loader::initial_load(LoadJob& job, LoaderWorker& worker) {
    const Shape& shape = *job.shape;
    const TableSchema& table = *shape.table;
    if (!worker.conn)
        worker.conn = pg::Connection::open({m_conninfo, false, "pgsync-serve loader", {}});
    pg::Connection& conn = worker.conn;
    worker.catalog.load(conn, table.declared_type_oids);
    record::ValueWriter values(worker.catalog);

    std::string where;
    std::vector<std::optional<std::string>> params;
    if (shape.filter) {
        filter::SqlFilter sql = filter::render_sql(*shape.filter, 1);
        where = sql.sql;
        for (auto& p : sql.params)
            params.emplace_back(std::move(p));
    }
    if (!table.row_filter.empty()) // the publication's own filter: catalog text, not a client's
        where = where.empty() ? "(" + table.row_filter + ")"
                              : where + " AND (" + table.row_filter + ")";
    std::string select = "SELECT ";
    for (size_t i = 0; i < table.columns.size(); ++i) {
        if (i) select += ", ";
        select += pg::quote_ident(table.columns[i].name);
    }
    select += " FROM " + table.sql_name();
    if (!where.empty()) select += " WHERE " + where;

    conn.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    pg::Result snap = conn.exec("SELECT pg_catalog.pg_current_snapshot()::text, "
                                "pg_catalog.pg_current_wal_lsn()::text",
                                "could not take the load's snapshot");
    auto snapshot = XidSnapshot::parse(PQgetvalue(snap.raw(), 0, 0));
    auto snapshot_lsn = Lsn::parse(PQgetvalue(snap.raw(), 0, 1));
    if (!snapshot || !snapshot_lsn) throw Error("could not parse pg_current_snapshot()");
    conn.exec_params("DECLARE pgsync_load NO SCROLL CURSOR FOR " + select, params,
                     "could not start the initial load");

    RowImages row;
    row.op = RowImages::Op::Insert;
    std::string scratch, tail;
    std::vector<size_t> starts(table.columns.size()), lengths(table.columns.size());
    LoadResult result;
    for (;;) {
        if (job.gone && *job.gone) {
            conn.exec("ROLLBACK");
            return false;
        }
        pg::Result rows = conn.exec("FETCH 1000 FROM pgsync_load", "could not read the rows");
        const int n = PQntuples(rows.raw());
        for (int r = 0; r < n; ++r) {
            scratch.clear();
            row.new_cells.assign(table.columns.size(), filter::Cell{});
            for (size_t c = 0; c < table.columns.size(); ++c) {
                if (PQgetisnull(rows.raw(), r, int(c))) {
                    row.new_cells[c].kind = filter::Cell::Kind::Null;
                    continue;
                }
                starts[c] = scratch.size();
                values.append(scratch, table.declared_type_oids[c],
                              std::string_view(PQgetvalue(rows.raw(), r, int(c)),
                                               size_t(PQgetlength(rows.raw(), r, int(c)))));
                lengths[c] = scratch.size() - starts[c];
                row.new_cells[c].kind = filter::Cell::Kind::Json;
            }
            for (size_t c = 0; c < table.columns.size(); ++c)
                if (row.new_cells[c].kind == filter::Cell::Kind::Json)
                    row.new_cells[c].json = std::string_view(scratch).substr(starts[c], lengths[c]);
            tail.clear();
            append_change_tail(tail, shape, ShapeOp::Insert, row, {}, true);
            Frame frame = change_frame(job.id_json, tail);
            result.bytes += frame.data.size();
            result.frames.push_back(std::move(frame));
        }
        if (result.bytes >= kBatchBytes || (n == 0 && !result.frames.empty())) {
            if (!deliver(job, std::move(result))) {
                conn.exec("ROLLBACK");
                return false;
            }
            result = LoadResult{};
        }
        if (n == 0) break;
    }
    conn.exec("COMMIT");
    job.snapshot = std::move(snapshot);
    job.snapshot_lsn = *snapshot_lsn;
    return true;
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
        result.snapshot = job.snapshot;
        result.snapshot_lsn = job.snapshot_lsn;
        result.touched = touched;
        result.at_boundary = at_boundary;
        deliver(job, std::move(result));
    };
    while (reader->next(record)) {
        if (job.gone && *job.gone) return;
        reached = record.offset;
        at_boundary = record.commit || record.xid == 0;
        if (!shape) { // /v1/stream: every record
            Frame frame = raw_record_frame(client_offset(epoch, record.offset), record.line);
            frame.offset = record.offset;
            frame.has_offset = true;
            result.bytes += frame.data.size();
            result.frames.push_back(std::move(frame));
        } else if (record::scan_record(record.line, scanned)) {
            const bool seen_by_snapshot = job.snapshot && scanned.commit_lsn.is_valid() &&
                                          scanned.commit_lsn <= job.snapshot_lsn &&
                                          job.snapshot->visible(record.xid);
            if (scanned.op == "commit") {
                if (touched) {
                    Frame frame =
                        up_to_date_frame(job.id_json, client_offset(epoch, record.offset));
                    frame.offset = record.offset;
                    frame.has_offset = true;
                    result.bytes += frame.data.size();
                    result.frames.push_back(std::move(frame));
                }
                touched = false;
            } else if (scanned.op == "relation") {
                if (table->is(scanned.schema_token, scanned.table_token) &&
                    !relation_matches(*table, scanned.columns))
                    return finish(LoadResult::Status::SchemaChanged);
            } else if (scanned.op == "truncate") {
                bool ours = false;
                record::for_each_element(scanned.relations, [&](std::string_view element) {
                    std::string_view schema, name;
                    record::for_each_member(element, [&](std::string_view k, std::string_view v) {
                        if (k == "\"schema\"") schema = v;
                        if (k == "\"table\"") name = v;
                    });
                    if (table->is(schema, name)) ours = true;
                });
                if (ours && !seen_by_snapshot) return finish(LoadResult::Status::Truncated);
            } else if (!seen_by_snapshot && table->is(scanned.schema_token, scanned.table_token) &&
                       read_row(*table, scanned, row)) {
                ShapeOp op = classify(*shape, row);
                if (op != ShapeOp::None) {
                    tail.clear();
                    append_change_tail(tail, *shape, op, row, client_offset(epoch, record.offset),
                                       false);
                    Frame frame = change_frame(job.id_json, tail);
                    frame.offset = record.offset;
                    frame.has_offset = true;
                    result.bytes += frame.data.size();
                    result.frames.push_back(std::move(frame));
                    touched = true;
                }
            }
        }
        if (result.bytes >= kBatchBytes) {
            result.reached = reached;
            if (!deliver(job, std::move(result))) return;
            result = LoadResult{};
        }
    }
    finish(LoadResult::Status::CaughtUp);
}

} // namespace pgsync::serve
