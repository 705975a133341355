// Replication-protocol commands on a replication=database connection: IDENTIFY_SYSTEM and
// CREATE_REPLICATION_SLOT with an exported snapshot, bounded by a deadline (S9, S10).
#pragma once

#include "pg/connection.h"
#include "util/lsn.h"

#include <optional>
#include <string>

namespace pgsync::pg {

struct SystemIdentity {
    std::string system_id;
    int timeline = 0;
    Lsn wal_position;
    std::string database;
};

SystemIdentity identify_system(Connection& replication);

struct CreatedSlot {
    std::string name;
    Lsn consistent_point;
    std::optional<std::string> snapshot; // exported snapshot name, valid while `replication` idles
    std::string plugin;
};

// Runs CREATE_REPLICATION_SLOT "name" LOGICAL plugin (SNAPSHOT 'export') and waits at most
// timeout_seconds. Returns nullopt on timeout after cancelling the command (the server then
// removes the not-yet-persistent slot). Throws QueryError for any server error.
std::optional<CreatedSlot> create_logical_slot(Connection& replication, const std::string& name,
                                               const std::string& plugin, double timeout_seconds);

// Slot names: lower-case letters, digits and underscores, at most 63 bytes (PostgreSQL's rule).
// Returns an empty string when valid, else what is wrong.
std::string check_slot_name(std::string_view name);

} // namespace pgsync::pg
