// Server prerequisites for logical replication: one query, then a pure judgement with the fixes.
#include "pg/server_readiness.h"

#include "pg/connection.h"

namespace pgsync::pg {

namespace {

std::string in_quotes(std::string_view text) {
    return "\"" + std::string(text) + "\"";
}

// A severity from how many of a resource are left: none fails, the last one warns.
ReadinessStatus capacity_status(long long free) {
    return free <= 0   ? ReadinessStatus::Fail
           : free == 1 ? ReadinessStatus::Warn
                       : ReadinessStatus::Pass;
}

// "no free WAL sender: 1 of 1 in use", "one free WAL sender left: …", or just "… in use".
std::string capacity_message(ReadinessStatus status, const std::string& what, long long used,
                             long long max) {
    const std::string in_use = std::to_string(used) + " of " + std::to_string(max) + " in use";
    if (status == ReadinessStatus::Fail) return "no free " + what + ": " + in_use;
    if (status == ReadinessStatus::Warn) return "one free " + what + " left: " + in_use;
    return in_use;
}

} // namespace

std::vector<std::string> split_setting_list(std::string_view value) {
    std::vector<std::string> out;
    std::string current;
    auto flush = [&] {
        size_t b = current.find_first_not_of(" \t'\"");
        size_t e = current.find_last_not_of(" \t'\"");
        if (b != std::string::npos) out.push_back(current.substr(b, e - b + 1));
        current.clear();
    };
    for (char c : value) {
        if (c == ',')
            flush();
        else
            current += c;
    }
    flush();
    return out;
}

ServerSettings read_server_settings(Connection& conn, const std::string& slot) {
    Result r = conn.exec_params(
        "SELECT current_setting('wal_level'), current_user, quote_ident(current_user), "
        "r.rolsuper, r.rolreplication, "
        "current_setting('max_replication_slots')::int, "
        "(SELECT count(*) FROM pg_catalog.pg_replication_slots), "
        "current_setting('max_wal_senders')::int, "
        "(SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE backend_type = 'walsender'), "
        "(SELECT setting FROM pg_catalog.pg_settings WHERE name = 'output_plugin_libraries'), "
        "EXISTS (SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = $1) "
        "FROM pg_catalog.pg_roles r WHERE r.rolname = current_user",
        {slot}, "could not read server settings");
    ServerSettings s;
    s.wal_level = r.str(0, 0);
    s.role = r.str(0, 1);
    s.role_sql = r.str(0, 2);
    s.superuser = r.get(0, 3) == "t";
    s.replication = r.get(0, 4) == "t";
    s.max_replication_slots = std::stoll(r.str(0, 5));
    s.replication_slots = std::stoll(r.str(0, 6));
    s.max_wal_senders = std::stoll(r.str(0, 7));
    s.wal_senders = std::stoll(r.str(0, 8));
    if (!r.is_null(0, 9)) s.output_plugin_libraries = r.str(0, 9);
    s.slot = slot;
    s.slot_exists = !slot.empty() && r.get(0, 10) == "t";
    return s;
}

std::vector<ReadinessCheck> judge_server_settings(const ServerSettings& s) {
    std::vector<ReadinessCheck> out;
    const auto pass = [&](const char* name, std::string message) {
        out.push_back({ReadinessStatus::Pass, name, std::move(message), {}});
    };

    if (s.wal_level == "logical")
        pass("wal_level", "logical");
    else
        out.push_back(
            {ReadinessStatus::Fail, "wal_level",
             "wal_level is " + in_quotes(s.wal_level) + ", but logical decoding needs \"logical\"",
             "Run ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL."});

    if (s.superuser)
        pass("replication_role", "role " + in_quotes(s.role) + " is a superuser");
    else if (s.replication)
        pass("replication_role", "role " + in_quotes(s.role) + " has REPLICATION");
    else
        out.push_back({ReadinessStatus::Fail, "replication_role",
                       "role " + in_quotes(s.role) + " has neither REPLICATION nor superuser",
                       "Run ALTER ROLE " + s.role_sql +
                           " REPLICATION; as a superuser, or connect as a role that has it."});

    const std::string slots_in_use = std::to_string(s.replication_slots) + " of " +
                                     std::to_string(s.max_replication_slots) + " in use";
    if (s.slot_exists) {
        pass("replication_slots", slots_in_use + "; slot " + in_quotes(s.slot) + " already exists");
    } else {
        const ReadinessStatus status =
            capacity_status(s.max_replication_slots - s.replication_slots);
        out.push_back({status, "replication_slots",
                       capacity_message(status, "replication slot", s.replication_slots,
                                        s.max_replication_slots),
                       status == ReadinessStatus::Pass
                           ? ""
                           : "Run ALTER SYSTEM SET max_replication_slots = " +
                                 std::to_string(s.replication_slots + 2) +
                                 "; then restart PostgreSQL, or drop an unused slot with SELECT "
                                 "pg_drop_replication_slot('name')."});
    }

    const ReadinessStatus senders = capacity_status(s.max_wal_senders - s.wal_senders);
    out.push_back(
        {senders, "wal_senders",
         capacity_message(senders, "WAL sender", s.wal_senders, s.max_wal_senders),
         senders == ReadinessStatus::Pass
             ? ""
             : "Run ALTER SYSTEM SET max_wal_senders = " + std::to_string(s.wal_senders + 2) +
                   "; then restart PostgreSQL, or stop an idle replication client."});

    // output_plugin_libraries exists only on some builds; stock PostgreSQL allows any plugin.
    if (!s.output_plugin_libraries) {
        pass("output_plugin", "no such setting: any plugin is allowed");
    } else {
        const std::vector<std::string> names = split_setting_list(*s.output_plugin_libraries);
        bool allowed = false;
        std::string list; // the setting's names and pgoutput, as a list GUC is set
        for (const std::string& name : names) {
            if (name == "pgoutput") allowed = true;
            list += quote_literal(name) + ", ";
        }
        if (allowed)
            pass("output_plugin", "pgoutput is allowed by output_plugin_libraries");
        else
            out.push_back(
                {ReadinessStatus::Fail, "output_plugin",
                 "output plugin \"pgoutput\" is not allowed by output_plugin_libraries (" +
                     in_quotes(*s.output_plugin_libraries) + ")",
                 "Run ALTER SYSTEM SET output_plugin_libraries = " + list +
                     "'pgoutput'; then restart PostgreSQL."});
    }
    return out;
}

} // namespace pgsync::pg
