// A small threaded HTTP/1.1 server on 127.0.0.1 for tests of HTTP clients (the row webhook): one
// thread per connection, keep-alive, and a handler that decides each answer from the request,
// including a delay, an error status or a body that is not JSON. It counts what it saw.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace pgsync::test {

struct HttpServerRequest {
    std::string method;
    std::string path;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
};

struct HttpServerResponse {
    int status = 200;
    std::string body;
    std::string content_type = "application/json";
    std::chrono::milliseconds delay{0}; // before the answer is written (cut short by the server's
                                        // destruction)
    bool close = false;                 // close the connection after this answer
};

class HttpServer {
public:
    using Handler = std::function<HttpServerResponse(const HttpServerRequest&)>;

    // Listens on 127.0.0.1 at a free port. The handler runs on the connection's thread, so it may
    // be called concurrently.
    explicit HttpServer(Handler handler);
    // Stops accepting, cuts delays short, closes every connection and joins every thread.
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    int port() const { return m_port; }
    std::string url(const std::string& path = "/") const;

    size_t requests() const;                 // requests read (each handed to the handler)
    size_t connections() const;              // connections accepted
    size_t max_concurrent() const;           // most requests between read and answered at one time
    std::vector<std::string> bodies() const; // of every request, in the order they were read
    // Waits until `count` requests have been read, at most `limit`; false on timeout.
    bool wait_for_requests(size_t count, std::chrono::milliseconds limit);

private:
    void accept_loop();
    void serve(int fd);

    Handler m_handler;
    int m_listen_fd = -1;
    int m_port = 0;

    mutable std::mutex m_mutex;
    std::condition_variable m_changed; // a request arrived, or the server stops
    bool m_stopping = false;
    std::vector<int> m_open_fds;
    std::vector<std::thread> m_threads; // connection threads
    size_t m_requests = 0, m_connections = 0, m_current = 0, m_max_concurrent = 0;
    std::vector<std::string> m_bodies;
    std::thread m_accept_thread;
};

// A port on 127.0.0.1 that nothing listens on (bound, then closed), for "connection refused".
int closed_port();

} // namespace pgsync::test
