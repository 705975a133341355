// The server prerequisites' judgement, the one wording pgsync-init and pgsync-config doctor share:
// each setting passes, warns or fails with the fix to run, and list settings split into names.
#include "pg/server_readiness.h"

#include <catch2/catch.hpp>

using namespace pgsync::pg;

namespace {

ServerSettings ready() {
    ServerSettings s;
    s.wal_level = "logical";
    s.role = s.role_sql = "sync";
    s.replication = true;
    s.max_replication_slots = 10;
    s.replication_slots = 1;
    s.max_wal_senders = 10;
    s.wal_senders = 1;
    return s;
}

ReadinessCheck only(const ServerSettings& s, const std::string& name) {
    std::vector<ReadinessCheck> found;
    for (const auto& check : judge_server_settings(s))
        if (check.name == name) found.push_back(check);
    REQUIRE(found.size() == 1);
    return found[0];
}

} // namespace

TEST_CASE("a ready server passes every check, in a fixed order, with no fix", "[pg][readiness]") {
    auto checks = judge_server_settings(ready());
    REQUIRE(checks.size() == 5);
    const char* names[] = {"wal_level", "replication_role", "replication_slots", "wal_senders",
                           "output_plugin"};
    for (size_t i = 0; i < checks.size(); ++i) {
        CHECK(checks[i].name == names[i]);
        CHECK(checks[i].status == ReadinessStatus::Pass);
        CHECK(checks[i].fix.empty());
    }
    CHECK(checks[0].message == "logical");
    CHECK(checks[1].message == "role \"sync\" has REPLICATION");
    CHECK(checks[2].message == "1 of 10 in use");
    CHECK(checks[4].message == "no such setting: any plugin is allowed");
}

TEST_CASE("each missing prerequisite fails with what is wrong and a sentence saying what to run",
          "[pg][readiness]") {
    ServerSettings s = ready();
    s.wal_level = "replica";
    s.replication = false;
    s.role = "Sync";
    s.role_sql = "\"Sync\"";
    s.max_replication_slots = s.replication_slots = 4;
    s.max_wal_senders = s.wal_senders = 0;
    s.output_plugin_libraries = "'test_decoding', wal2json";
    auto wal = only(s, "wal_level");
    CHECK(wal.status == ReadinessStatus::Fail);
    CHECK(wal.message == "wal_level is \"replica\", but logical decoding needs \"logical\"");
    CHECK(wal.fix == "Run ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL.");
    auto role = only(s, "replication_role");
    CHECK(role.message == "role \"Sync\" has neither REPLICATION nor superuser");
    CHECK(role.fix ==
          "Run ALTER ROLE \"Sync\" REPLICATION; as a superuser, or connect as a role that has it.");
    auto slots = only(s, "replication_slots");
    CHECK(slots.status == ReadinessStatus::Fail);
    CHECK(slots.message == "no free replication slot: 4 of 4 in use");
    CHECK(slots.fix == "Run ALTER SYSTEM SET max_replication_slots = 6; then restart PostgreSQL, "
                       "or drop an unused slot with SELECT pg_drop_replication_slot('name').");
    auto senders = only(s, "wal_senders");
    CHECK(senders.message == "no free WAL sender: 0 of 0 in use");
    CHECK(senders.fix == "Run ALTER SYSTEM SET max_wal_senders = 2; then restart PostgreSQL, or "
                         "stop an idle replication client.");
    auto plugin = only(s, "output_plugin");
    CHECK(plugin.status == ReadinessStatus::Fail);
    CHECK(plugin.message == "output plugin \"pgoutput\" is not allowed by output_plugin_libraries "
                            "(\"'test_decoding', wal2json\")");
    CHECK(plugin.fix == "Run ALTER SYSTEM SET output_plugin_libraries = 'test_decoding', "
                        "'wal2json', 'pgoutput'; then restart PostgreSQL.");
}

TEST_CASE("the last free slot or sender warns, an existing slot needs no free one",
          "[pg][readiness]") {
    ServerSettings s = ready();
    s.replication_slots = 9;
    s.wal_senders = 9;
    CHECK(only(s, "replication_slots").status == ReadinessStatus::Warn);
    CHECK(only(s, "replication_slots").message == "one free replication slot left: 9 of 10 in use");
    CHECK(only(s, "wal_senders").message == "one free WAL sender left: 9 of 10 in use");
    s.replication_slots = 10;
    s.slot = "app_slot";
    s.slot_exists = true;
    CHECK(only(s, "replication_slots").status == ReadinessStatus::Pass);
    CHECK(only(s, "replication_slots").message ==
          "10 of 10 in use; slot \"app_slot\" already exists");
    s.superuser = true;
    CHECK(only(s, "replication_role").message == "role \"sync\" is a superuser");
    s.output_plugin_libraries = "pgoutput";
    CHECK(only(s, "output_plugin").message == "pgoutput is allowed by output_plugin_libraries");
}

TEST_CASE("list settings split on commas with quotes and spaces removed", "[pg][readiness]") {
    using V = std::vector<std::string>;
    CHECK(split_setting_list("pgoutput, test_decoding") == V{"pgoutput", "test_decoding"});
    CHECK(split_setting_list("'pgoutput', 'test_decoding', 'wal2json'") ==
          V{"pgoutput", "test_decoding", "wal2json"});
    CHECK(split_setting_list("\"pgoutput\"") == V{"pgoutput"});
    CHECK(split_setting_list("") == V{});
    CHECK(split_setting_list(" , ") == V{});
    CHECK(split_setting_list("test_decoding") == V{"test_decoding"});
}
