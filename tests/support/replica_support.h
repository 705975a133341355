// A publisher for pgsync-serve replica tests that writes native change records into a JetStream
// stream in pgsync-publish's wire format (.pgsync/issue13-design.md), so that the replica tests do
// not depend on pgsync-publish (tests/support/nats_cluster.h starts the servers).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct __natsConnection;
struct __jsCtx;

namespace pgsync::test {

// A JetStream client that creates a stream and publishes native records into it as
// pgsync-publish does: one message per record, canonical copy first (Pgsync-Copy: 0), inserts
// also to a channel subject as a second copy (Pgsync-Copy: 1), ids and offsets as the design says.
class StreamWriter {
public:
    StreamWriter(const std::string& url, const std::string& stream);
    ~StreamWriter();
    void create_stream(int replicas = 1);
    void delete_stream();
    // Publishes each line of ndjson (pgsync-stream's native output), waiting for every ack; a
    // publish that fails (a leader election) is retried with its Nats-Msg-Id for a while.
    void publish(const std::string& ndjson);
    void publish_line(const std::string& line);
    uint64_t last_sequence();

private:
    std::string m_stream;
    __natsConnection* m_connection = nullptr;
    __jsCtx* m_js = nullptr;
    struct Tracker;
    std::unique_ptr<Tracker> m_tracker;
};

} // namespace pgsync::test
