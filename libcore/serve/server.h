// pgsync-serve's job: read one replication slot into the durable change log (serve/change_log.h)
// and serve it over HTTP/WebSocket: filtered, resumable shapes on /v1/ws, raw change records on
// /v1/stream, /v1/health and /metrics. See pgsync-serve(1) for the protocol.
#pragma once

#include "config/config.h"
#include "serve/access/row_webhook.h"
#include "serve/ingest/replica_source.h"

#include <chrono>
#include "util/stop_flag.h"

#include <csignal>
#include <optional>
#include <cstdint>
#include <string>
#include <vector>

namespace pgsync::serve {

struct ServeOptions {
    std::string conninfo;
    std::string slot;
    // Instead of slot: a replica reads this NATS JetStream stream, which pgsync-publish writes
    // (serve/ingest/replica_source.h: nats://host:port[,host:port…]/STREAM).
    std::optional<ReplicaSource> source;
    std::string publication;
    std::string host = "127.0.0.1"; // an address (net/address.h resolves names); loopback only
    int port = 8080;                // with insecure; 0 picks a free port
    std::string storage_dir = "./pgsync-data";
    std::string jwt_secret; // HS256 secret (from --jwt-secret-env's variable)
    std::string api_key;    // for /v1/stream and /v1/token (from --api-key-env's variable)
    // Tokens from an identity provider (serve/access/auth.h JwtOptions): RS256/ES256 keys, where
    // the grants are, and the iss/aud every token must carry when set.
    std::string jwt_public_key_file;
    std::string jwks_file;
    std::string jwt_claim = "pgsync";
    std::string jwt_issuer;
    std::string jwt_audience;
    bool insecure = false;  // no auth at all: loopback only
    uint64_t retain_bytes = 1ull << 30;
    uint64_t segment_bytes = 64ull << 20; // log segment size (retention drops whole ones)
    std::chrono::seconds retain_age{7 * 24 * 3600};
    uint64_t client_queue_bytes = 4u << 20; // per client; past it the client is dropped (F1)
    double client_timeout_seconds = 30;     // a full queue not drained for this long: dropped
    int max_clients = 20000;
    int load_jobs = 2;                      // connections for initial loads
    int threads = 1;                        // event-loop threads (shards of the connections)
    std::vector<config::Table> tables;      // config's tables (live_queries allow-list)
    std::string ready_file;                 // written with the bound address once listening
    std::vector<std::string> allow_origins; // web pages allowed to connect (serve/access/origin.h)
    std::string static_dir;                 // files served at /app/ (the example pages)
    int idle_timeout_seconds = 0;           // ping idle clients, close unresponsive ones; 0: off
    // /v1/shape (Electric's HTTP shape API)
    int long_poll_seconds = 20;               // a live request is held this long at most
    int sse_seconds = 60;                     // an SSE response ends after this long
    uint64_t shape_chunk_bytes = 10ull << 20; // a snapshot chunk (one response) ends past this
    int max_shapes = 10000;                   // shapes held at once
    // serve.auth.row_webhook: each row reaches a token's user only once the app's webhook said
    // yes (source_db_id empty: the database's name)
    std::optional<RowWebhookOptions> row_webhook;
    const StopFlag* stop = nullptr;
};

// The CPUs this process may run on (its affinity mask, e.g. under taskset): the default --threads.
int available_cpus();

// Runs until a stop signal (returns) or a fatal error (pgsync::Error; kExitSlotLost when the slot
// was invalidated, as pgsync-stream). A replica (options.source) keeps serving while NATS is
// unreachable; it ends with an error when its stream was deleted or no longer holds what it needs.
void run_server(const ServeOptions& options);

} // namespace pgsync::serve
