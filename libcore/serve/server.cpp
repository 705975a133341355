// pgsync-serve's passes: check the slot, open the log, bind the listening socket, start the ingest
// thread (the replication loop writing into the log), the loader pool and one event-loop shard per
// thread (a libwebsockets context and a hub each), then hand accepted connections to the shards in
// turn until a stop signal; shut down in the reverse order.
#include "serve/server.h"

#include "changelog/change_log.h"
#include "changelog/confirm_mark.h"
#include "pg/connection.h"
#include "pg/replication.h"
#include "serve/access/origin.h"
#include "serve/hub/hub.h"
#include "serve/hub/loader.h"
#include "serve/ingest/nats_ingest.h"
#include "serve/metrics.h"
#include "serve/electric/shape_api.h"
#include "serve/electric/shape_registry.h"
#include "serve/net/listener.h"
#include "serve/net/shape_http.h"
#include "serve/net/token_http.h"
#include "serve/net/ws_layer.h"
#include "stream/slot_check.h"
#include "stream/stream.h"
#include "util/error.h"
#include "util/log.h"
#include "util/unix_time.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <sched.h>
#include <atomic>
#include <chrono>
#include <fstream>
#include <condition_variable>
#include <mutex>
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

// A slice of dispatch ends after this many records or the hub's slice_budget, whichever is first.
constexpr size_t kMaxSliceRecords = 1u << 16;

// One event-loop thread's share of the server: its libwebsockets context and the hub of its
// sessions.
struct Shard {
    explicit Shard(Metrics& metrics) : layer(metrics) {}
    WsLayer layer;
    HubOptions hub_options; // outlives the hub, which keeps a reference
    std::unique_ptr<Hub> hub;
    std::unique_ptr<ShapeHttp> shapes; // /v1/shape on this shard
    std::unique_ptr<TokenHttp> tokens; // POST /v1/token on this shard
    std::exception_ptr error; // what ended its loop, if not a stop
};

} // namespace

int available_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
    return std::max(1, CPU_COUNT(&set));
}

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
    // The key files are read before anything else: one that cannot be read is a configuration
    // error (exit 2), found before the database is touched.
    std::optional<JwtVerifier> jwt;
    if (!options.jwt_secret.empty() || !options.jwt_public_key_file.empty() ||
        !options.jwks_file.empty())
        jwt.emplace(JwtOptions{options.jwt_secret, options.jwt_public_key_file, options.jwks_file,
                               options.jwt_claim, options.jwt_issuer, options.jwt_audience});
    raise_fd_limit();

    // The slot must exist and be usable before anything listens (S5-S8); a replica's stream too,
    // and its epoch is the stream's, the same on every replica.
    pg::Connection sql = pg::Connection::open({options.conninfo, false, "pgsync-serve", {}});
    ChangeLogOptions log_options;
    log_options.dir = options.storage_dir;
    log_options.retain_bytes = options.retain_bytes;
    log_options.segment_bytes = options.segment_bytes;
    ConfirmMark mark(options.storage_dir);
    std::unique_ptr<NatsIngest> replica;
    LogIdentity identity;
    if (options.source) {
        pg::Result publication = sql.exec_params(
            "SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = $1", {options.publication},
            "could not look up the publication");
        if (PQntuples(publication.raw()) == 0)
            throw Error("publication \"" + options.publication + "\" does not exist",
                        "Give the publication of the slot that pgsync-publish's stream reads; "
                        "initial loads read its tables.");
        NatsIngestOptions ingest_options;
        ingest_options.source = *options.source;
        ingest_options.storage_dir = options.storage_dir;
        replica = std::make_unique<NatsIngest>(ingest_options);
        identity = replica->identity(PQdb(sql.raw()));
        log_options.epoch = replica->epoch();
    } else {
        stream::SlotState slot = stream::check_slot(sql, options.slot, {options.publication});
        pg::Connection repl = pg::Connection::open({options.conninfo, true, "pgsync-serve", {}});
        pg::SystemIdentity system = pg::identify_system(repl);
        repl.close();
        identity = {system.system_id, PQdb(sql.raw()), options.slot};
        // A slot confirmed past what this server ever confirmed did not continue this log (F4).
        if (auto confirmed = mark.read(); confirmed && slot.confirmed_flush > *confirmed) {
            log::warning("slot \"" + options.slot + "\" is at " + slot.confirmed_flush.str() +
                         ", past " + confirmed->str() +
                         " where this server left it: it was moved or created again");
            log_options.discard = true;
        }
    }
    log_options.retain_age = options.retain_age;
    std::unique_ptr<ChangeLog> log = ChangeLog::open(log_options, identity);
    log::info("change log in \"" + options.storage_dir + "\": epoch " + log->epoch() + ", end " +
              log->end().str());

    // Bound before anything starts, so that a port in use fails at once, with nothing to undo.
    Listener listener(host, port);
    const std::string bound_address =
        (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
        std::to_string(listener.port());

    // One event-loop shard per thread, each a WsLayer and the Hub of its own sessions.
    const size_t shard_count = size_t(std::max(1, options.threads));
    Metrics metrics;
    if (replica) metrics.replica_lag_messages = replica->lag_messages();
    LayerShared layer_shared;
    std::vector<std::unique_ptr<Shard>> shards;
    for (size_t i = 0; i < shard_count; ++i)
        shards.push_back(std::make_unique<Shard>(metrics));
    auto wake_all = [&] {
        for (auto& shard : shards)
            shard->layer.wake_from_other_thread();
    };

    // The log calls back on the ingest's writer thread: each shard then reads what was appended
    // from the log itself.
    std::unique_ptr<electric::ShapeRegistry> registry; // set below, before the ingest starts
    log->on_append([&](const std::vector<LogRecord>&) {
        wake_all();
        if (registry) registry->wake();
    });

    Loader loader(options.conninfo, options.publication, options.load_jobs, *log,
                  options.client_queue_bytes,
                  std::chrono::milliseconds(int64_t(options.client_timeout_seconds * 1000)),
                  [&](size_t shard) { shards[shard]->layer.wake_from_other_thread(); });
    // The app's row webhook, one client (its thread, connections and cache) for every shard.
    std::unique_ptr<RowWebhook> row_webhook;
    if (options.row_webhook) {
        RowWebhookOptions webhook_options = *options.row_webhook;
        if (webhook_options.source_db_id.empty()) webhook_options.source_db_id = PQdb(sql.raw());
        row_webhook = std::make_unique<RowWebhook>(
            webhook_options, [&](size_t shard) { shards[shard]->layer.wake_from_other_thread(); });
        log::info("rows reach a token's user only once " + displayed_url(webhook_options.url) +
                  " authorises them");
    }
    // The hubs read the published tables at start and after schema changes, one at a time.
    pg::Connection catalog =
        pg::Connection::open({options.conninfo, false, "pgsync-serve catalog", {}});
    std::mutex catalog_mutex;
    auto read_tables = [&] {
        std::lock_guard lock(catalog_mutex);
        return load_published_tables(catalog, options.publication);
    };
    for (size_t i = 0; i < shard_count; ++i) {
        HubOptions hub_options;
        if (jwt) // tokens refreshed on a /v1/ws connection ({"type":"auth"})
            hub_options.verify_token = [&jwt](std::string_view token) {
                return jwt->verify(token, unix_now());
            };
        hub_options.shard = i;
        hub_options.row_webhook = row_webhook.get();
        hub_options.publication = options.publication;
        hub_options.storage_dir = options.storage_dir;
        hub_options.client_queue_bytes = options.client_queue_bytes;
        hub_options.tables = options.tables;
        Shard& shard = *shards[i];
        shard.hub_options = hub_options;
        shard.hub = std::make_unique<Hub>(shard.hub_options, *log, loader, metrics, read_tables,
                                          [&shard](Session& session) {
                                              shard.layer.wake(session);
                                          });
    }
    // Electric's HTTP shape API: one registry of shapes (their logs, one dispatcher) for every
    // shard; each shard answers its own connections' requests.
    electric::ShapeRegistryOptions registry_options;
    registry_options.conninfo = options.conninfo;
    registry_options.publication = options.publication;
    registry_options.dir = options.storage_dir + "/shapes";
    registry_options.snapshot_threads = options.load_jobs;
    registry_options.chunk_bytes = size_t(options.shape_chunk_bytes);
    registry_options.max_shapes = size_t(options.max_shapes);
    registry_options.tables = options.tables;
    registry = std::make_unique<electric::ShapeRegistry>(
        registry_options, *log, read_tables,
        [&](const std::vector<std::shared_ptr<electric::ElectricShape>>& changed) {
            for (auto& shard : shards) {
                shard->shapes->post_changed(changed);
                shard->layer.wake_from_other_thread();
            }
        });
    electric::ShapeApiOptions api_options;
    api_options.long_poll_seconds = options.long_poll_seconds;
    api_options.sse_seconds = options.sse_seconds;
    api_options.chunk_bytes = size_t(options.shape_chunk_bytes);
    electric::ShapeApi shape_api(*registry, api_options);
    for (auto& shard : shards) {
        ShapeHttpOptions http_options;
        http_options.api_key = options.api_key;
        http_options.jwt = jwt ? &*jwt : nullptr;
        http_options.insecure = options.insecure;
        http_options.row_webhook = row_webhook != nullptr;
        http_options.metrics = &metrics;
        http_options.max_held = size_t(options.max_clients);
        shard->shapes = std::make_unique<ShapeHttp>(shape_api, http_options);
        TokenHttpOptions token_options;
        token_options.metrics = &metrics;
        token_options.api_key = options.api_key;
        token_options.issuer = {options.jwt_secret, options.jwt_claim, options.jwt_issuer,
                                options.jwt_audience};
        shard->tokens = std::make_unique<TokenHttp>(token_options);
    }
    registry->start(); // its threads may now tell the shards what changed

    auto read_server_wal = [&](pg::Connection& conn) {
        pg::Result r = conn.exec("SELECT pg_catalog.pg_current_wal_insert_lsn()::text");
        if (auto lsn = Lsn::parse(PQgetvalue(r.raw(), 0, 0)))
            for (auto& shard : shards)
                shard->hub->set_server_wal(*lsn);
    };
    read_server_wal(sql);

    // The layers' connections call into the hubs until their contexts are gone: end them first,
    // whichever way this function is left, after the listener hands over no more.
    struct StopLayersFirst {
        Listener& listener;
        std::vector<std::unique_ptr<Shard>>& shards;
        ~StopLayersFirst() {
            listener.stop();
            for (auto& shard : shards)
                shard->layer.stop();
        }
    } stop_layers_first{listener, shards};

    // The ingest: the replication loop of pgsync-stream, writing native records into the log,
    // which it confirms to the server only once fsynced; or a replica's reader of its stream.
    StopFlag ingest_stop{0};
    std::exception_ptr ingest_error;
    std::atomic<bool> ingest_done{false};
    stream::StreamOptions stream_options;
    stream_options.conninfo = options.conninfo;
    stream_options.application_name = "pgsync-serve";
    stream_options.slot = options.slot;
    stream_options.publications = {options.publication};
    stream_options.format = "native";
    stream_options.status_interval_seconds = 10;
    // Clients read the log as it is written; only the slot's confirmation waits for syncs.
    stream_options.min_sync_interval = std::chrono::milliseconds(500);
    stream_options.stop = &ingest_stop;
    stream_options.before_confirm = [&](Lsn lsn) { mark.write(lsn); };
    std::thread ingest([&] {
        pthread_setname_np(pthread_self(), "pgsync-ingest"); // as top -H and gdb show it
        try {
            if (replica)
                replica->run(*log, ingest_stop);
            else
                stream::run_stream(stream_options, log->writer());
        } catch (...) {
            ingest_error = std::current_exception();
        }
        ingest_done = true;
        wake_all();
    });
    // Whichever way this function is left (a failed start included), the ingest stops and is
    // joined before what it uses goes away.
    struct JoinIngest {
        std::thread& thread;
        StopFlag& stop;
        ~JoinIngest() {
            stop = 1;
            if (thread.joinable()) thread.join();
        }
    } join_ingest{ingest, ingest_stop};

    std::atomic<bool> loop_failed{false};
    for (size_t i = 0; i < shard_count; ++i) {
        Shard& shard = *shards[i];
        WsLayerOptions layer_options;
        layer_options.shared = &layer_shared;
        layer_options.shapes = shard.shapes.get();
        layer_options.tokens = shard.tokens.get();
        layer_options.jwt = jwt ? &*jwt : nullptr;
        layer_options.api_key = options.api_key;
        layer_options.insecure = options.insecure;
        layer_options.allow_origins = options.allow_origins;
        layer_options.static_dir = options.static_dir;
        layer_options.idle_timeout_seconds = options.idle_timeout_seconds;
        layer_options.max_clients = size_t(options.max_clients);
        // A replica cut off from NATS still serves what its log holds, but is not ready: a load
        // balancer sends new clients to one that is current.
        layer_options.health = [&] {
            return !ingest_done.load() && (!replica || replica->connected());
        };
        // Another thread appended to the log or finished a load batch: the hub takes both, one
        // bounded slice at a time, so sockets are served between slices of a large backlog.
        layer_options.on_wake = [&shard] {
            if (shard.hub->service(kMaxSliceRecords)) shard.layer.wake_from_other_thread();
        };
        layer_options.should_stop = [&] {
            return (options.stop && *options.stop) || ingest_done.load() || loop_failed.load();
        };
        shard.layer.start(layer_options, *shard.hub);
    }
    // The server-wide chores, every 5 s on a thread of their own: a slow answer from the database
    // or a retention pass must not hold up an event loop.
    std::mutex chores_mutex;
    std::condition_variable chores_wake;
    bool chores_stop = false;
    std::thread chores([&] {
        pthread_setname_np(pthread_self(), "pgsync-chores");
        pg::Connection lag_conn;
        std::unique_lock lock(chores_mutex);
        while (!chores_wake.wait_for(lock, std::chrono::seconds(5), [&] { return chores_stop; })) {
            lock.unlock();
            metrics.log_bytes = log->size_bytes();
            try {
                log->enforce_retention(std::chrono::system_clock::now());
            } catch (const std::exception& e) {
                log::warning(std::string("could not drop old log segments: ") + e.what());
            }
            if (replica) metrics.replica_lag_messages = replica->lag_messages();
            try {
                if (!lag_conn)
                    lag_conn = pg::Connection::open({options.conninfo, false, "pgsync-serve", {}});
                if (!replica) { // a replica has no slot: pgsync-publish's reader owns it
                    pg::Result r = lag_conn.exec_params(
                        "SELECT (pg_catalog.pg_current_wal_lsn() - confirmed_flush_lsn)::bigint "
                        "FROM pg_catalog.pg_replication_slots WHERE slot_name = $1",
                        {options.slot});
                    if (PQntuples(r.raw()) == 1 && !PQgetisnull(r.raw(), 0, 0))
                        metrics.replication_lag_bytes = std::stoll(PQgetvalue(r.raw(), 0, 0));
                }
                read_server_wal(lag_conn);
            } catch (const std::exception& e) {
                // The lag gauge only: the replication connection reports its own failures.
                log::debug(std::string("could not read the slot's lag: ") + e.what());
                lag_conn.close(); // retried next time
            }
            lock.lock();
        }
    });
    struct StopChores {
        std::mutex& mutex;
        std::condition_variable& wake;
        bool& stop;
        std::thread& thread;
        ~StopChores() {
            {
                std::lock_guard lock(mutex);
                stop = true;
            }
            wake.notify_all();
            thread.join();
        }
    } stop_chores{chores_mutex, chores_wake, chores_stop, chores};

    // New connections go to the shards in turn: each is served by one thread for its lifetime.
    std::atomic<size_t> next_shard{0};
    listener.start([&](int fd) { shards[next_shard++ % shard_count]->layer.adopt(fd); });
    log::info("listening on " + bound_address + " with " + std::to_string(shard_count) +
              (shard_count == 1 ? " event-loop thread" : " event-loop threads"));
    if (!options.ready_file.empty()) {
        std::ofstream ready(options.ready_file, std::ios::trunc);
        ready << bound_address << '\n';
    }

    // Every shard runs until a stop signal or the ingest ends, then says goodbye to its clients.
    auto run_shard = [&](Shard& shard) {
        try {
            shard.layer.run();
            shard.layer.close_all(1001, "server shutting down");
        } catch (...) {
            shard.error = std::current_exception();
            loop_failed = true;
        }
    };
    std::vector<std::thread> loops;
    for (size_t i = 1; i < shard_count; ++i)
        loops.emplace_back([&, i] {
            pthread_setname_np(pthread_self(), ("pgsync-loop-" + std::to_string(i)).c_str());
            run_shard(*shards[i]);
        });
    run_shard(*shards[0]);
    for (auto& loop : loops)
        loop.join();
    listener.stop();
    ingest_stop = 1;
    ingest.join();
    for (auto& shard : shards)
        shard->layer.stop();
    for (auto& shard : shards)
        if (shard->error) std::rethrow_exception(shard->error);
    if (ingest_error) std::rethrow_exception(ingest_error);
}

} // namespace pgsync::serve
