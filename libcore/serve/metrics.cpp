// The Prometheus text exposition of Metrics.
#include "serve/metrics.h"

namespace pgsync::serve {

namespace {
void add(std::string& out, const char* name, const char* type, const char* help, int64_t value) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
    out += name;
    out += ' ';
    out += std::to_string(value);
    out += '\n';
}
} // namespace

std::string Metrics::render() const {
    std::string out;
    add(out, "pgsync_serve_clients", "gauge", "Connected WebSocket clients.", int64_t(clients));
    add(out, "pgsync_serve_subscriptions", "gauge", "Active subscriptions.",
        int64_t(subscriptions));
    add(out, "pgsync_serve_shapes", "gauge", "Distinct shapes (table, filter, columns).",
        int64_t(shapes));
    add(out, "pgsync_serve_changes_total", "counter", "Row changes dispatched from the log.",
        int64_t(changes_total));
    add(out, "pgsync_serve_shape_requests_total", "counter",
        "Requests of /v1/shape (Electric's HTTP shape API) that reached the server.",
        int64_t(shape_requests_total));
    add(out, "pgsync_serve_tokens_issued_total", "counter", "Tokens issued by POST /v1/token.",
        int64_t(tokens_issued_total));
    add(out, "pgsync_serve_token_requests_refused_total", "counter",
        "POST /v1/token requests refused (bad API key, bad body, disabled).",
        int64_t(token_requests_refused_total));
    add(out, "pgsync_serve_shape_held_requests", "gauge", "/v1/shape long-polls waiting for a change.",
        int64_t(shape_held));
    add(out, "pgsync_serve_frames_sent_total", "counter", "Frames written to clients.",
        int64_t(frames_sent_total));
    add(out, "pgsync_serve_replication_lag_bytes", "gauge",
        "Bytes of WAL between the server's current position and the slot's confirmed position.",
        replication_lag_bytes);
    if (replica_lag_messages >= 0)
        add(out, "pgsync_serve_replica_lag_messages", "gauge",
            "Messages of the NATS JetStream stream (pgsync-serve --source) not yet in the log.",
            replica_lag_messages);
    add(out, "pgsync_serve_queue_bytes", "gauge", "Bytes queued for all clients.",
        int64_t(queue_bytes));
    add(out, "pgsync_serve_clients_dropped_total", "counter",
        "Clients closed because their queue passed the cap.", int64_t(clients_dropped_total));
    add(out, "pgsync_serve_log_bytes", "gauge", "Bytes in the change log.", int64_t(log_bytes));
    add(out, "pgsync_serve_loads_total", "counter", "Initial loads run.", int64_t(loads_total));
    add(out, "pgsync_serve_load_failures_total", "counter", "Initial loads that failed.",
        int64_t(load_failures_total));
    add(out, "pgsync_serve_windows", "gauge",
        "Ordered windows (table, filter, order, limit) kept, each shared by its subscribers.",
        int64_t(windows));
    add(out, "pgsync_serve_window_fills_total", "counter",
        "Queries that filled or refilled an ordered window.", int64_t(window_fills_total));
    return out;
}

} // namespace pgsync::serve
