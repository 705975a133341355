// Helpers for pgsync-stream integration tests: a publication and slot made the way pgsync-init
// makes them, a bounded run to the current WAL position, and records parsed from NDJSON.
#pragma once

#include "pg/connection.h"
#include "process.h"

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace pgsync::test {

struct StreamFixture {
    std::string slot;
    std::string publication;
};

// Creates the publication FOR TABLE tables (publish_via_partition_root) and then a pgoutput slot.
StreamFixture make_stream_fixture(pg::Connection& db, const std::vector<std::string>& tables);
void drop_stream_fixture(pg::Connection& db, const StreamFixture& fixture);

// The server's current WAL insert position, for --endpos.
std::string current_wal_lsn(pg::Connection& db);

// Runs pgsync-stream for the fixture until the WAL position it had when called (--no-loop).
ProcessResult stream_to_now(pg::Connection& db, const StreamFixture& fixture,
                            const std::vector<std::string>& extra_args = {},
                            const ProcessOptions& options = {});

std::vector<nlohmann::json> parse_ndjson(const std::string& text);
// The records of one kind ("insert", "commit", …) in order.
std::vector<nlohmann::json> records_of(const std::vector<nlohmann::json>& records,
                                       const std::string& op);

} // namespace pgsync::test
