// pgsync-serve's passes: check the slot, open the log, start the ingest thread (the replication
// loop writing into the log), the loader pool and the hub, then serve HTTP and WebSocket with
// libwebsockets on this thread until a stop signal; shut down in the reverse order.
#include "serve/server.h"

#include "changelog/change_log.h"
#include "changelog/confirm_mark.h"
#include "pg/connection.h"
#include "pg/replication.h"
#include "serve/access/origin.h"
#include "serve/hub/hub.h"
#include "serve/hub/loader.h"
#include "serve/metrics.h"
#include "serve/net/ws_layer.h"
#include "stream/slot_check.h"
#include "stream/stream.h"
#include "util/error.h"
#include "util/log.h"

#include <arpa/inet.h>
#include <atomic>
#include <chrono>
#include <fstream>
#include <sys/resource.h>
#include <thread>

namespace pgsync::serve {

namespace {

// Many idle clients need many descriptors: raise the soft limit to the hard one.
void raise_fd_limit() {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
}

} // namespace

void run_server(const ServeOptions& options) {
    // The tool checked the flags (tools/pgsync-serve/main.cpp): what is left are runtime facts.
    const std::string& host = options.host;
    const int port = options.port;
    if (options.insecure)
        log::warning("--insecure: no authentication; any local client may read every published "
                     "table");
    if (!options.jwt_secret.empty() && options.jwt_secret.size() < 32)
        log::warning("the JWT secret is " + std::to_string(options.jwt_secret.size()) +
                     " bytes long; use at least 32 random bytes (e.g. openssl rand -base64 32), "
                     "or tokens can be forged by guessing it");
    raise_fd_limit();

    // The slot must exist and be usable before anything listens (S5-S8).
    pg::Connection sql = pg::Connection::open({options.conninfo, false, "pgsync-serve", {}});
    stream::SlotState slot = stream::check_slot(sql, options.slot, {options.publication});
    pg::Connection repl = pg::Connection::open({options.conninfo, true, "pgsync-serve", {}});
    pg::SystemIdentity system = pg::identify_system(repl);
    repl.close();
    LogIdentity identity{system.system_id, PQdb(sql.raw()), options.slot};

    ChangeLogOptions log_options;
    log_options.dir = options.storage_dir;
    log_options.retain_bytes = options.retain_bytes;
    log_options.segment_bytes = options.segment_bytes;
    // A slot confirmed past what this server ever confirmed did not continue this log (F4).
    ConfirmMark mark(options.storage_dir);
    if (auto confirmed = mark.read(); confirmed && slot.confirmed_flush > *confirmed) {
        log::warning("slot \"" + options.slot + "\" is at " + slot.confirmed_flush.str() +
                     ", past " + confirmed->str() +
                     " where this server left it: it was moved or created again");
        log_options.discard = true;
    }
    log_options.retain_age = options.retain_age;
    std::unique_ptr<ChangeLog> log = ChangeLog::open(log_options, identity);
    log::info("change log in \"" + options.storage_dir + "\": epoch " + log->epoch() + ", end " +
              log->end().str());

    Metrics metrics;
    WsLayer layer(metrics);

    // The log calls back on the ingest's writer thread: the WebSocket thread then reads what was
    // appended from the log itself.
    log->on_append([&](const std::vector<LogRecord>&) { layer.wake_from_other_thread(); });

    Loader loader(options.conninfo, options.publication, options.load_jobs, *log,
                  options.client_queue_bytes,
                  std::chrono::milliseconds(int64_t(options.client_timeout_seconds * 1000)),
                  [&] { layer.wake_from_other_thread(); });
    HubOptions hub_options;
    hub_options.publication = options.publication;
    hub_options.storage_dir = options.storage_dir;
    hub_options.client_queue_bytes = options.client_queue_bytes;
    hub_options.tables = options.tables;
    pg::Connection catalog =
        pg::Connection::open({options.conninfo, false, "pgsync-serve catalog", {}});
    Hub hub(
        hub_options, *log, loader, metrics,
        [&] { return load_published_tables(catalog, options.publication); },
        [&](Session& session) { layer.wake(session); });
    auto read_server_wal = [&](pg::Connection& conn) {
        pg::Result r = conn.exec("SELECT pg_catalog.pg_current_wal_insert_lsn()::text");
        if (auto lsn = Lsn::parse(PQgetvalue(r.raw(), 0, 0))) hub.set_server_wal(*lsn);
    };
    read_server_wal(sql);

    // The layer's connections call into the hub until its context is gone: end them first,
    // whichever way this function is left.
    struct StopLayerFirst {
        WsLayer& layer;
        ~StopLayerFirst() { layer.stop(); }
    } stop_layer_first{layer};

    // The ingest: the replication loop of pgsync-stream, writing native records into the log,
    // which it confirms to the server only once fsynced.
    volatile std::sig_atomic_t ingest_stop = 0;
    std::exception_ptr ingest_error;
    std::atomic<bool> ingest_done{false};
    stream::StreamOptions stream_options;
    stream_options.conninfo = options.conninfo;
    stream_options.application_name = "pgsync-serve";
    stream_options.slot = options.slot;
    stream_options.publications = {options.publication};
    stream_options.format = "native";
    stream_options.status_interval_seconds = 10;
    stream_options.stop = &ingest_stop;
    stream_options.before_confirm = [&](Lsn lsn) { mark.write(lsn); };
    std::thread ingest([&] {
        try {
            stream::run_stream(stream_options, log->writer());
        } catch (...) {
            ingest_error = std::current_exception();
        }
        ingest_done = true;
        layer.wake_from_other_thread();
    });
    // Whichever way this function is left (a failed listen included), the ingest stops and is
    // joined before what it uses goes away.
    struct JoinIngest {
        std::thread& thread;
        volatile std::sig_atomic_t& stop;
        ~JoinIngest() {
            stop = 1;
            if (thread.joinable()) thread.join();
        }
    } join_ingest{ingest, ingest_stop};

    WsLayerOptions layer_options;
    layer_options.host = host;
    layer_options.port = port;
    layer_options.jwt_secret = options.jwt_secret;
    layer_options.api_key = options.api_key;
    layer_options.insecure = options.insecure;
    layer_options.allow_origins = options.allow_origins;
    layer_options.static_dir = options.static_dir;
    layer_options.idle_timeout_seconds = options.idle_timeout_seconds;
    layer_options.max_clients = size_t(options.max_clients);
    layer_options.health = [&] { return !ingest_done.load(); };
    // Another thread appended to the log or finished a load batch: the hub takes both, one
    // bounded slice at a time, so sockets are served between slices of a large backlog.
    layer_options.on_wake = [&] {
        if (hub.service(1024)) layer.wake_from_other_thread();
    };
    auto last_tick = std::chrono::steady_clock::now();
    pg::Connection lag_conn;
    layer_options.on_tick = [&] {
        auto now = std::chrono::steady_clock::now();
        if (now - last_tick < std::chrono::seconds(5)) return;
        last_tick = now;
        metrics.log_bytes = log->size_bytes();
        log->enforce_retention(std::chrono::system_clock::now());
        try {
            if (!lag_conn)
                lag_conn = pg::Connection::open({options.conninfo, false, "pgsync-serve", {}});
            pg::Result r = lag_conn.exec_params(
                "SELECT (pg_catalog.pg_current_wal_lsn() - confirmed_flush_lsn)::bigint "
                "FROM pg_catalog.pg_replication_slots WHERE slot_name = $1",
                {options.slot});
            if (PQntuples(r.raw()) == 1 && !PQgetisnull(r.raw(), 0, 0))
                metrics.replication_lag_bytes = std::stoll(PQgetvalue(r.raw(), 0, 0));
            read_server_wal(lag_conn);
        } catch (const std::exception&) {
            lag_conn.close(); // retried at the next tick
        }
    };
    layer_options.should_stop = [&] {
        return (options.stop && *options.stop) || ingest_done.load();
    };
    layer.start(layer_options, hub);
    log::info("listening on " + layer.bound_address());
    if (!options.ready_file.empty()) {
        std::ofstream ready(options.ready_file, std::ios::trunc);
        ready << layer.bound_address() << '\n';
    }

    layer.run(); // until a stop signal or the ingest ends
    layer.close_all(1001, "server shutting down");
    ingest_stop = 1;
    ingest.join();
    layer.stop();
    if (ingest_error) std::rethrow_exception(ingest_error);
}

} // namespace pgsync::serve
