// Slot health checks.
#include "stream/slot_check.h"

namespace pgsync::stream {

Error slot_lost_error(const std::string& slot, const std::string& why) {
    return Error("replication slot \"" + slot + "\" can no longer stream: " + why,
                 "The server removed WAL the slot still needed, so changes are gone. Drop the slot "
                 "(pgsync-init --drop), create it again with pgsync-init --hold and take a new "
                 "snapshot with pgsync-snapshot.",
                 kExitSlotLost);
}

SlotState check_slot(pg::Connection& sql, const std::string& slot,
                     const std::vector<std::string>& publications) {
    pg::Result r = sql.exec_params(
        "SELECT coalesce(s.plugin, ''), s.slot_type, coalesce(s.database::text, ''), "
        "coalesce(s.active_pid::text, ''), coalesce(s.wal_status, ''), "
        "coalesce(s.confirmed_flush_lsn::text, ''), current_database() "
        "FROM pg_catalog.pg_replication_slots s WHERE s.slot_name = $1",
        {slot}, "could not look up the replication slot");
    if (r.rows() == 0)
        throw Error("replication slot \"" + slot + "\" does not exist",
                    "Create it with pgsync-init (and take a snapshot with pgsync-snapshot); "
                    "pgsync-stream never creates a slot, because a new slot would silently skip "
                    "every change made before it.");
    if (r.get(0, 1) != "logical" || r.get(0, 0) != "pgoutput")
        throw Error("replication slot \"" + slot + "\" is not a pgoutput logical slot (plugin \"" +
                        r.str(0, 0) + "\")",
                    "Create a slot with pgsync-init, which uses pgoutput.");
    if (r.get(0, 2) != r.get(0, 6))
        throw Error("replication slot \"" + slot + "\" belongs to database \"" + r.str(0, 2) +
                        "\", not \"" + r.str(0, 6) + "\"",
                    "Connect to the slot's database with -d.");
    if (r.get(0, 4) == "lost") throw slot_lost_error(slot, "wal_status is \"lost\"");

    for (const auto& pub : publications) {
        pg::Result p = sql.exec_params("SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = $1",
                                       {pub}, "could not look up the publication");
        if (p.rows() == 0)
            throw Error("publication \"" + pub + "\" does not exist",
                        "pgoutput reads publications as of the WAL it decodes, so creating it now "
                        "is not enough for changes already in the slot (cdc-hard-cases S8): create "
                        "the publication, then recreate the slot with pgsync-init and take a new "
                        "snapshot.");
    }
    SlotState state;
    if (auto lsn = Lsn::parse(r.get(0, 5))) state.confirmed_flush = *lsn;
    state.active_pid = r.str(0, 3);
    return state;
}

} // namespace pgsync::stream
