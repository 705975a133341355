// WsLayer: the libwebsockets side of pgsync-serve. Accepts HTTP (/v1/health, /metrics) and
// WebSocket upgrades (/v1/ws with a JWT, /v1/stream with an API key), refusing bad credentials
// with 401 before the upgrade; turns socket events into Hub calls and writes each session's queue
// as the socket accepts it. Everything runs on the thread that calls run().
#pragma once

#include "serve/access/auth.h"
#include "serve/access/origin.h"
#include "serve/metrics.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace pgsync::serve {

class Hub;
struct Session;

struct WsLayerOptions {
    std::string host;
    int port = 0;
    std::string jwt_secret;
    std::string api_key;
    bool insecure = false;
    std::vector<std::string> allow_origins; // pages allowed besides loopback (see access/origin.h)
    std::string static_dir;                 // served at /app/ when set
    int idle_timeout_seconds = 0;           // ping after half of it idle, close after all; 0: off
    size_t max_clients = 20000;
    size_t max_frame_bytes = 64 * 1024;
    std::function<bool()> health;      // true once streaming
    std::function<void()> on_wake;     // another thread called wake_from_other_thread()
    std::function<void()> on_tick;     // every 250 ms
    std::function<bool()> should_stop; // checked every tick
};

class WsLayer {
public:
    explicit WsLayer(Metrics& metrics);
    ~WsLayer();

    // Creates the context and listens; throws pgsync::Error when the address cannot be bound.
    void start(const WsLayerOptions& options, Hub& hub);
    std::string bound_address() const;
    void run();
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
