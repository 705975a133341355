// pgsync-config doctor's database checks against a real PostgreSQL: each check fails, warns and
// passes with its exact status, and its message and fix name what is wrong and what to run.
#include "config/doctor.h"
#include "config/load.h"
#include "pg_test.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace pgsync;
using namespace pgsync::config;
using namespace pgsync::test;

namespace {

Value<std::string> value(const std::string& text, int line = 1) {
    return {text, true, {"test.yaml", line, 3}};
}

Table table(const std::string& name,
            std::vector<std::vector<std::pair<std::string, std::string>>> queries = {}) {
    Table t;
    t.name = value(name, 10);
    int line = 20;
    for (const auto& query : queries) {
        LiveQuery live;
        live.origin = {"test.yaml", line, 5};
        for (const auto& [column, op] : query)
            live.conditions.push_back({value(column, line), value(op, line)});
        t.live_queries.push_back(std::move(live));
        ++line;
    }
    return t;
}

Config config_of(std::vector<Table> tables, const std::string& publication = {},
                 const std::string& slot = {}) {
    Config c;
    c.file = "test.yaml";
    c.tables = std::move(tables);
    if (!publication.empty()) c.source.publication = value(publication, 3);
    if (!slot.empty()) c.source.slot = value(slot, 4);
    return c;
}

// The results of one check, in order.
std::vector<CheckResult> named(const std::vector<CheckResult>& results, const std::string& name) {
    std::vector<CheckResult> out;
    for (const auto& r : results)
        if (r.name == name) out.push_back(r);
    return out;
}

CheckResult only(const std::vector<CheckResult>& results, const std::string& name) {
    auto found = named(results, name);
    INFO(format_checks_text(results));
    REQUIRE(found.size() == 1);
    return found[0];
}

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

} // namespace

TEST_CASE("doctor: a logical-ready server passes wal_level, role and plugin checks",
          "[config][doctor]") {
    auto db = connect_test_db();
    auto results = check_database(db, config_of({}));
    auto wal = only(results, "wal_level");
    CHECK(wal.status == CheckStatus::Pass);
    CHECK(wal.message == "logical");
    CHECK(only(results, "replication_role").status == CheckStatus::Pass);
    CHECK(contains(only(results, "replication_role").message, "is a superuser"));
    auto plugin = only(results, "output_plugin");
    CHECK(plugin.status == CheckStatus::Pass);
    CHECK(plugin.message == "no such setting: any plugin is allowed");
    CHECK(only(results, "replication_slots").status == CheckStatus::Pass);
    CHECK(only(results, "wal_senders").status == CheckStatus::Pass);
    CHECK(contains(format_checks_text(results), "pass  wal_level: logical\n"));
}

TEST_CASE("doctor: a role without REPLICATION fails with the ALTER ROLE to run",
          "[config][doctor]") {
    auto db = connect_test_db();
    const std::string plain = unique_name("doc_role"), replicator = unique_name("doc_repl");
    db.exec("CREATE ROLE " + plain + " LOGIN; CREATE ROLE " + replicator + " LOGIN REPLICATION");
    {
        auto conn =
            pg::Connection::open({test_dsn() + " user=" + plain, false, "pgsync-tests", {}});
        auto role = only(check_database(conn, config_of({})), "replication_role");
        CHECK(role.status == CheckStatus::Fail);
        CHECK(role.message == "role \"" + plain + "\" has neither REPLICATION nor superuser");
        CHECK(contains(role.fix, "ALTER ROLE " + plain + " REPLICATION"));
    }
    {
        auto conn =
            pg::Connection::open({test_dsn() + " user=" + replicator, false, "pgsync-tests", {}});
        auto role = only(check_database(conn, config_of({})), "replication_role");
        CHECK(role.status == CheckStatus::Pass);
        CHECK(role.message == "role \"" + replicator + "\" has REPLICATION");
    }
    db.exec("DROP ROLE " + plain + "; DROP ROLE " + replicator);
}

TEST_CASE("doctor: a missing table fails and its other checks are skipped", "[config][doctor]") {
    auto db = connect_test_db();
    const std::string t = unique_name("doc_missing");
    auto results = check_database(db, config_of({table(t, {{{"id", "="}}})}));
    auto found = only(results, "table");
    CHECK(found.status == CheckStatus::Fail);
    CHECK(found.message == "table \"" + t + "\" does not exist");
    CHECK(found.origin.line == 10);
    CHECK(named(results, "columns").empty());
    CHECK(named(results, "index").empty());
    CHECK(has_failures(results));
}

TEST_CASE("doctor: configured and filtered columns must exist in the table", "[config][doctor]") {
    auto db = connect_test_db();
    const std::string t = unique_name("doc_cols");
    db.exec("CREATE TABLE " + t + " (id int PRIMARY KEY, body text)");
    Table configured = table(t, {{{"author", "="}}});
    configured.columns = std::vector<Value<std::string>>{value("id", 11), value("nope", 12)};
    auto columns = only(check_database(db, config_of({configured})), "columns");
    CHECK(columns.status == CheckStatus::Fail);
    CHECK(columns.message == "columns \"nope\", \"author\" of table public." + t + " do not exist");
    CHECK(columns.origin.line == 12);

    configured = table(t, {{{"body", "="}}});
    configured.columns = std::vector<Value<std::string>>{value("id", 11), value("body", 12)};
    auto results = check_database(db, config_of({configured}));
    CHECK(only(results, "table").status == CheckStatus::Pass);
    CHECK(only(results, "table").message == "public." + t + " exists");
    CHECK(only(results, "columns").status == CheckStatus::Pass);
    CHECK(only(results, "columns").message == "all 2 configured columns exist in public." + t);
}

TEST_CASE("doctor: replica identity NOTHING, or DEFAULT without a key, fails (R3)",
          "[config][doctor]") {
    auto db = connect_test_db();
    const std::string nothing = unique_name("doc_ri_n"), nopk = unique_name("doc_ri_d");
    db.exec("CREATE TABLE " + nothing + " (id int PRIMARY KEY); ALTER TABLE " + nothing +
            " REPLICA IDENTITY NOTHING; CREATE TABLE " + nopk + " (a int, b text)");
    auto results = check_database(db, config_of({table(nothing), table(nopk)}));
    auto identity = named(results, "replica_identity");
    REQUIRE(identity.size() == 2);
    CHECK(identity[0].status == CheckStatus::Fail);
    CHECK(identity[0].message == "table public." + nothing +
                                     " has REPLICA IDENTITY NOTHING: UPDATE and DELETE would fail "
                                     "once it is published");
    CHECK(contains(identity[0].fix, "ALTER TABLE public." + nothing + " REPLICA IDENTITY FULL"));
    CHECK(identity[1].status == CheckStatus::Fail);
    CHECK(contains(identity[1].message, "has REPLICA IDENTITY DEFAULT but no primary key"));
    CHECK(contains(identity[1].fix, "add a primary key"));

    auto keys = named(results, "primary_key");
    REQUIRE(keys.size() == 2);
    CHECK(keys[0].status == CheckStatus::Pass);
    CHECK(keys[0].message == "public." + nothing + " has primary key (id)");
    CHECK(keys[1].status == CheckStatus::Warn);
    CHECK(keys[1].message == "table public." + nopk + " has no primary key");
    CHECK(keys[1].fix == "ALTER TABLE public." + nopk + " ADD PRIMARY KEY (…)");
}

TEST_CASE("doctor: filters on non-key columns warn without FULL and pass with it",
          "[config][doctor]") {
    auto db = connect_test_db();
    const std::string t = unique_name("doc_ri_f");
    db.exec("CREATE TABLE " + t + " (id int PRIMARY KEY, room text, at int)");
    auto config = config_of({table(t, {{{"id", "="}}, {{"room", "="}}})});
    auto identity = only(check_database(db, config), "replica_identity");
    CHECK(identity.status == CheckStatus::Warn);
    CHECK(identity.message ==
          "live queries filter on non-key column \"room\" but table public." + t +
              " has REPLICA IDENTITY DEFAULT (key: id): deleted rows carry only the key, so these "
              "filters cannot be evaluated on deletes");
    CHECK(identity.fix == "ALTER TABLE public." + t + " REPLICA IDENTITY FULL");
    CHECK(identity.origin.line == 21);

    auto key_only =
        only(check_database(db, config_of({table(t, {{{"id", "="}}})})), "replica_identity");
    CHECK(key_only.status == CheckStatus::Pass);
    CHECK(key_only.message == "public." + t + " has REPLICA IDENTITY DEFAULT (key: id)");

    db.exec("ALTER TABLE " + t + " REPLICA IDENTITY FULL");
    identity = only(check_database(db, config), "replica_identity");
    CHECK(identity.status == CheckStatus::Pass);
    CHECK(identity.message == "public." + t + " has REPLICA IDENTITY FULL");
}

TEST_CASE(
    "doctor: a live query needs a btree index with its equality columns then its range column",
    "[config][doctor]") {
    auto db = connect_test_db();
    const std::string t = unique_name("doc_idx");
    db.exec("CREATE TABLE " + t +
            " (id int PRIMARY KEY, room text, author text, at int, "
            "\"select\" int); ALTER TABLE " +
            t + " REPLICA IDENTITY FULL");
    auto config =
        config_of({table(t, {{{"room", "="}, {"author", "="}, {"at", ">="}, {"at", "<"}}})});

    auto index = only(check_database(db, config), "index");
    CHECK(index.status == CheckStatus::Warn);
    CHECK(index.message == "no index serves live query (room =, author =, at >=, at <) on public." +
                               t + ": its initial load would scan the whole table");
    CHECK(index.fix == "CREATE INDEX CONCURRENTLY ON public." + t + " (room, author, at)");
    CHECK(index.origin.line == 20);

    // The range column in second place, a partial index and a hash index do not serve it.
    db.exec("CREATE INDEX " + t + "_wrong ON " + t + " (room, at, author)");
    db.exec("CREATE INDEX " + t + "_partial ON " + t + " (author, room, at) WHERE at > 0");
    db.exec("CREATE INDEX " + t + "_hash ON " + t + " USING hash (room)");
    CHECK(only(check_database(db, config), "index").status == CheckStatus::Warn);

    // Equality columns in any order, then the range column, then anything.
    db.exec("CREATE INDEX " + t + "_good ON " + t + " (author, room, at, id)");
    index = only(check_database(db, config), "index");
    CHECK(index.status == CheckStatus::Pass);
    CHECK(index.message ==
          "index \"" + t + "_good\" serves live query (room =, author =, at >=, at <) on public." +
              t);

    // Keywords are quoted in the CREATE INDEX to run.
    auto keyword = only(check_database(db, config_of({table(t, {{{"select", "="}}})})), "index");
    CHECK(keyword.status == CheckStatus::Warn);
    CHECK(keyword.fix == "CREATE INDEX CONCURRENTLY ON public." + t + " (\"select\")");
}

TEST_CASE("doctor: the publication must exist and cover every table, partitions included",
          "[config][doctor]") {
    auto db = connect_test_db();
    const std::string a = unique_name("doc_pub_a"), b = unique_name("doc_pub_b"),
                      parent = unique_name("doc_pub_p"), p = unique_name("doc_pub");
    db.exec("CREATE TABLE " + a + " (id int PRIMARY KEY); CREATE TABLE " + b +
            " (id int PRIMARY KEY); "
            "CREATE TABLE " +
            parent +
            " (id int PRIMARY KEY) PARTITION BY RANGE (id); "
            "CREATE TABLE " +
            parent + "_1 PARTITION OF " + parent + " FOR VALUES FROM (0) TO (100)");

    auto missing = only(check_database(db, config_of({table(a), table(b)}, p)), "publication");
    CHECK(missing.status == CheckStatus::Fail);
    CHECK(missing.message == "publication \"" + p + "\" does not exist");
    CHECK(contains(missing.fix,
                   "CREATE PUBLICATION " + p + " FOR TABLE public." + a + ", public." + b));
    CHECK(missing.origin.line == 3);

    db.exec("CREATE PUBLICATION " + p + " FOR TABLE " + a);
    auto partial = only(check_database(db, config_of({table(a), table(b)}, p)), "publication");
    CHECK(partial.status == CheckStatus::Fail);
    CHECK(partial.message == "publication \"" + p + "\" does not cover public." + b);
    CHECK(contains(partial.fix, "ALTER PUBLICATION " + p + " ADD TABLE public." + b));

    db.exec("ALTER PUBLICATION " + p + " ADD TABLE " + b + ", " + parent);
    auto covered = only(
        check_database(db, config_of({table(a), table(b), table(parent), table(parent + "_1")}, p)),
        "publication");
    CHECK(covered.status == CheckStatus::Pass);
    CHECK(covered.message == "publication \"" + p + "\" covers all 4 configured tables");

    // Published via the root, a partition is still covered.
    db.exec("ALTER PUBLICATION " + p + " SET (publish_via_partition_root = true)");
    CHECK(only(check_database(db, config_of({table(parent + "_1")}, p)), "publication").status ==
          CheckStatus::Pass);

    db.exec("ALTER PUBLICATION " + p + " SET (publish = 'insert, update')");
    auto operations = only(check_database(db, config_of({table(a)}, p)), "publication");
    CHECK(operations.status == CheckStatus::Warn);
    CHECK(operations.message == "publication \"" + p + "\" does not publish delete, truncate");
    db.exec("DROP PUBLICATION " + p);
}

TEST_CASE("doctor: a configured slot is checked for existence, plugin and retained WAL",
          "[config][doctor]") {
    auto db = connect_test_db();
    const std::string slot = unique_name("doc_slot");
    auto missing = only(check_database(db, config_of({}, {}, slot)), "slot");
    CHECK(missing.status == CheckStatus::Warn);
    CHECK(missing.message == "replication slot \"" + slot + "\" does not exist");
    CHECK(contains(missing.fix, "create it with pgsync-init"));
    CHECK(named(check_database(db, config_of({})), "slot").empty());

    db.exec_params("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", {slot});
    auto results = check_database(db, config_of({}, {}, slot));
    auto present = only(results, "slot");
    CHECK(present.status == CheckStatus::Pass);
    CHECK(present.message ==
          "replication slot \"" + slot + "\": pgoutput, wal_status \"reserved\", not active");
    auto wal = only(results, "slot_wal");
    CHECK(wal.status == CheckStatus::Pass);
    CHECK(contains(wal.message, "replication slot \"" + slot + "\" retains "));
    CHECK(contains(wal.message, " bytes)"));
    CHECK(contains(only(results, "replication_slots").message,
                   "slot \"" + slot + "\" already exists"));

    const std::string other = unique_name("doc_slot_td");
    db.exec_params("SELECT pg_create_logical_replication_slot($1, 'test_decoding')", {other});
    auto wrong = only(check_database(db, config_of({}, {}, other)), "slot");
    CHECK(wrong.status == CheckStatus::Fail);
    CHECK(wrong.message ==
          "replication slot \"" + other + "\" uses plugin \"test_decoding\", not pgoutput");
    db.exec_params("SELECT pg_drop_replication_slot($1)", {slot});
    db.exec_params("SELECT pg_drop_replication_slot($1)", {other});
}

TEST_CASE("doctor: wal_level replica and no free slots or senders fail", "[config][doctor]") {
    PrivateCluster cluster("wal_level = replica\nmax_replication_slots = 0\nmax_wal_senders = 0");
    auto conn = cluster.connect();
    auto results = check_database(conn, config_of({}));
    auto wal = only(results, "wal_level");
    CHECK(wal.status == CheckStatus::Fail);
    CHECK(wal.message == "wal_level is \"replica\", but logical decoding needs \"logical\"");
    CHECK(wal.fix == "Run ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL.");
    auto slots = only(results, "replication_slots");
    CHECK(slots.status == CheckStatus::Fail);
    CHECK(slots.message == "no free replication slot: 0 of 0 in use");
    CHECK(contains(slots.fix, "ALTER SYSTEM SET max_replication_slots = 2"));
    auto senders = only(results, "wal_senders");
    CHECK(senders.status == CheckStatus::Fail);
    CHECK(senders.message == "no free WAL sender: 0 of 0 in use");
    CHECK(contains(senders.fix, "max_wal_senders"));

    const std::string text = format_checks_text(results);
    CHECK(contains(
        text, "FAIL  wal_level: wal_level is \"replica\", but logical decoding needs \"logical\"\n"
              "      fix: Run ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL.\n"));
    auto json = nlohmann::json::parse(format_checks_json(results));
    CHECK(json[0]["status"] == "fail");
    CHECK(json[0]["name"] == "wal_level");
}

TEST_CASE("doctor: a lost slot fails with drop, recreate, re-snapshot (S5), the last slot and "
          "sender warn",
          "[config][doctor]") {
    PrivateCluster cluster(
        "max_slot_wal_keep_size = 1MB\nmax_wal_size = 32MB\nmin_wal_size = 32MB\n"
        "max_replication_slots = 2\nmax_wal_senders = 1");
    auto conn = cluster.connect();
    conn.exec("CREATE TABLE t (id int PRIMARY KEY, v text)");
    conn.exec("SELECT pg_create_logical_replication_slot('s', 'pgoutput')");
    for (int i = 0; i < 4; ++i) {
        conn.exec("INSERT INTO t SELECT g + " + std::to_string(i * 20000) +
                  ", repeat('x', 200) FROM generate_series(1, 20000) g");
        conn.exec("SELECT pg_switch_wal(); CHECKPOINT");
    }
    REQUIRE(conn.query_value("SELECT wal_status FROM pg_replication_slots WHERE slot_name = 's'") ==
            "lost");

    auto results = check_database(conn, config_of({}, {}, "s"));
    auto lost = only(results, "slot");
    CHECK(lost.status == CheckStatus::Fail);
    CHECK(lost.message == "replication slot \"s\" is lost: the WAL it needs was removed");
    CHECK(contains(lost.fix, "drop, recreate, re-snapshot: SELECT pg_drop_replication_slot('s');"));
    CHECK(lost.origin.line == 4);
    CHECK(named(results, "slot_wal").empty());

    auto fresh = check_database(conn, config_of({}, {}, "other"));
    auto slots = only(fresh, "replication_slots");
    CHECK(slots.status == CheckStatus::Warn);
    CHECK(slots.message == "one free replication slot left: 1 of 2 in use");
    auto senders = only(fresh, "wal_senders");
    CHECK(senders.status == CheckStatus::Warn);
    CHECK(senders.message == "one free WAL sender left: 0 of 1 in use");
    CHECK_FALSE(has_failures({slots, senders}));
}

TEST_CASE("doctor: a partition without a replica identity fails under its parent",
          "[config][doctor]") {
    auto db = connect_test_db();
    const std::string parent = unique_name("doc_ri_p");
    db.exec("CREATE TABLE " + parent + " (id int, v text) PARTITION BY RANGE (id); CREATE TABLE " +
            parent + "_1 PARTITION OF " + parent + " FOR VALUES FROM (0) TO (10); CREATE TABLE " +
            parent + "_2 PARTITION OF " + parent + " FOR VALUES FROM (10) TO (20); ALTER TABLE " +
            parent + "_1 REPLICA IDENTITY FULL");
    auto identity = only(check_database(db, config_of({table(parent)})), "replica_identity");
    CHECK(identity.status == CheckStatus::Fail);
    CHECK(identity.message == "partition public." + parent + "_2 of public." + parent +
                                  " has REPLICA IDENTITY DEFAULT but no primary key: UPDATE and "
                                  "DELETE would fail once it is published");
    CHECK(contains(identity.fix, "ALTER TABLE public." + parent + "_2 REPLICA IDENTITY FULL"));

    db.exec("ALTER TABLE " + parent + "_2 REPLICA IDENTITY FULL");
    auto results = check_database(db, config_of({table(parent)}));
    CHECK(only(results, "table").message == "public." + parent + " exists (partitioned)");
    CHECK(only(results, "replica_identity").message ==
          "public." + parent + " has REPLICA IDENTITY FULL");
}

TEST_CASE("doctor: a quoted table name that does not exist is shown as typed", "[config][doctor]") {
    auto db = connect_test_db();
    auto found = only(check_database(db, config_of({table("\"No Schema\".\"Events\"")})), "table");
    CHECK(found.status == CheckStatus::Fail);
    CHECK(found.message == "table \"No Schema\".\"Events\" does not exist");
}

TEST_CASE("doctor: origins come from the YAML file the configuration was loaded from",
          "[config][doctor]") {
    auto db = connect_test_db();
    const std::string t = unique_name("doc_yaml");
    db.exec("CREATE TABLE " + t + " (id int PRIMARY KEY, room text)");
    auto loaded = load_text("source:\n  publication: " + t + "_pub\ntables:\n  - name: " + t +
                                "\n    live_queries:\n      - conditions: [[room, \"=\"]]\n",
                            "doctor.yaml");
    INFO(format_text(loaded.diagnostics));
    REQUIRE_FALSE(has_errors(loaded.diagnostics));
    auto results = check_database(db, loaded.config);
    auto index = only(results, "index");
    CHECK(index.status == CheckStatus::Warn);
    CHECK(index.origin.file == "doctor.yaml");
    CHECK(index.origin.line == 6);
    auto publication = only(results, "publication");
    CHECK(publication.status == CheckStatus::Fail);
    CHECK(publication.origin.line == 2);
    CHECK(contains(format_checks_text(results), "      at: doctor.yaml:2:"));
}

TEST_CASE("doctor: a lost connection throws instead of reporting checks", "[config][doctor]") {
    auto db = connect_test_db();
    auto victim = connect_test_db();
    // pg_terminate_backend() waits (up to the timeout) for the backend to be gone.
    db.exec("SELECT pg_terminate_backend(" + std::to_string(victim.backend_pid()) + ", 5000)");
    CHECK_THROWS_AS(check_database(victim, config_of({})), pg::QueryError);
}
