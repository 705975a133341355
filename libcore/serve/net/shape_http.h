// ShapeHttp: the event-loop side of /v1/shape on one shard: reads a request's query and headers,
// authenticates it (API key, JWT, or --insecure), asks the ShapeApi what to answer, and either
// writes the reply, holds the request (a long-poll, or a shape still loading) until the shape
// changes or its time is up, or streams Server-Sent Events. Held requests cost no header buffer
// (lws's is released once the request is copied) and are found by shape when it changes.
#pragma once

#include "serve/access/auth.h"
#include "serve/electric/shape_api.h"
#include "serve/metrics.h"

#include <memory>
#include <chrono>
#include <mutex>
#include <queue>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

struct lws;

namespace pgsync::serve {

struct Metrics;

struct ShapeHttpOptions {
    Metrics* metrics = nullptr;
    std::string api_key;
    const JwtVerifier* jwt = nullptr; // null: no JWTs
    bool insecure = false;
    // serve.auth.row_webhook is set: a token's user may not use /v1/shape, which cannot wait for
    // the webhook's verdict on each row (the API key still may).
    bool row_webhook = false;
    size_t max_held = 20000; // long-polls waiting at once, over every shard (--max-clients)
};

struct HeldRequest; // per connection, owned by ShapeHttp

class ShapeHttp {
public:
    ShapeHttp(electric::ShapeApi& api, ShapeHttpOptions options);
    ~ShapeHttp();

    // lws callbacks for a connection whose request is /v1/shape. Non-zero closes it.
    int on_request(lws* wsi, HeldRequest*& held);
    // A POST's body as it arrives (complete: the end of it).
    int on_body(lws* wsi, HeldRequest* held, const char* data, size_t length, bool complete);
    int on_writeable(lws* wsi, HeldRequest* held);
    void on_closed(HeldRequest*& held);

    // Any thread: these shapes changed (the shard's wake follows).
    void post_changed(const std::vector<std::shared_ptr<electric::ElectricShape>>& shapes);
    // This shard's thread, when woken: answers the held requests of the shapes that changed.
    void service();
    // This shard's thread, every tick: answers the long-polls whose time is up, keeps SSE streams
    // alive and ends them.
    void tick();

private:
    int proceed(lws* wsi, HeldRequest& held);
    void respond(lws* wsi, HeldRequest& held, bool timed_out);
    void hold(HeldRequest& held);
    bool start_reply(lws* wsi, HeldRequest& held, electric::HttpReply& reply, bool stream);
    void unhold(HeldRequest& held);

    electric::ShapeApi& m_api;
    ShapeHttpOptions m_options;
    std::mutex m_inbox_mutex;
    std::vector<std::shared_ptr<electric::ElectricShape>> m_inbox;
    std::unordered_map<const electric::ElectricShape*, std::vector<HeldRequest*>> m_held;
    uint64_t m_next_id = 1;
    std::unordered_map<uint64_t, HeldRequest*> m_requests; // every request not yet closed
    using Deadline = std::pair<std::chrono::steady_clock::time_point, uint64_t>;
    std::priority_queue<Deadline, std::vector<Deadline>, std::greater<Deadline>> m_deadlines;
};

} // namespace pgsync::serve
