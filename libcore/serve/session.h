// A client connection as the hub sees it: who it is, its subscriptions and its outbound queue of
// frames, capped in bytes (cdc-hard-cases F1). Owned by the WebSocket layer; used on its thread
// only, except the two atomics loaders read to pace themselves.
#pragma once

#include "serve/auth.h"
#include "serve/log_offset.h"
#include "serve/xid_snapshot.h"

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace pgsync::serve {

// Bytes reserved in front of every frame for the WebSocket header (libwebsockets' LWS_PRE).
inline constexpr size_t kFrameHeadroom = 16;

struct ShapeEntry;
struct Session;

struct Subscription {
    enum class State { Loading, CatchingUp, Live };
    std::string id;
    std::string id_json; // the id as a JSON string token
    Session* session = nullptr;
    std::shared_ptr<ShapeEntry> shape; // null on /v1/stream (every record)
    State state = State::Loading;
    uint64_t generation = 0;        // matches loader results to this subscription
    LogOffset cursor;               // live: records after it are delivered (the last one queued)
    bool cursor_at_boundary = true; // cursor ends a transaction
    LogOffset delivered;            // the last offset written to the socket
    bool delivered_any = false;
    LogOffset acked;
    LogOffset announced; // the offset of the last up-to-date queued
    bool announced_any = false;
    std::optional<XidSnapshot> snapshot; // after an initial load: transactions it already saw
    Lsn snapshot_lsn;                    // ...in transactions committed up to here
    bool touched = false;                // got a change in the transaction being dispatched
};

struct Frame {
    std::string data;                     // kFrameHeadroom bytes, then the JSON text
    Subscription* subscription = nullptr; // whose delivered offset advances when written
    LogOffset offset;
    bool has_offset = false;
    bool up_to_date = false;
};

enum class Endpoint { Shapes, Raw };

struct Session {
    uint64_t id = 0;
    Endpoint endpoint = Endpoint::Shapes;
    Principal principal;
    bool insecure = false;
    std::string consumer; // /v1/stream: the name its acks are kept under, or empty
    void* transport = nullptr;

    std::deque<Frame> queue;
    size_t queued_bytes = 0;
    std::shared_ptr<std::atomic<size_t>> shared_queued_bytes =
        std::make_shared<std::atomic<size_t>>(0);
    std::shared_ptr<std::atomic<size_t>> in_flight = std::make_shared<std::atomic<size_t>>(0);
    std::shared_ptr<std::atomic<bool>> gone = std::make_shared<std::atomic<bool>>(false);
    bool wake_requested = false; // a writable callback is already asked for

    std::map<std::string, std::unique_ptr<Subscription>> subscriptions;
    // Set when the session must end: the layer writes what is queued, then closes with these.
    int close_code = 0;
    std::string close_reason;
};

} // namespace pgsync::serve
