// pgsync-snapshot's job: read tables consistently at one snapshot (pgsync-init's exported one, or a
// REPEATABLE READ transaction of its own) with COPY, and write one NDJSON record per row.
#pragma once

#include "snapshot/init_line.h"
#include "util/output_sink.h"

#include "util/stop_flag.h"

#include <csignal>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace pgsync::snapshot {

struct SnapshotOptions {
    std::string conninfo;
    std::vector<std::string> tables;
    std::string publication;
    int jobs = 1;
    bool numbers_as_strings = false;
    bool progress = false;
    std::optional<InitLine> init;       // from pgsync-init, when piped
    std::function<void()> release_init; // called once every worker has imported the snapshot
    const StopFlag* stop = nullptr;
};

struct SnapshotResult {
    std::string consistent_point;
    std::map<std::string, uint64_t> rows; // by table display name
};

// Writes the records and the final snapshot_end line to out, then syncs it.
SnapshotResult run_snapshot(const SnapshotOptions& options, OutputSink& out);

} // namespace pgsync::snapshot
