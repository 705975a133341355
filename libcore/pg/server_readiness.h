// The server's prerequisites for logical replication with pgoutput: wal_level, the role's
// REPLICATION, a free replication slot and WAL sender, and output_plugin_libraries. Read and
// judged here only, in one wording, for pgsync-init's preflight and pgsync-config doctor alike.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgsync::pg {

class Connection;

// What the checks need from the server, as one query reads it.
struct ServerSettings {
    std::string wal_level;
    std::string role;     // current_user
    std::string role_sql; // quote_ident(current_user), for the fix
    bool superuser = false;
    bool replication = false;
    long long max_replication_slots = 0;
    long long replication_slots = 0; // in use
    long long max_wal_senders = 0;
    long long wal_senders = 0;                          // running
    std::optional<std::string> output_plugin_libraries; // absent on stock PostgreSQL
    std::string slot;         // the slot to be used (empty: none in particular)
    bool slot_exists = false; // it exists already, so no free slot is needed
};

enum class ReadinessStatus { Pass, Warn, Fail };

struct ReadinessCheck {
    ReadinessStatus status = ReadinessStatus::Pass;
    std::string name; // wal_level, replication_role, replication_slots, wal_senders, output_plugin
    std::string message; // what was found; for a problem, what is wrong and why (PostgreSQL style)
    std::string fix;     // a full sentence with what to run; empty on a pass
};

// Reads the settings. slot is the slot the caller will use (empty: none in particular). Throws
// pg::QueryError when the query fails.
ServerSettings read_server_settings(Connection& conn, const std::string& slot);

// One check per prerequisite, in the order of ReadinessCheck::name above. The last free slot or
// WAL sender is a warning: enough for now, but the next client will fail.
std::vector<ReadinessCheck> judge_server_settings(const ServerSettings& settings);

// Splits a list setting such as output_plugin_libraries ("pgoutput, 'test_decoding'") into names.
std::vector<std::string> split_setting_list(std::string_view value);

} // namespace pgsync::pg
