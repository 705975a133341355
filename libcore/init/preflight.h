// Checks run before pgsync-init changes anything: server settings, privileges, capacity, plugin
// permission, tables and their replica identity (R3). Every problem is collected, not just the
// first.
#pragma once

#include "pg/connection.h"
#include "pg/identifier.h"
#include "util/error.h"

#include <string>
#include <vector>

namespace pgsync::init {

struct Problem {
    std::string message;
    std::string hint;
    int exit_code = kExitRuntime;
};

struct PreflightInput {
    std::vector<pg::ResolvedTable> tables; // empty with all_tables
    bool all_tables = false;
    std::string slot; // the slot to create or reuse: an existing one needs no free slot
};

std::vector<Problem> check_server(pg::Connection& conn, const PreflightInput& input);

// Every table of the database a FOR ALL TABLES publication would cover (top-level, permanent).
std::vector<pg::ResolvedTable> all_publishable_tables(pg::Connection& conn);

} // namespace pgsync::init
