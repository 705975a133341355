// Listener: pgsync-serve's listening socket and the thread that accepts on it. Each connection is
// handed to one event-loop shard (serve/net/ws_layer.h), which owns it from then on: the shards
// share no socket, so none of them waits on another.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

namespace pgsync::serve {

class Listener {
public:
    // Binds host (an address, see net/address.h) and port (0 picks a free one) and listens;
    // throws pgsync::Error naming the address when it cannot.
    Listener(const std::string& host, int port);
    ~Listener(); // stop()
    Listener(const Listener&) = delete;
    Listener& operator=(const Listener&) = delete;

    int port() const { return m_port; }
    // Accepts on a thread of its own until stop(), handing each connection's descriptor
    // (nonblocking, TCP_NODELAY) to hand_off, which owns it from then on.
    void start(std::function<void(int fd)> hand_off);
    // Stops accepting and closes the socket; connections handed off are not touched.
    void stop();

private:
    void accept_loop();

    int m_fd = -1;
    int m_port = 0;
    std::atomic<bool> m_stopping{false};
    std::function<void(int)> m_hand_off;
    std::thread m_thread;
};

} // namespace pgsync::serve
