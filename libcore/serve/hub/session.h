// A client connection as the hub sees it: who it is, its subscriptions and its outbound queue of
// frames, capped in bytes (cdc-hard-cases F1). Owned by the WebSocket layer; used on its thread
// only, except the two atomics loaders read to pace themselves.
#pragma once

#include "changelog/log_offset.h"
#include "serve/access/auth.h"
#include "serve/hub/output.h"
#include "serve/shapes/record_meaning.h"

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace pgsync::serve {

// Bytes reserved in front of a loader's frames (kept so they render like every other frame).
inline constexpr size_t kFrameHeadroom = kOutputHeadroom;

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
    std::optional<LoadSnapshot> load; // after an initial load: the transactions it already saw
    // Set when the subscription ends: its queued or running loader job stops.
    std::shared_ptr<std::atomic<bool>> cancelled = std::make_shared<std::atomic<bool>>(false);
    uint64_t filter_cost = 0; // its share of the connection's evaluation budget
    bool touched = false;     // got a change in the transaction being dispatched
    uint64_t serial = 0;      // unique in the hub: the row webhook's verdicts find it by it
    // Frames waiting for the app's row webhook (serve/hub/hub_access.cpp), in order: a frame leaves
    // only when it and every one before it are decided.
    struct Gated {
        enum class Verdict { Waiting, Deliver, Denied, Failed };
        std::string text; // the frame's JSON text
        FrameMark mark;
        uint64_t ticket = 0;
        Verdict verdict = Verdict::Waiting;
        std::string reason;
        // The row asked about is one the client may hold from before (a delete's old row), so a
        // denial only tells it the key is gone, whatever on_deny says.
        bool old_row = false;
    };
    std::deque<Gated> gated;
    size_t gated_bytes = 0;
};

// A frame built away from the hot path (loader results, errors): its JSON text after
// kFrameHeadroom bytes, and what delivering it means. Queued into the session's OutputQueue.
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
    std::string consumer;    // /v1/stream: the name its acks are kept under, or empty
    bool row_checks = false; // each row waits for the app's row webhook (serve/hub/hub_access.cpp)
    void* transport = nullptr;

    OutputQueue output; // frames not yet written to the socket
    // output.bytes(), for the loader threads that pace a catch-up by it
    std::shared_ptr<std::atomic<size_t>> shared_queued_bytes =
        std::make_shared<std::atomic<size_t>>(0);
    std::shared_ptr<std::atomic<size_t>> in_flight = std::make_shared<std::atomic<size_t>>(0);
    std::shared_ptr<std::atomic<bool>> gone = std::make_shared<std::atomic<bool>>(false);
    // Set by the loader while a catch-up of this session waits for the client to read.
    std::shared_ptr<std::atomic<bool>> catch_up_parked = std::make_shared<std::atomic<bool>>(false);
    bool wake_requested = false; // a writable callback is already asked for

    std::map<std::string, std::unique_ptr<Subscription>> subscriptions;
    uint64_t filter_cost = 0; // the sum of its subscriptions' filter costs
    // Set when the session must end: the layer writes what is queued, then closes with these.
    int close_code = 0;
    std::string close_reason;
};

} // namespace pgsync::serve
