// The shape registry: definitions and handles, the dispatcher thread, the snapshot pool.
#include "serve/electric/shape_registry.h"

#include "filter/evaluator.h"
#include "filter/shape_index.h"
#include "filter/where_parser.h"
#include "record/record_scan.h"
#include "serve/access/subscription_filter.h"
#include "serve/shapes/order_by.h"
#include "serve/electric/schema_header.h"
#include "serve/shapes/shape_load.h"
#include "util/error.h"
#include "util/log.h"

#include <algorithm>
#include <libpq-fe.h>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <map>
#include <pthread.h>
#include <thread>
#include <unordered_map>

namespace pgsync::serve::electric {

namespace {

// Records the dispatcher reads before it tells the event loops what changed.
constexpr size_t kBatchRecords = 4096;
// A shape unrequested this long is idle: it may make room for a new one. Every live client asks
// at least once per long-poll (at most 40 s), so no shape in use is ever taken.
constexpr int64_t kIdleMilliseconds = 120 * 1000;
// Spellings of one shape's request remembered (the same shape asked for with other whitespace or
// parameter forms); past it a request is parsed each time, so a client cannot grow the map.
constexpr size_t kMaxRequestKeys = 16;
// The filter work a shape may cost per change (filter::evaluation_cost), as for a /v1/ws client.
constexpr uint64_t kMaxFilterCost = 1024;

int64_t steady_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// Electric's handle form, "<hash>-<microseconds>": never reused, restarts included, because the
// time part only grows (made strictly increasing within the process).
std::string new_handle(const std::string& definition) {
    static std::mutex mutex;
    static int64_t last = 0;
    int64_t now = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    {
        std::lock_guard lock(mutex);
        if (now <= last) now = last + 1;
        last = now;
    }
    return std::to_string(std::hash<std::string>{}(definition) % 100000000) + "-" +
           std::to_string(now);
}

} // namespace

struct ShapeRegistry::Impl {
    ShapeRegistry& self;
    ShapeRegistryOptions options;
    ChangeLog& log;
    std::function<std::vector<TableSchema>()> read_tables;
    std::function<void(const std::vector<std::shared_ptr<ElectricShape>>&)> notify;

    // ---- what requests see (any thread, under mutex)
    mutable std::mutex mutex;
    struct Served {
        std::shared_ptr<const TableSchema> schema;
        const config::Table* config = nullptr;
    };
    std::map<std::pair<std::string, std::string>, Served> served;
    std::unordered_map<std::string, std::shared_ptr<ElectricShape>> by_handle;
    std::unordered_map<std::string, std::shared_ptr<ElectricShape>> by_definition;
    // Request text (with the grant) -> its shape; each shape lists its keys (forgotten with it).
    std::unordered_map<std::string, std::shared_ptr<ElectricShape>> by_request;
    void remember(const std::string& key, const std::shared_ptr<ElectricShape>& shape) {
        if (shape->request_keys.size() >= kMaxRequestKeys) return; // a new spelling: parsed
        if (by_request.emplace(key, shape).second) shape->request_keys.push_back(key);
    }
    void erase_keys(ElectricShape& shape) {
        for (const auto& key : shape.request_keys)
            by_request.erase(key);
        shape.request_keys.clear();
    }

    // ---- commands for the dispatcher
    std::mutex command_mutex;
    std::condition_variable command_cv;
    struct Command {
        enum class Kind { Add, Loaded, Drop } kind;
        std::shared_ptr<ElectricShape> shape;
        std::optional<LoadSnapshot> load;
    };
    std::deque<Command> commands;
    bool appended = false; // the log grew since the dispatcher last looked
    bool stopping = false;

    // ---- the dispatcher's own state (its thread only)
    struct DispatchTable {
        std::shared_ptr<const TableSchema> schema;
        filter::ShapeIndex index;
        std::unordered_map<uint64_t, std::shared_ptr<ElectricShape>> shapes;
        std::vector<uint64_t> needs_old;
    };
    std::map<std::pair<std::string, std::string>, DispatchTable> dispatch_tables;
    uint64_t next_id = 1;
    size_t indexed = 0; // shapes in dispatch_tables
    struct Touched {
        std::shared_ptr<ElectricShape> shape;
        std::string messages;
        LogOffset last;
    };
    std::unordered_map<uint64_t, Touched> touched; // shapes changed by the open transaction
    std::vector<std::shared_ptr<ElectricShape>> changed; // to notify after the batch

    // ---- the snapshot pool
    std::mutex pool_mutex;
    std::condition_variable pool_cv;
    std::deque<std::function<void(LoadConnection&)>> pool_jobs;
    std::vector<std::thread> threads;

    Impl(ShapeRegistry& s, const ShapeRegistryOptions& o, ChangeLog& l,
         std::function<std::vector<TableSchema>()> r,
         std::function<void(const std::vector<std::shared_ptr<ElectricShape>>&)> n)
        : self(s), options(o), log(l), read_tables(std::move(r)), notify(std::move(n)) {}

    void load_served(std::vector<TableSchema> published);
    void post(Command command) {
        {
            std::lock_guard lock(command_mutex);
            commands.push_back(std::move(command));
        }
        command_cv.notify_one();
    }
    void submit(std::function<void(LoadConnection&)> job) {
        {
            std::lock_guard lock(pool_mutex);
            pool_jobs.push_back(std::move(job));
        }
        pool_cv.notify_one();
    }
    void pool_thread();
    void prepare(const std::shared_ptr<ElectricShape>& shape, LoadConnection& worker);
    void load(const std::shared_ptr<ElectricShape>& shape, LoadConnection& worker);
    void fail(const std::shared_ptr<ElectricShape>& shape, int status, std::string message);
    void forget(const std::shared_ptr<ElectricShape>& shape); // out of the maps (locks mutex)

    void dispatcher_thread();
    void run_command(Command& command);
    void unindex(ElectricShape& shape);
    void rotate_table(DispatchTable& table, std::string_view why);
    void dispatch(const LogRecord& record, record::ScannedRecord& scanned, RowImages& row,
                  std::vector<uint64_t>& candidates);
    void commit(Lsn commit_lsn, uint32_t xid);
    void reload_tables();
};

void ShapeRegistry::Impl::load_served(std::vector<TableSchema> published) {
    std::map<std::pair<std::string, std::string>, Served> fresh;
    for (auto& schema : published) {
        const ServedTable served_by = served_table(options.tables, schema);
        if (!served_by.served) continue; // the config lists the tables clients may see
        auto key = std::make_pair(schema.schema, schema.name);
        fresh[key] = {std::make_shared<TableSchema>(std::move(schema)), served_by.config};
    }
    std::lock_guard lock(mutex);
    served = std::move(fresh);
}

// ---- requests

ShapeRegistry::ShapeRegistry(
    const ShapeRegistryOptions& options, ChangeLog& log,
    std::function<std::vector<TableSchema>()> read_tables,
    std::function<void(const std::vector<std::shared_ptr<ElectricShape>>&)> notify)
    : m_impl(std::make_unique<Impl>(*this, options, log, std::move(read_tables),
                                    std::move(notify))) {
    Impl& impl = *m_impl;
    std::error_code ec;
    std::filesystem::remove_all(options.dir, ec); // shape logs of an earlier run: never trusted
    std::filesystem::create_directories(options.dir, ec);
    if (ec)
        throw Error("could not create shape directory \"" + options.dir + "\": " + ec.message(),
                    "Check that the storage directory is writable.");
    impl.load_served(impl.read_tables());
    m_processed_lsn = log.end().lsn.value();
}

void ShapeRegistry::start() {
    Impl& impl = *m_impl;
    impl.threads.emplace_back([&impl] {
        pthread_setname_np(pthread_self(), "pgsync-shapes");
        impl.dispatcher_thread();
    });
    for (int i = 0; i < std::max(1, impl.options.snapshot_threads); ++i)
        impl.threads.emplace_back([&impl] {
            pthread_setname_np(pthread_self(), "pgsync-shape-load");
            impl.pool_thread();
        });
}

ShapeRegistry::~ShapeRegistry() {
    Impl& impl = *m_impl;
    {
        std::lock_guard lock(impl.command_mutex);
        impl.stopping = true;
    }
    {
        std::lock_guard lock(impl.pool_mutex);
        impl.pool_jobs.clear();
    }
    impl.command_cv.notify_all();
    impl.pool_cv.notify_all();
    for (auto& thread : impl.threads)
        thread.join();
}

void ShapeRegistry::wake() {
    {
        std::lock_guard lock(m_impl->command_mutex);
        m_impl->appended = true;
    }
    m_impl->command_cv.notify_one();
}

size_t ShapeRegistry::shape_count() const {
    std::lock_guard lock(m_impl->mutex);
    return m_impl->by_handle.size();
}

std::shared_ptr<ElectricShape> ShapeRegistry::find(const std::string& handle) const {
    std::lock_guard lock(m_impl->mutex);
    auto it = m_impl->by_handle.find(handle);
    return it == m_impl->by_handle.end() ? nullptr : it->second;
}

ShapeLookup ShapeRegistry::get_or_create(const ShapeRequest& request, const Principal* principal,
                                         bool create) {
    Impl& impl = *m_impl;
    ShapeLookup out;
    auto refuse = [&](int status, std::string field, std::string message) {
        out.status = status;
        out.field = std::move(field);
        out.message = std::move(message);
        return out;
    };
    const std::string table_text = request.table.schema + "." + request.table.name;
    Impl::Served served;
    {
        std::lock_guard lock(impl.mutex);
        auto it = impl.served.find({request.table.schema, request.table.name});
        if (it == impl.served.end())
            return refuse(400, "table",
                          "table \"" + table_text + "\" is not served (not in publication \"" +
                              impl.options.publication + "\"" +
                              (impl.options.tables.empty() ? "" : " or not listed in the config") +
                              ")");
        served = it->second;
    }
    // Authorisation (F5, F6): the token must grant the table; its mandatory filter is ANDed in.
    const TableGrant* grant = nullptr;
    if (principal && !principal->all_tables) {
        for (const auto& g : principal->tables)
            if (g.schema == request.table.schema && g.name == request.table.name) grant = &g;
        if (!grant)
            return refuse(403, "table", "the token does not grant table \"" + table_text + "\"");
    }
    // Every request of a shape (each long-poll round of each client) would parse and bind its
    // filter again: the same request text under the same grant finds its shape by that text.
    std::string request_key = request.table.schema + '\0' + request.table.name + '\0' +
                              request.where + '\0' +
                              (request.replica_full ? "full" : "default") +
                              (request.changes_only ? "changes_only" : "full") + '\0';
    for (const auto& c : request.columns)
        request_key += c + '\x01';
    for (const auto& p : request.params)
        request_key += (p ? "v" + *p : std::string("n")) + '\x01';
    request_key += grant ? '\0' + grant->where : std::string("\0*");
    if (grant)
        for (const auto& p : grant->params)
            request_key += (p ? "v" + *p : std::string("n")) + '\x01';
    {
        std::lock_guard lock(impl.mutex);
        if (auto it = impl.by_request.find(request_key); it != impl.by_request.end()) {
            out.shape = it->second;
            out.shape->last_used = steady_ms();
            return out;
        }
    }
    SubscribeRequest subscribe;
    subscribe.table_text = table_text;
    subscribe.table = {request.table.schema, request.table.name};
    subscribe.params = request.params;
    if (!request.where.empty()) {
        auto parsed = filter::parse_where(request.where);
        if (!parsed.ok())
            return refuse(400, "where",
                          "At location " + std::to_string(parsed.error.position) + ": " +
                              parsed.error.message);
        subscribe.where = std::move(parsed.expr);
    }
    FilterResult filter = subscription_filter(subscribe, *served.schema, grant, served.config);
    if (!filter.ok())
        return refuse(filter.error_code == "forbidden" ? 403 : 400, "where", filter.error_message);
    // One dispatcher evaluates every shape's filter on each change of its table: a shape gets the
    // budget a /v1/ws connection has for all its subscriptions.
    if (filter.filter && filter::evaluation_cost(*filter.filter) > kMaxFilterCost)
        return refuse(400, "where",
                      "the filter would cost " +
                          std::to_string(filter::evaluation_cost(*filter.filter)) +
                          " units per change, the limit is " + std::to_string(kMaxFilterCost) +
                          "; use shorter LIKE patterns or shorter IN lists");
    std::vector<std::string> columns = request.columns;
    if (served.config && served.config->columns) {
        std::vector<std::string> allowed;
        for (const auto& c : *served.config->columns)
            allowed.push_back(c.value);
        if (columns.empty()) columns = allowed;
        for (const auto& c : columns)
            if (std::find(allowed.begin(), allowed.end(), c) == allowed.end())
                return refuse(403, "columns",
                              "column \"" + c + "\" is not served (not in the config's columns)");
    }
    auto shape = std::make_shared<Shape>();
    if (auto problem = make_shape(*shape, served.schema, std::move(filter.filter), columns))
        return refuse(400, "columns", *problem);
    if (!columns.empty())
        for (int k : served.schema->key_columns)
            if (std::find(shape->selected.begin(), shape->selected.end(), k) ==
                shape->selected.end())
                return refuse(400, "columns",
                              "the key column \"" + served.schema->columns[size_t(k)].name +
                                  "\" must be included");
    const std::string definition = shape->identity + (request.replica_full ? "|full" : "|default") +
                                   (request.changes_only ? "|changes_only" : "|full");

    std::shared_ptr<ElectricShape> entry;
    {
        std::lock_guard lock(impl.mutex);
        if (auto it = impl.by_definition.find(definition); it != impl.by_definition.end()) {
            out.shape = it->second;
            out.shape->last_used = steady_ms();
            impl.remember(request_key, out.shape);
            return out;
        }
        if (!create) return refuse(404, {}, "No existing shape found");
        // A token (not the API key, not --insecure) may have created at most a quarter of the
        // shapes held: one client making shapes by the thousand cannot fill the table and lock
        // everyone else out until its shapes go idle.
        const bool limited = principal && !principal->api_key;
        const std::string creator = limited ? "jwt:" + principal->subject : std::string();
        if (limited) {
            const size_t cap = std::max<size_t>(1, impl.options.max_shapes / 4);
            size_t mine = 0;
            for (const auto& [handle, held] : impl.by_handle)
                if (held->creator == creator) ++mine;
            if (mine >= cap)
                return refuse(429, {},
                              "this token's subject created " + std::to_string(mine) +
                                  " shapes, the most one subject may hold (a quarter of "
                                  "--max-shapes); reuse shapes, or retry once some go idle");
        }
        if (impl.by_handle.size() >= impl.options.max_shapes) {
            // Room is made by the least recently requested idle shape: a client that creates
            // shapes by the thousand cannot lock the others out, only churn its own.
            std::shared_ptr<ElectricShape> oldest;
            for (auto& [handle, candidate] : impl.by_handle)
                if (!oldest || candidate->last_used.load() < oldest->last_used.load())
                    oldest = candidate;
            if (!oldest || steady_ms() - oldest->last_used.load() < kIdleMilliseconds)
                return refuse(503, {},
                              "the server holds its maximum of " +
                                  std::to_string(impl.options.max_shapes) +
                                  " shapes, all in use; retry later or raise --max-shapes");
            impl.by_handle.erase(oldest->handle);
            impl.by_definition.erase(oldest->definition);
            impl.erase_keys(*oldest);
            impl.post({Impl::Command::Kind::Drop, oldest, {}});
        }
        entry = std::make_shared<ElectricShape>();
        entry->handle = new_handle(definition);
        entry->last_used = steady_ms();
        entry->creator = creator;
        entry->definition = definition;
        entry->shape = std::move(shape);
        entry->replica_full = request.replica_full;
        entry->changes_only = request.changes_only;
        entry->log = std::make_unique<ShapeLog>(impl.options.dir + "/" + entry->handle + ".log");
        impl.by_definition[definition] = entry;
        impl.by_handle[entry->handle] = entry;
        impl.remember(request_key, entry);
    }
    impl.submit([&impl, entry](LoadConnection& worker) { impl.prepare(entry, worker); });
    out.shape = std::move(entry);
    return out;
}

std::shared_ptr<SubsetQuery> ShapeRegistry::start_subset(const std::shared_ptr<ElectricShape>& shape,
                                                       const Subset& subset, ShapeLookup& problem) {
    Impl& impl = *m_impl;
    const TableSchema& table = *shape->shape->table;
    auto refuse = [&](std::string message) -> std::shared_ptr<SubsetQuery> {
        problem.status = 400;
        problem.field = "subset";
        problem.message = std::move(message);
        return nullptr;
    };
    // The subset narrows the shape (its filter, a token's included) and never widens it: both
    // filters apply, in SQL and again on every row.
    std::optional<filter::BoundFilter> narrowing;
    if (!subset.where.empty()) {
        auto parsed = filter::parse_where(subset.where);
        if (!parsed.ok())
            return refuse("At location " + std::to_string(parsed.error.position) + ": " +
                          parsed.error.message);
        auto bound = filter::bind(*parsed.expr, table.columns, subset.params);
        if (!bound.ok())
            return refuse("At location " + std::to_string(bound.error.position) + ": " +
                          bound.error.message);
        narrowing = std::move(bound.filter);
    }
    std::string order_by, error;
    std::vector<OrderTerm> terms;
    if (!subset.order_by.empty()) {
        if (!parse_order_by(subset.order_by, table, terms, error))
            return refuse("order_by: " + error);
        order_by = order_by_sql(terms, table);
    }
    auto query = std::make_shared<SubsetQuery>();
    const LogOffset end = shape->log->end();
    query->offset = end.lsn.is_valid() ? end : kSnapshotEnd;
    static std::atomic<int> next_mark{1};
    const int mark = next_mark++;
    impl.submit([&impl, shape, query, narrowing = std::move(narrowing), order_by,
                 limit = subset.limit, offset = subset.offset, mark](LoadConnection& worker) {
        try {
            LoadSubset part{narrowing ? &*narrowing : nullptr, order_by, limit, offset};
            LoadSnapshot snapshot;
            switch (begin_shape_load(worker, impl.options.conninfo, impl.options.publication,
                                     *shape->shape, snapshot, &part)) {
            case LoadStart::Unpublished:
            case LoadStart::PublicationChanged:
                query->status = 409;
                query->message = "the table's publication changed; refetch the shape";
                break;
            case LoadStart::Started: {
                const std::string mark_member = ",\"snapshot_mark\":" + std::to_string(mark);
                std::string data;
                bool more = true;
                while (more)
                    more = read_shape_rows(worker, *shape->shape, [&](const RowImages& row) {
                        if (narrowing &&
                            filter::evaluate(*narrowing, row.new_cells) != filter::Match::Yes)
                            throw Error("the database returned a row the subset's filter does "
                                        "not match; nothing of it was sent");
                        append_change(data, *shape->context, ShapeOp::Insert, row, nullptr);
                        add_to_last_headers(data, mark_member);
                    });
                std::string xip;
                for (uint64_t x : snapshot.xids.xip)
                    xip += (xip.empty() ? "\"" : ",\"") + std::to_string(x) + "\"";
                query->body = "{\"metadata\":{\"xmin\":\"" + std::to_string(snapshot.xids.xmin) +
                              "\",\"xmax\":\"" + std::to_string(snapshot.xids.xmax) +
                              "\",\"xip_list\":[" + xip + "],\"database_lsn\":\"" +
                              std::to_string(snapshot.lsn.value()) +
                              "\",\"snapshot_mark\":" + std::to_string(mark) + "},\"data\":[" +
                              (data.empty() ? std::string() : data.substr(1)) + "]}";
                break;
            }
            }
        } catch (const std::exception& e) {
            log::warning("subset snapshot of shape " + shape->handle + " failed: " + e.what());
            query->status = 503;
            query->message = "the subset snapshot failed; retry";
        }
        query->done = true;
        impl.notify({shape});
    });
    return query;
}

bool ShapeRegistry::rotate(const std::shared_ptr<ElectricShape>& shape) {
    if (!shape) return false;
    ElectricShape::State state = shape->state.load();
    if (state == ElectricShape::State::Gone || state == ElectricShape::State::Failed) return false;
    m_impl->forget(shape);
    m_impl->post({Impl::Command::Kind::Drop, shape, {}});
    return true;
}

void ShapeRegistry::Impl::forget(const std::shared_ptr<ElectricShape>& shape) {
    std::lock_guard lock(mutex);
    erase_keys(*shape);
    if (auto it = by_handle.find(shape->handle); it != by_handle.end() && it->second == shape)
        by_handle.erase(it);
    if (auto it = by_definition.find(shape->definition);
        it != by_definition.end() && it->second == shape)
        by_definition.erase(it);
}

void ShapeRegistry::Impl::fail(const std::shared_ptr<ElectricShape>& shape, int status,
                               std::string message) {
    shape->failure = std::move(message);
    shape->failure_status = status;
    forget(shape);
    post({Command::Kind::Drop, shape, {}});
}

// ---- the snapshot pool

void ShapeRegistry::Impl::pool_thread() {
    LoadConnection worker;
    for (;;) {
        std::function<void(LoadConnection&)> job;
        {
            std::unique_lock lock(pool_mutex);
            pool_cv.wait(lock, [&] {
                std::lock_guard command_lock(command_mutex);
                return stopping || !pool_jobs.empty();
            });
            std::lock_guard command_lock(command_mutex);
            if (stopping) return;
            job = std::move(pool_jobs.front());
            pool_jobs.pop_front();
        }
        job(worker);
    }
}

// Before the shape is indexed: its types and its header, so the dispatcher can render its
// changes from the first one on.
void ShapeRegistry::Impl::prepare(const std::shared_ptr<ElectricShape>& shape,
                                  LoadConnection& worker) {
    try {
        if (!worker.conn || PQstatus(worker.conn.raw()) != CONNECTION_OK)
            worker.conn = pg::Connection::open({options.conninfo, false, "pgsync-serve shapes", {}});
        const TableSchema& table = *shape->shape->table;
        auto catalog = std::make_shared<pg::TypeCatalog>();
        catalog->load(worker.conn, table.declared_type_oids);
        shape->schema_header = read_schema_header(worker.conn, table, shape->shape->selected);
        shape->context = make_message_context(shape->shape, std::move(catalog), shape->replica_full);
        post({Command::Kind::Add, shape, {}});
    } catch (const std::exception& e) {
        worker.conn.close();
        log::warning("could not prepare shape " + shape->handle + ": " + e.what());
        fail(shape, 503, "could not read the table's catalog entry; retry");
    }
}

void ShapeRegistry::Impl::load(const std::shared_ptr<ElectricShape>& shape,
                               LoadConnection& worker) {
    try {
        LoadSnapshot snapshot;
        switch (begin_shape_load(worker, options.conninfo, options.publication, *shape->shape,
                                 snapshot)) {
        case LoadStart::Unpublished:
            return fail(shape, 400, "table \"" + shape->shape->table->display_name() +
                                        "\" left the publication");
        case LoadStart::PublicationChanged:
            return fail(shape, 409, "the publication's column list changed");
        case LoadStart::Started:
            break;
        }
        std::string chunk;
        uint64_t index = 0;
        bool more = !shape->changes_only;
        if (!more) abandon_shape_load(worker);
        while (more) {
            if (shape->state.load() != ElectricShape::State::Loading) {
                abandon_shape_load(worker);
                return;
            }
            more = read_shape_rows(worker, *shape->shape, [&](const RowImages& row) {
                append_change(chunk, *shape->context, ShapeOp::Insert, row, nullptr);
                if (chunk.size() >= options.chunk_bytes) {
                    shape->log->append({Lsn(0), index++}, Lsn(0), chunk);
                    chunk.clear();
                }
            });
        }
        chunk += ',';
        chunk += snapshot_end_message(snapshot.xids);
        shape->log->append({Lsn(0), index}, Lsn(0), chunk);
        post({Command::Kind::Loaded, shape, std::move(snapshot)});
    } catch (const std::exception& e) {
        log::warning("initial load of shape " + shape->handle + " failed: " + e.what());
        fail(shape, 503, "the shape's initial load failed; retry");
    }
}

// ---- the dispatcher

void ShapeRegistry::Impl::reload_tables() {
    std::vector<TableSchema> published;
    try {
        published = read_tables();
    } catch (const std::exception& e) {
        log::warning(std::string("could not reload the published tables: ") + e.what());
        return;
    }
    load_served(published);
    std::lock_guard lock(mutex);
    for (auto& [key, entry] : served) {
        DispatchTable& table = dispatch_tables[key];
        if (table.shapes.empty()) table.schema = entry.schema;
    }
}

void ShapeRegistry::Impl::unindex(ElectricShape& shape) {
    if (!shape.id) return;
    for (auto& [key, table] : dispatch_tables)
        if (table.shapes.erase(shape.id)) {
            table.index.remove(shape.id);
            std::erase(table.needs_old, shape.id);
            --indexed;
        }
    touched.erase(shape.id);
    shape.id = 0;
}

void ShapeRegistry::Impl::run_command(Command& command) {
    auto& shape = command.shape;
    switch (command.kind) {
    case Command::Kind::Add: {
        if (shape->state.load() != ElectricShape::State::Loading) return;
        const TableSchema& schema = *shape->shape->table;
        auto it = dispatch_tables.find({schema.schema, schema.name});
        if (it == dispatch_tables.end() || it->second.schema != shape->shape->table) {
            // The table changed between the request and now: the next request starts over.
            forget(shape);
            shape->state = ElectricShape::State::Gone;
            changed.push_back(shape);
            return;
        }
        DispatchTable& table = it->second;
        shape->id = next_id++;
        table.shapes[shape->id] = shape;
        ++indexed;
        table.index.add(shape->id, shape->shape->filter ? &*shape->shape->filter : nullptr);
        if (shape->shape->needs_old_image) table.needs_old.push_back(shape->id);
        // Indexed at this position: every later change reaches it; the load starts now, so its
        // snapshot sees everything before.
        submit([this, shape](LoadConnection& worker) { load(shape, worker); });
        return;
    }
    case Command::Kind::Loaded: {
        if (shape->state.load() != ElectricShape::State::Loading) return;
        for (auto& pending : shape->pending)
            if (shape->changes_only || !command.load->saw(pending.lsn, pending.xid))
                shape->log->append(pending.offset, pending.lsn, pending.messages);
        shape->pending.clear();
        shape->pending.shrink_to_fit();
        if (!shape->changes_only) shape->load = std::move(command.load);
        shape->state = ElectricShape::State::Ready;
        changed.push_back(shape);
        return;
    }
    case Command::Kind::Drop:
        unindex(*shape);
        shape->pending.clear();
        shape->state = shape->failure.empty() ? ElectricShape::State::Gone
                                              : ElectricShape::State::Failed;
        changed.push_back(shape);
        return;
    }
}

void ShapeRegistry::Impl::rotate_table(DispatchTable& table, std::string_view why) {
    auto shapes = table.shapes;
    for (auto& [id, shape] : shapes) {
        log::debug("shape " + shape->handle + " rotated: " + std::string(why));
        forget(shape);
        unindex(*shape);
        shape->state = ElectricShape::State::Gone;
        changed.push_back(shape);
    }
}

void ShapeRegistry::Impl::dispatch(const LogRecord& record, record::ScannedRecord& scanned,
                                   RowImages& row, std::vector<uint64_t>& candidates) {
    switch (record_kind(scanned)) {
    case RecordKind::Commit:
        return commit(scanned.commit_lsn, record.xid);
    case RecordKind::Relation: {
        bool reload = false;
        for (auto& [key, table] : dispatch_tables)
            if (table.schema && changes_schema(scanned, *table.schema)) {
                rotate_table(table, "the table's columns changed");
                reload = true;
            }
        if (reload) reload_tables();
        return;
    }
    case RecordKind::Truncate:
        for (auto& [key, table] : dispatch_tables)
            if (table.schema && truncates(scanned, *table.schema))
                rotate_table(table, "the table was truncated");
        return;
    case RecordKind::Other:
        return;
    case RecordKind::Row:
        break;
    }
    DispatchTable* table = nullptr;
    for (auto& [key, entry] : dispatch_tables)
        if (entry.schema && entry.schema->is(scanned.schema_token, scanned.table_token))
            table = &entry;
    if (!table || table->shapes.empty()) return;
    if (!read_row(*table->schema, scanned, row)) return;
    change_candidates(table->index, table->needs_old, row, candidates);
    for (uint64_t id : candidates) {
        auto it = table->shapes.find(id);
        if (it == table->shapes.end()) continue;
        ElectricShape& shape = *it->second;
        if (shape.load && shape.load->passed(scanned.commit_lsn)) shape.load.reset();
        const ShapeOp op = row_meaning(*shape.shape, row, shape.load, scanned.commit_lsn, record.xid);
        if (op == ShapeOp::None) continue;
        Touched& entry = touched[id];
        if (!entry.shape) entry.shape = it->second;
        ChangeOrigin origin{record.xid, scanned.commit_lsn, record.offset.op};
        const int messages = append_change(entry.messages, *shape.context, op, row, &origin);
        entry.last = {scanned.commit_lsn, record.offset.op + uint64_t(messages > 1)};
    }
}

void ShapeRegistry::Impl::commit(Lsn commit_lsn, uint32_t xid) {
    for (auto& [id, entry] : touched) {
        ElectricShape& shape = *entry.shape;
        if (entry.messages.empty()) continue;
        mark_last(entry.messages);
        if (shape.state.load() == ElectricShape::State::Loading) {
            shape.pending.push_back({entry.last, commit_lsn, xid, std::move(entry.messages)});
            continue;
        }
        try {
            shape.log->append(entry.last, commit_lsn, entry.messages);
            if (shape.log->bytes() > options.max_log_bytes)
                throw Error("the log of shape " + shape.handle + " passed " +
                            std::to_string(options.max_log_bytes) + " bytes");
        } catch (const std::exception& e) {
            // Its clients start over from a new snapshot, which is smaller than its history.
            log::info(std::string(e.what()) + "; the shape is rotated");
            forget(entry.shape);
            unindex(shape);
            shape.state = ElectricShape::State::Gone;
        }
        changed.push_back(entry.shape);
    }
    touched.clear();
    self.m_processed_lsn = commit_lsn.value();
}

void ShapeRegistry::Impl::dispatcher_thread() {
    // Shapes start from the log's end: what came before is in their initial load.
    std::unique_ptr<ChangeLog::Reader> reader;
    try {
        reader = log.read_after(log.end());
    } catch (const std::exception& e) {
        log::warning(std::string("the shape dispatcher could not read the log: ") + e.what());
    }
    {
        std::lock_guard lock(mutex);
        for (auto& [key, entry] : served)
            dispatch_tables[key].schema = entry.schema;
    }
    LogRecord record;
    record::ScannedRecord scanned;
    RowImages row;
    std::vector<uint64_t> candidates;
    std::vector<Command> batch;
    for (;;) {
        {
            std::unique_lock lock(command_mutex);
            command_cv.wait_for(lock, std::chrono::milliseconds(200),
                                [&] { return stopping || appended || !commands.empty(); });
            if (stopping) return;
            appended = false;
            batch.assign(std::make_move_iterator(commands.begin()),
                         std::make_move_iterator(commands.end()));
            commands.clear();
        }
        for (auto& command : batch)
            run_command(command);
        batch.clear();
        bool more = true;
        while (more && reader) {
            size_t n = 0;
            try {
                while (n < kBatchRecords && reader->next(record)) {
                    ++n;
                    // Without shapes a record concerns nobody: only the position moves.
                    if (indexed == 0 && touched.empty()) {
                        if (record.commit) self.m_processed_lsn = record.offset.lsn.value();
                        continue;
                    }
                    if (record::scan_record(record.line, scanned))
                        dispatch(record, scanned, row, candidates);
                }
            } catch (const std::exception& e) {
                log::warning(std::string("the shape dispatcher stopped reading the log: ") +
                             e.what());
                reader.reset();
            }
            more = n == kBatchRecords;
            if (reader && reader->expired()) {
                // Retention passed the dispatcher: every shape's log has a hole; start over.
                log::warning("the change log dropped records the shape dispatcher had not read; "
                             "every Electric shape is rotated");
                for (auto& [key, table] : dispatch_tables)
                    rotate_table(table, "the log expired");
                reader = log.read_after(log.end());
            }
            if (!changed.empty()) {
                std::sort(changed.begin(), changed.end());
                changed.erase(std::unique(changed.begin(), changed.end()), changed.end());
                notify(changed);
                changed.clear();
            }
        }
        if (!changed.empty()) {
            notify(changed);
            changed.clear();
        }
    }
}

} // namespace pgsync::serve::electric
