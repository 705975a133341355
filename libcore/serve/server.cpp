// pgsync-serve's passes: check the slot, open the log, start the ingest thread (the replication
// loop writing into the log), the loader pool and the hub, then serve HTTP and WebSocket with
// libwebsockets on this thread until a stop signal; shut down in the reverse order.
#include "serve/server.h"

#include "pg/connection.h"
#include "pg/replication.h"
#include "serve/change_log.h"
#include "serve/confirm_mark.h"
#include "serve/hub.h"
#include "serve/loader.h"
#include "serve/metrics.h"
#include "serve/ws_layer.h"
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

bool is_loopback(const std::string& host) {
    if (host == "localhost" || host == "::1") return true;
    in_addr addr{};
    return inet_pton(AF_INET, host.c_str(), &addr) == 1 && (ntohl(addr.s_addr) >> 24) == 127;
}

namespace {

// --listen HOST:PORT ([v6]:port too).
std::pair<std::string, int> parse_listen(const std::string& text) {
    size_t colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
        throw usage_error("invalid --listen \"" + text + "\"",
                          "Give HOST:PORT, e.g. 127.0.0.1:8080 (port 0 picks a free port).");
    std::string host = text.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    int port = -1;
    try {
        size_t used = 0;
        port = std::stoi(text.substr(colon + 1), &used);
        if (used != text.size() - colon - 1) port = -1;
    } catch (const std::exception&) {
        port = -1;
    }
    if (port < 0 || port > 65535)
        throw usage_error("invalid port in --listen \"" + text + "\"",
                          "Give a port from 0 to 65535.");
    return {host, port};
}

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
    if (options.slot.empty())
        throw usage_error("--slot is required",
                          "Give --slot, or source.slot in the file given with --config.");
    if (options.publication.empty())
        throw usage_error("--publication is required",
                          "Give --publication, or source.publication in the file given with "
                          "--config.");
    auto [host, port] = parse_listen(options.listen);
    if (options.jwt_secret.empty() && options.api_key.empty() && !options.insecure)
        throw usage_error("no authentication configured",
                          "Give --jwt-secret-env VAR (clients of /v1/ws), --api-key-env VAR "
                          "(/v1/stream), or --insecure on a loopback address for local testing.");
    if (options.insecure && !is_loopback(host))
        throw usage_error("--insecure is allowed only on a loopback address, not \"" + host + "\"",
                          "Listen on 127.0.0.1, or configure --jwt-secret-env / --api-key-env.");
    if (options.insecure)
        log::warning("--insecure: no authentication; any local client may read every published "
                     "table");
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

    Loader loader(options.conninfo, options.load_jobs, *log, options.client_queue_bytes,
                  std::chrono::milliseconds(int64_t(options.client_timeout_seconds * 1000)),
                  [&] { layer.wake_from_other_thread(); });
    HubOptions hub_options;
    hub_options.publication = options.publication;
    hub_options.storage_dir = options.storage_dir;
    hub_options.client_queue_bytes = options.client_queue_bytes;
    hub_options.tables = options.tables;
    Hub hub(hub_options, *log, loader, metrics,
            pg::Connection::open({options.conninfo, false, "pgsync-serve catalog", {}}),
            [&](Session& session) { layer.wake(session); });

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

    WsLayerOptions layer_options;
    layer_options.host = host;
    layer_options.port = port;
    layer_options.jwt_secret = options.jwt_secret;
    layer_options.api_key = options.api_key;
    layer_options.insecure = options.insecure;
    layer_options.max_clients = size_t(options.max_clients);
    layer_options.health = [&] { return !ingest_done.load(); };
    layer_options.on_wake = [&] {
        hub.on_load_results(loader.take_results());
        // A bounded slice per wake, so sockets are served between slices of a large backlog.
        if (hub.pump(1024)) layer.wake_from_other_thread();
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
