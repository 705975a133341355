// pgsync-init's preflight and pgsync-config doctor judge a server's prerequisites in one module
// (pg/server_readiness): against the same unready server they report the same problems in the
// same words, init as "error: … / hint: …", doctor as "FAIL  name: … / fix: …".
#include "config/doctor.h"
#include "pg_test.h"
#include "process.h"

#include <catch2/catch.hpp>

using namespace pgsync;
using namespace pgsync::test;

TEST_CASE("init and doctor report an unready server's settings in the same words",
          "[init][doctor]") {
    PrivateCluster cluster("wal_level = replica\nmax_replication_slots = 0\nmax_wal_senders = 0");
    cluster.connect().exec("CREATE ROLE \"Sync Role\" LOGIN; CREATE TABLE t (id int PRIMARY KEY); "
                           "GRANT SELECT ON t TO \"Sync Role\"");
    const std::string dsn = cluster.dsn() + " user='Sync Role'";

    auto conn = pg::Connection::open({dsn, false, "pgsync-tests", {}});
    config::Config config;
    config.file = "test.yaml";
    std::vector<config::CheckResult> failed;
    for (const auto& check : config::check_database(conn, config))
        if (check.status == config::CheckStatus::Fail) failed.push_back(check);
    std::vector<std::string> names;
    for (const auto& check : failed)
        names.push_back(check.name);
    REQUIRE(names == std::vector<std::string>{"wal_level", "replication_role", "replication_slots",
                                              "wal_senders"});
    CHECK(failed[1].fix ==
          "Run ALTER ROLE \"Sync Role\" REPLICATION; as a superuser, or connect as a role that "
          "has it.");

    auto init = run_process({tool_path("pgsync-init"), "-d", dsn, "-S", "s", "-P", "p", "-t", "t"});
    CHECK(init.exit_code == 1);
    for (const auto& check : failed) {
        INFO(init.err);
        CHECK(init.err.find("pgsync-init: error: " + check.message + "\nhint: " + check.fix +
                            "\n") != std::string::npos);
    }
}
