// ShapeApi: ElectricSQL's HTTP shape protocol over the registry, without any socket: a parsed
// request in, what to answer out (a reply with Electric's headers, or "wait for this shape" for a
// long-poll or a shape still loading, or an SSE stream's head). The event-loop side
// (serve/net/shape_http.cpp) asks again when the shape changes or the long-poll times out.
// Responses every client of a shape gets alike are byte-identical and carry cache-control and an
// etag, so an HTTP cache in front can serve them (examples/http-cache/).
#pragma once

#include "serve/access/auth.h"
#include "serve/electric/shape_registry.h"
#include "serve/electric/shape_request.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace pgsync::serve::electric {

struct HttpReply {
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers; // content-type included
    std::string body;
};

struct ShapeApiOptions {
    int long_poll_seconds = 20; // a live request is held this long, then answered up-to-date
    int sse_seconds = 60;       // an SSE response ends after this long
    size_t chunk_bytes = 10u << 20;
    int max_age = 60; // cache-control of catch-up responses
    int stale_age = 300;
};

// What the client's request carried besides the query (the event loop fills it in).
struct RequestInfo {
    std::string method; // GET, HEAD, DELETE, OPTIONS, POST
    std::string origin; // Origin header, or empty
    std::string if_none_match;
    std::string request_headers; // Access-Control-Request-Headers (OPTIONS)
    bool authorized = false;     // credentials decided what it may see (Vary: authorization)
};

struct Answer {
    enum class Kind { Reply, Wait, Stream };
    Kind kind = Kind::Reply;
    HttpReply reply;                      // Reply; Stream: the head (status and headers)
    std::shared_ptr<ElectricShape> shape; // Wait, Stream: the shape to watch
    LogOffset position;                   // Stream: what the client has
};

class ShapeApi {
public:
    ShapeApi(ShapeRegistry& registry, ShapeApiOptions options)
        : m_registry(registry), m_options(options) {}

    // A GET/HEAD of /v1/shape, or a POST subset (request parsed; principal null in insecure
    // mode). timed_out: the long-poll's time is up (answer even when nothing changed). subset:
    // the request's subset query once started (kept by the caller between calls).
    Answer answer(const ShapeRequest& request, const Principal* principal, const RequestInfo& info,
                  bool timed_out, std::shared_ptr<SubsetQuery>& subset);
    // DELETE /v1/shape: rotates the shape (202), 404 when there is none.
    HttpReply remove(const ShapeRequest& request, const Principal* principal,
                     const RequestInfo& info);
    // OPTIONS: the CORS preflight.
    HttpReply preflight(const RequestInfo& info) const;
    // An error reply with Electric's body: {"message":…,"errors":{field:[message]}} for 400s.
    HttpReply error(int status, const std::string& field, const std::string& message,
                    const RequestInfo& info) const;

    // The SSE events (data: …\n\n) for one slice of what the shape's log holds after position
    // (at most about chunk_bytes), ending with up-to-date; position moves. Empty when there is
    // nothing new. The caller asks again once the socket took them.
    std::string sse_events(ElectricShape& shape, LogOffset& position);

    const ShapeApiOptions& options() const { return m_options; }

private:
    void common_headers(HttpReply& reply, const RequestInfo& info) const;
    Answer subset_answer(ElectricShape& shape, const ShapeRequest& request, const RequestInfo& info,
                         std::shared_ptr<SubsetQuery>& subset, Answer& out);
    HttpReply data_reply(ElectricShape& shape, const ShapeRequest& request, const RequestInfo& info,
                         std::string body, LogOffset offset, bool up_to_date, bool has_data,
                         const std::string& cache_control) const;

    ShapeRegistry& m_registry;
    ShapeApiOptions m_options;
};

// Electric's next electric-cursor (§5.4): seconds since 2024-10-09 rounded up to the long-poll
// interval, or the client's cursor plus 1..3600 when that is not ahead of it.
uint64_t next_cursor(int64_t unix_seconds, int long_poll_seconds, std::optional<uint64_t> client);

} // namespace pgsync::serve::electric
