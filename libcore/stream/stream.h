// pgsync-stream's job: read a pgoutput slot and write every committed transaction as NDJSON
// records, confirming to the server only what the consumer acknowledged (or what is durable).
#pragma once

#include "util/chunk_sink.h"
#include "util/lsn.h"

#include "util/stop_flag.h"

#include <csignal>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace pgsync::stream {

struct StreamOptions {
    std::string conninfo;
    std::string application_name = "pgsync-stream";
    std::string slot;
    std::vector<std::string> publications;
    std::string ack_file; // empty: confirm what is written (stdout) or fsynced (file)
    std::string format = "native";
    Lsn start;            // 0/0: the slot's confirmed position
    Lsn endpos;           // invalid: stream until stopped
    bool no_loop = false; // exit on connection loss instead of reconnecting
    double status_interval_seconds = 10;
    std::string spill_dir; // large streamed transactions spill here
    size_t memory_budget_bytes = 16u << 20;
    size_t max_queued_bytes = 8u << 20; // output not yet written before reading pauses
    // The sink is synced at most this often (0: whenever the output queue drains, as
    // pg_recvlogical). pgsync-serve's log is read as soon as it is written, so only the slot's
    // confirmation waits for a sync there, and a sync per transaction would only delay the
    // next transaction's write.
    std::chrono::milliseconds min_sync_interval{0};
    // While the slot is more than a quarter of this much WAL behind, catch up through the SQL
    // decoding functions in batches of (at least) this much WAL, then stream (catch_up.cpp); 0:
    // always stream.
    uint64_t catch_up_batch_bytes = uint64_t{256} << 20;
    // Called with a position before it is first confirmed to the server, so a caller can record
    // it durably first (pgsync-serve notices a slot moved by someone else this way, F4).
    std::function<void(Lsn)> before_confirm;
    const StopFlag* stop = nullptr;   // SIGINT/SIGTERM
    const StopFlag* reopen = nullptr; // SIGHUP: reopen -o FILE
};

enum class StreamEnd { EndposReached, Stopped };

// Runs until --endpos, a stop signal, or an error (pgsync::Error; exit code kExitSlotLost when
// the slot is invalidated).
StreamEnd run_stream(const StreamOptions& options, ChunkSink& out);

} // namespace pgsync::stream
