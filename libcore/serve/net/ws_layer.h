// WsLayer: the libwebsockets side of one event-loop shard of pgsync-serve. Serves the connections
// the Listener hands it: HTTP (/v1/health, /metrics, /app/) and WebSocket upgrades (/v1/ws with a
// JWT, /v1/stream with an API key), refusing bad credentials with 401 before the upgrade; turns
// socket events into calls on the shard's Hub and writes each session's queue as the socket
// accepts it. Everything but adopt() and wake_from_other_thread() runs on the thread that calls
// run(); shards share only LayerShared.
#pragma once

#include "serve/access/auth.h"
#include "serve/access/origin.h"
#include "serve/metrics.h"

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace pgsync::serve {

class Hub;
struct Session;

// What the shards' layers share: the connection count --max-clients caps, and session ids that
// are unique over the server (the loader keys its queues by them).
struct LayerShared {
    std::atomic<size_t> connections{0}; // upgrading or upgraded, over every shard
    std::atomic<uint64_t> next_session_id{1};
};

class ShapeHttp;
class TokenHttp;

struct WsLayerOptions {
    LayerShared* shared = nullptr;
    ShapeHttp* shapes = nullptr; // serves /v1/shape (Electric's HTTP API) when set
    TokenHttp* tokens = nullptr; // serves POST /v1/token when set
    const JwtVerifier* jwt = nullptr; // null: no token is accepted on /v1/ws
    std::string api_key;
    bool insecure = false;
    std::vector<std::string> allow_origins; // pages allowed besides loopback (see access/origin.h)
    std::string static_dir;                 // served at /app/ when set
    int idle_timeout_seconds = 0;           // ping after half of it idle, close after all; 0: off
    size_t max_clients = 20000;
    size_t max_frame_bytes = 64 * 1024;
    std::function<bool()> health;      // true once streaming
    std::function<void()> on_wake;     // another thread called wake_from_other_thread()
    std::function<bool()> should_stop; // checked every tick
};

class WsLayer {
public:
    explicit WsLayer(Metrics& metrics);
    ~WsLayer();

    // Creates the context (no listening socket of its own: see adopt); throws pgsync::Error.
    void start(const WsLayerOptions& options, Hub& hub);
    // From any thread: serve the accepted connection fd from now on (closed when stopping).
    void adopt(int fd);
    void run(); // until should_stop
    // Closes every client with code and reason, serving the loop until they are gone (or 2 s).
    void close_all(int code, const std::string& reason);
    void stop();

    // From this thread: session has frames to write or must close.
    void wake(Session& session);
    // From any thread: run on_wake soon on the service thread.
    void wake_from_other_thread();

    struct Impl; // public for the libwebsockets callback in ws_layer.cpp

private:
    std::unique_ptr<Impl> m_impl;
};

} // namespace pgsync::serve
