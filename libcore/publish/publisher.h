// pgsync-publish's one entry point: native records from a descriptor (pgsync-stream's output)
// into a NATS JetStream stream, asynchronously with a bounded number in flight, writing each
// transaction's end_lsn to the ack file once JetStream stored it and everything before it.
#pragma once

#include "publish/subjects.h"
#include "util/lsn.h"
#include "util/stop_flag.h"

#include <cstdint>
#include <string>

namespace pgsync::config {
struct Config;
}

namespace pgsync::publish {

struct PublishOptions {
    std::string nats_urls;         // "nats://a:4222,nats://b:4222"
    std::string stream = "PGSYNC"; // the JetStream stream
    std::string ack_file;          // empty: no acknowledgements written
    bool create_stream = false;    // create the stream when it is missing
    int replicas = 1;              // for create_stream
    int64_t duplicate_window_seconds = 120;
    uint64_t max_in_flight = 1024;
    double ack_timeout_seconds = 10;
    SubjectLayout layout;
    const config::Config* config = nullptr; // its tables' channels route changes (may be null)
    const StopFlag* stop = nullptr;         // SIGINT/SIGTERM: finish what is in flight, exit 0
};

struct PublishStats {
    uint64_t records = 0;  // read from the input
    uint64_t messages = 0; // published (a record goes to one subject per channel)
    uint64_t skipped = 0;  // records already in the stream at start (or resent by the input)
    Lsn acknowledged;      // the last end_lsn written to the ack file
};

// Runs until the input ends or *stop is set, then waits for every publish in flight and writes
// the last acknowledgement. Throws pgsync::Error (after writing every acknowledgement JetStream
// allows, and none past a failure) when NATS is unreachable, the stream is missing or does not
// take our subjects, a publish is refused or times out, or the input is not native records.
PublishStats run_publish(const PublishOptions& options, int input_fd);

} // namespace pgsync::publish
