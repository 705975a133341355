// Snapshot orchestration: connections that all see one snapshot (S9), a shared queue of work items,
// COPY text rows turned into records by the one value mapping, whole chunks of lines to the sink.
#include "snapshot/snapshot.h"

#include "pg/copy_text.h"
#include "pg/type_catalog.h"
#include "record/json_text.h"
#include "record/value_json.h"
#include "snapshot/plan.h"
#include "snapshot/progress.h"
#include "util/log.h"

#include <atomic>
#include <exception>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

namespace pgsync::snapshot {
namespace {

constexpr size_t kFlushBytes = 256 * 1024; // a worker writes its buffer in chunks of whole lines

struct TableLayout {
    std::string prefix;            // {"op":"read","schema":…,"table":…,"new":{
    std::vector<std::string> keys; // "col": per column, first without a comma
    std::vector<const pg::TypeInfo*> types;
};

struct Shared {
    const Plan& plan;
    const std::vector<TableLayout>& layouts;
    const record::ValueWriter& writer;
    OutputSink& out;
    Progress& progress;
    std::vector<std::unique_ptr<Progress::Table>>& counters;
    const StopFlag* stop;
    std::atomic<size_t> next_item{0};
    std::atomic<bool> failed{false};
    std::mutex error_mutex{};
    std::exception_ptr error{};
};

void begin_snapshot_transaction(pg::Connection& conn, const std::string& snapshot) {
    try {
        conn.exec("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET TRANSACTION SNAPSHOT " +
                      pg::quote_literal(snapshot),
                  "could not import snapshot \"" + snapshot + "\"");
    } catch (const pg::QueryError& e) {
        if (e.sqlstate() == "22023")
            throw Error(e.what(), "The exported snapshot is gone: pgsync-init must still be "
                                  "running with --hold, piped straight into pgsync-snapshot.");
        throw;
    }
}

void read_item(pg::Connection& conn, Shared& shared, const WorkItem& item, std::string& buffer) {
    const TablePlan& table = shared.plan.tables[item.table];
    const TableLayout& layout = shared.layouts[item.table];
    Progress::Table& counter = *shared.counters[item.table];
    shared.progress.table_started(item.table);

    const std::string sql = copy_sql(table, item);
    conn.exec(sql, "could not read table \"" + table.name.display() + "\"");
    pg::CopyTextRow row;
    const size_t columns = table.columns.size();
    uint64_t rows = 0;
    for (;;) {
        char* data = nullptr;
        int len = PQgetCopyData(conn.raw(), &data, 0);
        if (len == -1) break;
        if (len < 0)
            throw Error("could not read table \"" + table.name.display() +
                        "\": " + conn.error_message());
        std::unique_ptr<char, void (*)(void*)> owned(data, &PQfreemem);
        if (!row.parse(std::string_view(data, size_t(len)), columns))
            throw Error("could not read table \"" + table.name.display() + "\": a COPY row has " +
                        std::to_string(row.size()) + " fields, expected " +
                        std::to_string(columns));
        buffer += layout.prefix;
        for (size_t i = 0; i < columns; ++i) {
            buffer += layout.keys[i];
            if (row.is_null(i))
                buffer += "null";
            else
                shared.writer.append(buffer, *layout.types[i], row.value(i));
        }
        buffer += "}}\n";
        if (buffer.size() >= kFlushBytes) {
            shared.out.write(buffer);
            buffer.clear();
        }
        if ((++rows & 1023) == 0) {
            counter.rows += 1024;
            if (shared.failed || (shared.stop && *shared.stop)) return;
        }
    }
    counter.rows += rows & 1023;
    // After COPY's last row comes the command's own result.
    PGresult* done = PQgetResult(conn.raw());
    if (PQresultStatus(done) != PGRES_COMMAND_OK)
        pg::throw_result_error(conn.raw(), done,
                               "could not read table \"" + table.name.display() + "\"");
    PQclear(done);
    while (PGresult* extra = PQgetResult(conn.raw()))
        PQclear(extra);
}

void worker_main(pg::Connection& conn, Shared& shared) {
    std::string buffer;
    buffer.reserve(kFlushBytes + 64 * 1024);
    try {
        for (;;) {
            if (shared.failed || (shared.stop && *shared.stop)) return;
            size_t index = shared.next_item.fetch_add(1);
            if (index >= shared.plan.items.size()) break;
            const WorkItem& item = shared.plan.items[index];
            read_item(conn, shared, item, buffer);
            if (shared.failed || (shared.stop && *shared.stop)) return;
            shared.progress.item_finished(item.table);
        }
        if (!buffer.empty()) shared.out.write(buffer);
    } catch (...) {
        std::lock_guard lock(shared.error_mutex);
        if (!shared.error) shared.error = std::current_exception();
        shared.failed = true;
    }
}

std::vector<TableLayout> make_layouts(const Plan& plan, const record::ValueWriter& writer) {
    std::vector<TableLayout> layouts;
    for (const auto& table : plan.tables) {
        TableLayout layout;
        layout.prefix = "{\"op\":\"read\",\"schema\":";
        record::append_json_string(layout.prefix, table.name.schema);
        layout.prefix += ",\"table\":";
        record::append_json_string(layout.prefix, table.name.name);
        layout.prefix += ",\"new\":{";
        for (size_t i = 0; i < table.columns.size(); ++i) {
            std::string key = i ? "," : "";
            record::append_json_string(key, table.columns[i].name);
            key += ':';
            layout.keys.push_back(std::move(key));
            layout.types.push_back(&writer.resolve(table.columns[i].type_oid));
        }
        layouts.push_back(std::move(layout));
    }
    return layouts;
}

} // namespace

SnapshotResult run_snapshot(const SnapshotOptions& options, OutputSink& out) {
    const int jobs = std::max(1, options.jobs);
    std::vector<pg::Connection> conns;
    for (int i = 0; i < jobs; ++i)
        conns.push_back(pg::Connection::open({options.conninfo, false, "pgsync-snapshot", {}}));

    // Every connection sees the same snapshot before anything is read (S9).
    std::string consistent_point;
    if (options.init) {
        for (auto& conn : conns)
            begin_snapshot_transaction(conn, *options.init->snapshot);
        consistent_point = options.init->consistent_point.str();
    } else {
        pg::Result r = conns[0].exec(
            std::string("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SELECT CASE WHEN "
                        "pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_replay_lsn() "
                        "ELSE pg_catalog.pg_current_wal_lsn() END, ") +
                (jobs > 1 ? "pg_catalog.pg_export_snapshot()" : "NULL"),
            "could not start the snapshot transaction");
        consistent_point = r.str(0, 0);
        for (int i = 1; i < jobs; ++i)
            begin_snapshot_transaction(conns[i], r.str(0, 1));
    }
    if (options.release_init) options.release_init();

    PlanRequest request{options.tables, options.publication, jobs};
    if (request.publication.empty() && options.init)
        request.publication = options.init->publication;
    Plan plan = make_plan(conns[0], request);

    pg::TypeCatalog catalog;
    std::vector<uint32_t> oids;
    for (const auto& t : plan.tables)
        for (const auto& c : t.columns)
            oids.push_back(c.type_oid);
    catalog.load(conns[0], oids);
    record::ValueWriter writer(catalog, {options.numbers_as_strings});
    std::vector<TableLayout> layouts = make_layouts(plan, writer);

    std::vector<std::unique_ptr<Progress::Table>> counters;
    for (const auto& t : plan.tables) {
        counters.push_back(std::make_unique<Progress::Table>());
        counters.back()->name = t.name.display();
        counters.back()->estimated_rows = t.estimated_rows;
    }
    for (const auto& item : plan.items)
        ++counters[item.table]->items_left;

    {
        Progress progress(counters, options.progress);
        Shared shared{plan,         layouts, writer,  out, progress, counters,
                      options.stop, {0},     {false}, {},  {}};
        const int threads =
            int(std::min<size_t>(size_t(jobs), std::max<size_t>(plan.items.size(), 1)));
        std::vector<std::thread> pool;
        for (int i = 1; i < threads; ++i)
            pool.emplace_back(worker_main, std::ref(conns[i]), std::ref(shared));
        worker_main(conns[0], shared);
        for (auto& t : pool)
            t.join();
        if (shared.error) std::rethrow_exception(shared.error);
    }
    if (options.stop && *options.stop)
        throw Error("interrupted: the snapshot is incomplete (no snapshot_end line was written)");

    SnapshotResult result;
    result.consistent_point = consistent_point;
    nlohmann::ordered_json rows = nlohmann::ordered_json::object();
    for (size_t i = 0; i < plan.tables.size(); ++i) {
        const std::string name = plan.tables[i].name.display();
        result.rows[name] += counters[i]->rows.load();
        rows[name] = result.rows[name];
    }
    nlohmann::ordered_json end = {
        {"op", "snapshot_end"}, {"consistent_point", consistent_point}, {"rows", rows}};
    out.write(end.dump() + "\n");
    out.sync();
    for (auto& conn : conns)
        conn.exec("COMMIT");
    return result;
}

} // namespace pgsync::snapshot
