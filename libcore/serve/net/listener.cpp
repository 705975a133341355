// Listener; see serve/net/listener.h.
#include "serve/net/listener.h"

#include "util/error.h"
#include "util/log.h"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

namespace pgsync::serve {

namespace {

[[noreturn]] void cannot_listen(const std::string& host, int port, const std::string& why) {
    throw Error("could not listen on " +
                    (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
                    std::to_string(port) + ": " + why,
                "Check that the address is this machine's and the port is free (another "
                "pgsync-serve?).");
}

} // namespace

Listener::Listener(const std::string& host, int port) {
    sockaddr_storage address{};
    socklen_t length = 0;
    int family = AF_INET;
    if (auto* v4 = reinterpret_cast<sockaddr_in*>(&address);
        inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(uint16_t(port));
        length = sizeof(sockaddr_in);
    } else if (auto* v6 = reinterpret_cast<sockaddr_in6*>(&address);
               inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
        family = AF_INET6;
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(uint16_t(port));
        length = sizeof(sockaddr_in6);
    } else {
        cannot_listen(host, port, "not an IPv4 or IPv6 address");
    }
    m_fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (m_fd < 0) cannot_listen(host, port, std::strerror(errno));
    const int on = 1;
    // A restarted server binds the port its predecessor's closing connections still hold.
    setsockopt(m_fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (family == AF_INET6) setsockopt(m_fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
    if (bind(m_fd, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        listen(m_fd, SOMAXCONN) != 0) {
        const std::string why = std::strerror(errno);
        close(m_fd);
        m_fd = -1;
        cannot_listen(host, port, why);
    }
    sockaddr_storage bound{};
    socklen_t bound_length = sizeof bound;
    getsockname(m_fd, reinterpret_cast<sockaddr*>(&bound), &bound_length);
    m_port = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                     : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
}

Listener::~Listener() {
    stop();
}

void Listener::start(std::function<void(int fd)> hand_off) {
    m_hand_off = std::move(hand_off);
    m_thread = std::thread([this] {
        pthread_setname_np(pthread_self(), "pgsync-accept");
        accept_loop();
    });
}

void Listener::stop() {
    m_stopping = true;
    // shutdown() wakes a thread blocked in accept() (it returns EINVAL); close() alone would not.
    if (m_fd >= 0) shutdown(m_fd, SHUT_RDWR);
    if (m_thread.joinable()) m_thread.join();
    if (m_fd >= 0) close(m_fd);
    m_fd = -1;
}

void Listener::accept_loop() {
    bool warned = false;
    while (!m_stopping) {
        const int fd = accept4(m_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (m_stopping) return;
            if (errno == EINTR || errno == ECONNABORTED || errno == EAGAIN) continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                // Out of descriptors: new clients wait in the backlog until some close.
                if (!warned)
                    log::warning(std::string("cannot accept connections: ") +
                                 std::strerror(errno) +
                                 "; raise the descriptor limit (ulimit -n) or lower --max-clients");
                warned = true;
                usleep(50 * 1000);
                continue;
            }
            if (errno == EINVAL) return; // shut down
            log::warning(std::string("accept failed: ") + std::strerror(errno));
            usleep(10 * 1000);
            continue;
        }
        warned = false;
        const int on = 1;
        // Frames are written whole and at once: Nagle would only hold the last one back.
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
        m_hand_off(fd);
    }
}

} // namespace pgsync::serve
