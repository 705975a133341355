// Counters for GET /metrics (Prometheus text format). Written by the WebSocket thread and the
// ingest thread, read by the WebSocket thread: atomics, no locks.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace pgsync::serve {

struct Metrics {
    std::atomic<uint64_t> clients{0};
    std::atomic<uint64_t> subscriptions{0};
    std::atomic<uint64_t> shapes{0};
    std::atomic<uint64_t> changes_total{0}; // row changes dispatched from the log
    std::atomic<uint64_t> frames_sent_total{0};
    std::atomic<uint64_t> clients_dropped_total{0};
    std::atomic<uint64_t> queue_bytes{0}; // all clients' outbound queues
    std::atomic<int64_t> replication_lag_bytes{0};
    std::atomic<int64_t> replica_lag_messages{-1}; // a replica's stream behind its log; -1: no replica
    std::atomic<uint64_t> log_bytes{0};
    std::atomic<uint64_t> loads_total{0};
    std::atomic<uint64_t> load_failures_total{0};
    std::atomic<uint64_t> shape_requests_total{0}; // /v1/shape requests (an HTTP cache's misses)
    std::atomic<uint64_t> shape_held{0};           // /v1/shape long-polls waiting now
    std::atomic<uint64_t> windows{0};              // ordered windows held (shared by subscribers)
    std::atomic<uint64_t> window_fills_total{0};   // queries that (re)filled a window
    std::atomic<uint64_t> tokens_issued_total{0};          // POST /v1/token answered with a token
    std::atomic<uint64_t> token_requests_refused_total{0}; // POST /v1/token refused (4xx, 501)

    std::string render() const;
};

} // namespace pgsync::serve
