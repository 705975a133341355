// pgsync-init's job: check the database, create or verify the publication, create the pgoutput
// slot with an exported snapshot, print one JSON line, and optionally hold the snapshot open.
#pragma once

#include "util/output_sink.h"

#include "util/stop_flag.h"

#include <csignal>
#include <string>
#include <vector>

namespace pgsync::init {

struct InitOptions {
    std::string conninfo;
    std::string slot;
    std::string publication;
    std::vector<std::string> tables;
    bool all_tables = false;
    bool hold = false;
    double hold_timeout_seconds = 3600;
    bool if_not_exists = false;
    bool drop = false;
    double create_timeout_seconds = 60;
    const StopFlag* stop = nullptr; // set by SIGINT/SIGTERM
};

// Runs the whole job, writing the one JSON line to `out`. Throws pgsync::Error on failure.
void run_init(const InitOptions& options, OutputSink& out);

} // namespace pgsync::init
