// Checks of a live database against a configuration (pgsync-config doctor, validate --check-db):
// server settings, privileges, capacity, tables, columns, replica identity, indexes for live
// queries, publication coverage and slot health, each a pass/warn/fail line with the fix to run.
#pragma once

#include "config/config.h"
#include "pg/connection.h"

#include <string>
#include <vector>

namespace pgsync::config {

enum class CheckStatus { Pass, Warn, Fail };

struct CheckResult {
    CheckStatus status = CheckStatus::Pass;
    std::string name;    // the check: wal_level, replication_role, table, index, slot, ...
    std::string message; // PostgreSQL style: lower case, no trailing period
    std::string fix;     // what to run (empty on pass)
    Origin origin;       // the configuration value the check is about (line 0: the server)
};

// Runs every check against the database (conn already open with the pinned settings) and returns
// them all, in a stable order: server checks, then per table in configuration order, then the
// publication and the slot. A check whose query fails becomes a failed check; only a lost
// connection throws (pg::QueryError).
std::vector<CheckResult> check_database(pg::Connection& conn, const Config& config);

// "pass  wal_level: logical", "FAIL  table: …\n      fix: …\n      at: FILE:LINE:COLUMN\n".
std::string format_checks_text(const std::vector<CheckResult>& results);
// [{"status":"pass","name":…,"message":…,"fix":…,"file":…,"line":…,"column":…}, …]
std::string format_checks_json(const std::vector<CheckResult>& results);
// True when any check failed (the tools exit 1); warnings alone do not count.
bool has_failures(const std::vector<CheckResult>& results);

} // namespace pgsync::config
