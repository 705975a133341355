// Checks a slot before streaming from it (S5, S6, S8): it exists, uses pgoutput in this database,
// is not invalidated, is not held by another process, and its publications exist. Never creates.
#pragma once

#include "pg/connection.h"
#include "util/error.h"
#include "util/lsn.h"

#include <string>
#include <vector>

namespace pgsync::stream {

struct SlotState {
    Lsn confirmed_flush;
    std::string active_pid; // empty when free
};

// Throws pgsync::Error (exit 1, or kExitSlotLost) with a hint for every problem but an active
// slot, which is returned for the caller to retry.
SlotState check_slot(pg::Connection& sql, const std::string& slot,
                     const std::vector<std::string>& publications);

// The error for a slot that can no longer stream (wal_status = lost, SQLSTATE 55000 at start).
Error slot_lost_error(const std::string& slot, const std::string& why);

} // namespace pgsync::stream
