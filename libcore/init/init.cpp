// pgsync-init: the order of operations is the point (S8, S9, S10): checks, publication, slot on a
// replication connection with an exported snapshot, then an idle hold so the snapshot stays valid.
#include "init/init.h"

#include "init/preflight.h"
#include "init/publication.h"
#include "pg/identifier.h"
#include "pg/replication.h"
#include "util/log.h"

#include <nlohmann/json.hpp>

namespace pgsync::init {
namespace {

pg::Connection open_sql(const InitOptions& options) {
    return pg::Connection::open({options.conninfo, false, "pgsync-init", {}});
}

void emit(OutputSink& out, const nlohmann::ordered_json& line) {
    out.write(line.dump() + "\n");
}

// Slot state from pg_replication_slots, when the slot exists.
struct ExistingSlot {
    std::string plugin, database, confirmed_flush, active_pid, wal_status;
};

std::optional<ExistingSlot> find_slot(pg::Connection& conn, const std::string& slot) {
    pg::Result r = conn.exec_params(
        "SELECT coalesce(plugin, ''), coalesce(database::text, ''), "
        "coalesce(confirmed_flush_lsn::text, ''), coalesce(active_pid::text, ''), "
        "coalesce(wal_status, '') FROM pg_catalog.pg_replication_slots WHERE slot_name = $1",
        {slot}, "could not look up the replication slot");
    if (r.rows() == 0) return std::nullopt;
    return ExistingSlot{r.str(0, 0), r.str(0, 1), r.str(0, 2), r.str(0, 3), r.str(0, 4)};
}

void run_drop(const InitOptions& options, pg::Connection& conn, OutputSink& out) {
    auto slot = find_slot(conn, options.slot);
    if (!slot)
        throw Error("replication slot \"" + options.slot + "\" does not exist",
                    "List slots with: SELECT slot_name FROM pg_replication_slots;");
    if (!slot->active_pid.empty())
        throw Error("replication slot \"" + options.slot + "\" is active for PID " +
                        slot->active_pid,
                    "Stop the client streaming from it first (or pg_terminate_backend(" +
                        slot->active_pid + ") if it is stuck).");
    conn.exec_params("SELECT pg_catalog.pg_drop_replication_slot($1)", {options.slot},
                     "could not drop replication slot \"" + options.slot + "\"");
    log::info("dropped replication slot \"" + options.slot + "\"");
    bool pub_dropped = false;
    if (!options.publication.empty()) {
        pub_dropped = drop_publication_if_ours(conn, options.publication);
        if (pub_dropped) log::info("dropped publication \"" + options.publication + "\"");
    }
    nlohmann::ordered_json line = {{"slot", options.slot}, {"dropped", true}};
    if (!options.publication.empty()) {
        line["publication"] = options.publication;
        line["publication_dropped"] = pub_dropped;
    }
    emit(out, line);
}

// Lists the transactions a slot creation waits for, for the timeout message (S10).
std::string describe_blockers(pg::Connection& conn, int replication_pid) {
    pg::Result r = conn.exec_params(
        "SELECT pid, coalesce(extract(epoch FROM now() - xact_start)::bigint, 0), "
        "coalesce(state, ''), left(regexp_replace(coalesce(query, ''), '\\s+', ' ', 'g'), 80) "
        "FROM pg_catalog.pg_stat_activity "
        "WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid() AND pid <> $1 "
        "ORDER BY xact_start LIMIT 5",
        {std::to_string(replication_pid)}, "could not list blocking transactions");
    std::string out;
    for (int i = 0; i < r.rows(); ++i) {
        if (i) out += "; ";
        out += "PID " + r.str(i, 0) + " (transaction open " + r.str(i, 1) + " s, " + r.str(i, 2) +
               ": \"" + r.str(i, 3) + "\")";
    }
    return out.empty() ? "no transaction with an XID is open now" : out;
}

} // namespace

void run_init(const InitOptions& options, OutputSink& out) {
    if (std::string why = pg::check_slot_name(options.slot); !why.empty())
        throw usage_error("invalid slot name \"" + options.slot + "\": " + why);

    pg::Connection conn = open_sql(options);
    if (options.drop) return run_drop(options, conn, out);
    if (options.publication.empty()) throw usage_error("a publication name is required");

    std::vector<pg::ResolvedTable> tables;
    std::vector<Problem> problems;
    for (const auto& text : options.tables) {
        try {
            tables.push_back(pg::resolve_table(conn, text));
        } catch (const Error& e) {
            problems.push_back({e.what(), e.hint(), e.exit_code()});
        }
    }

    auto existing = find_slot(conn, options.slot);
    if (existing && !options.if_not_exists)
        throw Error("replication slot \"" + options.slot + "\" already exists",
                    "Use --if-not-exists to reuse it (without a snapshot), or --drop to remove it "
                    "first.");

    PreflightInput input{tables, options.all_tables, options.slot};
    for (auto& p : check_server(conn, input))
        problems.push_back(std::move(p));
    if (!problems.empty()) {
        // Report every problem of this phase, then fail on the last one.
        for (size_t i = 0; i + 1 < problems.size(); ++i)
            log::error(problems[i].message, problems[i].hint);
        // A table that does not exist is a usage error (exit 2), as in pgsync-snapshot.
        int code = kExitRuntime;
        for (const auto& p : problems)
            if (p.exit_code == kExitUsage) code = kExitUsage;
        Problem last = problems.back();
        throw Error(last.message, last.hint, code);
    }

    const bool created_publication =
        ensure_publication(conn, {options.publication, tables, options.all_tables});

    pg::ConnectOptions repl_options{options.conninfo, true, "pgsync-init", {}};
    // lock_timeout bounds the server-side wait for older transactions; the client deadline below
    // backs it up if the wait is not a lock wait.
    repl_options.settings.push_back(
        {"lock_timeout", std::to_string(int64_t(options.create_timeout_seconds * 1000)) + "ms"});
    pg::Connection replication = pg::Connection::open(repl_options);
    pg::SystemIdentity system = pg::identify_system(replication);

    nlohmann::ordered_json line = {
        {"slot", options.slot}, {"publication", options.publication}, {"plugin", "pgoutput"}};
    if (existing) {
        if (existing->plugin != "pgoutput")
            throw Error("replication slot \"" + options.slot + "\" uses plugin \"" +
                            existing->plugin + "\", not pgoutput",
                        "Use another slot name, or drop this slot with --drop.");
        if (existing->wal_status == "lost")
            throw Error("replication slot \"" + options.slot +
                            "\" is invalidated (wal_status = lost)",
                        "Drop it with --drop, create it again and take a new snapshot.");
        log::warning("replication slot \"" + options.slot +
                         "\" already exists: reusing it, no snapshot is exported",
                     "Changes before its confirmed position are not in any snapshot; use --drop "
                     "and run again for a fresh snapshot.");
        line["consistent_point"] = existing->confirmed_flush;
        line["snapshot"] = nullptr;
        line["existing"] = true;
        line["system_id"] = system.system_id;
        line["timeline"] = system.timeline;
        emit(out, line);
        return;
    }

    std::optional<pg::CreatedSlot> slot;
    try {
        slot = pg::create_logical_slot(replication, options.slot, "pgoutput",
                                       options.create_timeout_seconds + 2);
        if (!slot) throw pg::QueryError("timed out", "55P03");
    } catch (const pg::QueryError& e) {
        std::string blockers;
        if (e.sqlstate() == "55P03") blockers = describe_blockers(conn, replication.backend_pid());
        replication.close(); // the server drops a slot whose creation did not finish
        if (auto left = find_slot(conn, options.slot); left && left->active_pid.empty())
            conn.exec_params("SELECT pg_catalog.pg_drop_replication_slot($1)", {options.slot});
        if (created_publication) drop_publication_if_ours(conn, options.publication);
        if (e.sqlstate() == "55P03")
            throw Error("could not create replication slot \"" + options.slot +
                            "\": timed out after " +
                            std::to_string(int(options.create_timeout_seconds)) +
                            " s waiting for older transactions to end: " + blockers,
                        "Slot creation waits for every transaction that was open when it began. "
                        "End those transactions (or pg_terminate_backend(pid)), or raise "
                        "--create-timeout, and run pgsync-init again.");
        throw;
    }

    line["consistent_point"] = slot->consistent_point.str();
    line["snapshot"] =
        slot->snapshot ? nlohmann::ordered_json(*slot->snapshot) : nlohmann::ordered_json(nullptr);
    line["system_id"] = system.system_id;
    line["timeline"] = system.timeline;
    emit(out, line);
    log::info("created replication slot \"" + options.slot + "\" at " +
              slot->consistent_point.str());

    if (!options.hold) return;
    // The exported snapshot lives as long as this replication connection stays idle (S9).
    if (!out.is_pipe())
        log::info("holding snapshot " + slot->snapshot.value_or("") +
                  " until interrupted or --hold-timeout passes");
    switch (out.wait_reader_closed(options.hold_timeout_seconds, options.stop)) {
    case OutputSink::WaitResult::ReaderClosed:
        log::debug("the reader closed the pipe; releasing the snapshot");
        break;
    case OutputSink::WaitResult::TimedOut:
        log::warning("--hold-timeout passed; releasing the exported snapshot",
                     "A reader that has not imported it yet gets \"invalid snapshot identifier\".");
        break;
    case OutputSink::WaitResult::Stopped:
        log::info("interrupted; releasing the snapshot");
        break;
    }
}

} // namespace pgsync::init
