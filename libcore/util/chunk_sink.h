// ChunkSink: where the replication loop's output writer puts whole chunks of records. The one seam
// between pgsync-stream (stdout or a file, util/output_sink.h) and pgsync-serve (its durable log,
// serve/change_log.h).
#pragma once

#include <string_view>

namespace pgsync {

class ChunkSink {
public:
    virtual ~ChunkSink() = default;
    // Writes whole lines; throws pgsync::Error on failure.
    virtual void write(std::string_view data) = 0;
    // Makes everything written so far durable; positions are reported only after it returns.
    virtual void sync() = 0;
    // Reopens an output file after rotation (SIGHUP); a no-op where that means nothing.
    virtual void reopen() = 0;
};

} // namespace pgsync
