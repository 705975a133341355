// pgsync-snapshot against the harness's PostgreSQL: exactness at the slot's consistent point under
// a concurrent writer, -j N equal to -j 1, publication filters, partitions, hostile names (T17).
#include "pg_test.h"
#include "process.h"
#include "snapshot/plan.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

using namespace pgsync;
using namespace pgsync::test;

namespace {

std::vector<nlohmann::json> lines_of(const std::string& text) {
    std::vector<nlohmann::json> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line))
        out.push_back(nlohmann::json::parse(line));
    return out;
}

std::string init_cmd(const std::string& slot, const std::string& pub, const std::string& table) {
    return shell_quote(tool_path("pgsync-init")) + " -d " + shell_quote(test_dsn()) + " -S " +
           slot + " -P " + shell_quote(pub) + " -t " + shell_quote(table) +
           " --hold --hold-timeout 60";
}

std::string snapshot_cmd(const std::string& args = "") {
    return shell_quote(tool_path("pgsync-snapshot")) + " -d " + shell_quote(test_dsn()) + " " +
           args;
}

void drop_slot(const std::string& slot, const std::string& pub) {
    run_process({tool_path("pgsync-init"), "-d", test_dsn(), "-S", slot, "-P", pub, "--drop"});
}

// The ids of rows inserted after the slot's start, decoded from the slot itself (pgoutput proto 1
// Insert messages: 'I', relid, 'N', natts, then the first column as 't' + length + text).
std::set<long> ids_after_slot(pg::Connection& db, const std::string& slot, const std::string& pub) {
    auto r = db.exec_params(
        "SELECT convert_from(substr(data, 14, (get_byte(data, 9) << 24) | (get_byte(data, 10) << "
        "16) "
        "| (get_byte(data, 11) << 8) | get_byte(data, 12)), 'UTF8') "
        "FROM pg_logical_slot_peek_binary_changes($1, NULL, NULL, 'proto_version', '1', "
        "'publication_names', $2) WHERE substr(data, 1, 1) = 'I'::bytea",
        {slot, pub});
    std::set<long> ids;
    for (int i = 0; i < r.rows(); ++i)
        ids.insert(std::stol(r.str(i, 0)));
    return ids;
}

} // namespace

TEST_CASE("init | snapshot under a concurrent writer gives exactly the table at consistent_point",
          "[snapshot]") {
    auto db = connect_test_db();
    const std::string table = unique_name("snap_cw"), slot = unique_name("slot"),
                      pub = unique_name("pub");
    db.exec("CREATE TABLE " + table + " (id bigint PRIMARY KEY, v text)");
    db.exec("INSERT INTO " + table + " SELECT g, 'before' FROM generate_series(1, 20000) g");

    std::atomic<bool> stop{false};
    std::atomic<long> written{20000};
    std::thread writer([&] {
        auto w = connect_test_db();
        while (!stop) {
            long id = written + 1;
            w.exec("INSERT INTO " + table + " VALUES (" + std::to_string(id) + ", 'during')");
            written = id;
        }
    });
    // Let the writer run before, during and after the slot's creation.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto r = run_shell(init_cmd(slot, pub, table) + " | " + snapshot_cmd());
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    stop = true;
    writer.join();
    REQUIRE(r.exit_code == 0);

    auto records = lines_of(r.out);
    REQUIRE(records.size() >= 20001);
    std::set<long> in_snapshot;
    for (size_t i = 0; i + 1 < records.size(); ++i) {
        REQUIRE(records[i]["op"] == "read");
        in_snapshot.insert(records[i]["new"]["id"].get<long>());
    }
    const auto& end = records.back();
    CHECK(end["op"] == "snapshot_end");
    CHECK(end["rows"]["public." + table] == in_snapshot.size());
    auto slot_point = db.exec_params("SELECT confirmed_flush_lsn::text FROM pg_replication_slots "
                                     "WHERE slot_name = $1",
                                     {slot});
    CHECK(end["consistent_point"] == slot_point.str(0, 0));

    // Every row is in exactly one of: the snapshot, or the changes the slot delivers after it.
    std::set<long> after = ids_after_slot(db, slot, pub);
    CHECK(after.size() > 0); // the writer really raced the snapshot
    for (long id : after)
        CHECK(in_snapshot.count(id) == 0);
    auto all = db.exec("SELECT count(*) FROM " + table);
    CHECK(in_snapshot.size() + after.size() == std::stoul(all.str(0, 0)));
    for (long id = 1; id <= 20000; ++id)
        REQUIRE(in_snapshot.count(id) == 1);
    drop_slot(slot, pub);
}

TEST_CASE("without --hold the exported snapshot is gone and snapshot says how to fix it",
          "[snapshot]") {
    auto db = connect_test_db();
    const std::string table = unique_name("snap_nohold"), slot = unique_name("slot"),
                      pub = unique_name("pub");
    db.exec("CREATE TABLE " + table + " (id int PRIMARY KEY)");
    auto init = run_process(
        {tool_path("pgsync-init"), "-d", test_dsn(), "-S", slot, "-P", pub, "-t", table});
    REQUIRE(init.exit_code == 0);
    ProcessOptions in;
    in.stdin_data = init.out;
    auto r = run_process({tool_path("pgsync-snapshot"), "-d", test_dsn()}, in);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("could not import snapshot") != std::string::npos);
    CHECK(r.err.find("--hold") != std::string::npos);
    CHECK(r.out.empty());
    drop_slot(slot, pub);
}

TEST_CASE("snapshot -j 4 splits a big table into ctid ranges and writes the same rows as -j 1",
          "[snapshot]") {
    auto db = connect_test_db();
    const std::string table = unique_name("snap_par");
    db.exec("CREATE TABLE " + table + " (id int PRIMARY KEY, pad text, n numeric, ts timestamptz)");
    db.exec(
        "INSERT INTO " + table +
        " SELECT g, repeat('x', 100), g / 7.0, "
        "'2026-01-01'::timestamptz + g * interval '1 minute' FROM generate_series(1, 150000) g");
    {
        snapshot::Plan plan = snapshot::make_plan(db, {{table}, "", 4});
        CHECK(plan.items.size() > 1);
    }
    auto one = run_shell(snapshot_cmd("--no-init-line -t " + table + " -j 1"));
    auto four = run_shell(snapshot_cmd("--no-init-line -t " + table + " -j 4"));
    REQUIRE(one.exit_code == 0);
    REQUIRE(four.exit_code == 0);
    auto sorted_rows = [](const std::string& text) {
        std::vector<std::string> rows;
        std::istringstream in(text);
        std::string line;
        while (std::getline(in, line))
            if (line.find("\"op\":\"read\"") != std::string::npos) rows.push_back(line);
        std::sort(rows.begin(), rows.end());
        return rows;
    };
    auto a = sorted_rows(one.out), b = sorted_rows(four.out);
    CHECK(a.size() == 150000);
    CHECK(a == b);
    CHECK(lines_of(four.out).back()["rows"]["public." + table] == 150000);
}

TEST_CASE("T17: hostile schema, table and column names come out as their raw text", "[snapshot]") {
    auto db = connect_test_db();
    const std::string schema = "My Schema " + unique_name("s");
    const std::string qualified = pg::quote_ident(schema) + ".\"Tab\"\"le\"";
    db.exec("CREATE SCHEMA " + pg::quote_ident(schema));
    db.exec("CREATE TABLE " + qualified +
            " (\"Id\" int PRIMARY KEY, \"naïve col\" text, \"a.b\" text, "
            "\" lead\" text, \"select\" int, \"quo\"\"te\" text)");
    db.exec("INSERT INTO " + qualified + " VALUES (1, 'x', 'y', 'z', 2, 'q')");
    auto r = run_process(
        {tool_path("pgsync-snapshot"), "-d", test_dsn(), "--no-init-line", "-t", qualified});
    REQUIRE(r.exit_code == 0);
    auto records = lines_of(r.out);
    REQUIRE(records.size() == 2);
    CHECK(records[0]["schema"] == schema);
    CHECK(records[0]["table"] == "Tab\"le");
    CHECK(records[0]["new"] ==
          nlohmann::json::parse(
              R"({"Id":1,"naïve col":"x","a.b":"y"," lead":"z","select":2,"quo\"te":"q"})"));
    CHECK(
        r.out.find(
            R"("new":{"Id":1,"naïve col":"x","a.b":"y"," lead":"z","select":2,"quo\"te":"q"}})") !=
        std::string::npos);
}

TEST_CASE("a missing table is a usage error naming it", "[snapshot]") {
    auto r = run_process({tool_path("pgsync-snapshot"), "-d", test_dsn(), "--no-init-line", "-t",
                          "no_such_table_snap"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("table \"no_such_table_snap\" does not exist") != std::string::npos);
    CHECK(r.out.empty());
}

TEST_CASE("a publication's column list and row filter shape the snapshot like the stream",
          "[snapshot]") {
    auto db = connect_test_db();
    const std::string table = unique_name("snap_pubf"), pub = unique_name("pub");
    db.exec("CREATE TABLE " + table + " (id int PRIMARY KEY, secret text, tenant int)");
    db.exec("INSERT INTO " + table + " VALUES (1, 's1', 1), (2, 's2', 2), (3, 's3', 1)");
    db.exec("CREATE PUBLICATION " + pub + " FOR TABLE " + table +
            " (id, tenant) WHERE (tenant = 1)");
    auto r =
        run_process({tool_path("pgsync-snapshot"), "-d", test_dsn(), "--no-init-line", "-P", pub});
    REQUIRE(r.exit_code == 0);
    auto records = lines_of(r.out);
    REQUIRE(records.size() == 3);
    CHECK(records[0]["new"] == nlohmann::json::parse(R"({"id":1,"tenant":1})"));
    CHECK(records[1]["new"] == nlohmann::json::parse(R"({"id":3,"tenant":1})"));
    CHECK(records[2]["rows"]["public." + table] == 2);
}

TEST_CASE("R12: a partitioned table is read through its leaves and named after its root",
          "[snapshot]") {
    auto db = connect_test_db();
    const std::string t = unique_name("snap_parted");
    db.exec("CREATE TABLE " + t + " (id int, k int, PRIMARY KEY (id, k)) PARTITION BY RANGE (k)");
    db.exec("CREATE TABLE " + t + "_1 PARTITION OF " + t + " FOR VALUES FROM (0) TO (100)");
    db.exec("CREATE TABLE " + t + "_2 PARTITION OF " + t + " FOR VALUES FROM (100) TO (200)");
    db.exec("INSERT INTO " + t + " VALUES (1, 5), (2, 150), (3, 199)");
    auto r = run_process(
        {tool_path("pgsync-snapshot"), "-d", test_dsn(), "--no-init-line", "-t", t, "-j", "2"});
    REQUIRE(r.exit_code == 0);
    auto records = lines_of(r.out);
    REQUIRE(records.size() == 4);
    std::set<int> ids;
    for (size_t i = 0; i < 3; ++i) {
        CHECK(records[i]["table"] == t);
        ids.insert(records[i]["new"]["id"].get<int>());
    }
    CHECK(ids == std::set<int>{1, 2, 3});
    CHECK(records[3]["rows"]["public." + t] == 3);
}

TEST_CASE("T16: stored generated columns are left out, as pgoutput leaves them out", "[snapshot]") {
    auto db = connect_test_db();
    const std::string t = unique_name("snap_gen");
    db.exec(
        "CREATE TABLE " + t +
        " (id int PRIMARY KEY, cm numeric, inch numeric GENERATED ALWAYS AS (cm / 2.54) STORED)");
    db.exec("INSERT INTO " + t + " VALUES (1, 254)");
    auto r =
        run_process({tool_path("pgsync-snapshot"), "-d", test_dsn(), "--no-init-line", "-t", t});
    REQUIRE(r.exit_code == 0);
    CHECK(lines_of(r.out)[0]["new"] == nlohmann::json::parse(R"({"id":1,"cm":254})"));
}

TEST_CASE("snapshot --numbers-as-strings quotes int8 and numeric only, -o writes and syncs a file",
          "[snapshot]") {
    auto db = connect_test_db();
    const std::string t = unique_name("snap_num");
    db.exec("CREATE TABLE " + t +
            " (id int PRIMARY KEY, big int8, n numeric, f float8, arr int8[])");
    db.exec("INSERT INTO " + t +
            " VALUES (1, 9007199254740993, 0.10, 1.5, '{1,9223372036854775807}')");
    const std::string file = test_tmp_dir() + "/" + unique_name("out") + ".ndjson";
    auto r = run_process({tool_path("pgsync-snapshot"), "-d", test_dsn(), "--no-init-line", "-t", t,
                          "--numbers-as-strings", "-o", file});
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.empty());
    std::ifstream in(file);
    std::string first;
    std::getline(in, first);
    CHECK(
        first.find(
            R"("new":{"id":1,"big":"9007199254740993","n":"0.10","f":1.5,"arr":["1","9223372036854775807"]})") !=
        std::string::npos);
    std::string end;
    std::getline(in, end);
    CHECK(nlohmann::json::parse(end)["op"] == "snapshot_end");
}

TEST_CASE("snapshot --progress reports each table's rows on stderr and keeps stdout clean",
          "[snapshot]") {
    auto db = connect_test_db();
    const std::string t = unique_name("snap_prog");
    db.exec("CREATE TABLE " + t + " (id int PRIMARY KEY)");
    db.exec("INSERT INTO " + t + " SELECT generate_series(1, 5000)");
    auto r = run_process(
        {tool_path("pgsync-snapshot"), "-d", test_dsn(), "--no-init-line", "-t", t, "--progress"});
    REQUIRE(r.exit_code == 0);
    CHECK(r.err.find("public." + t + ": 5000 rows in") != std::string::npos);
    CHECK(lines_of(r.out).size() == 5001);
    auto quiet =
        run_process({tool_path("pgsync-snapshot"), "-d", test_dsn(), "--no-init-line", "-t", t});
    CHECK(quiet.err.empty());
}

TEST_CASE("a reader that closes the pipe early gets a clean error, not a crash", "[snapshot]") {
    auto db = connect_test_db();
    const std::string t = unique_name("snap_epipe");
    db.exec("CREATE TABLE " + t + " (id int PRIMARY KEY, pad text)");
    db.exec("INSERT INTO " + t + " SELECT g, repeat('y', 200) FROM generate_series(1, 50000) g");
    auto r = run_shell("{ " + snapshot_cmd("--no-init-line -t " + t) +
                       "; echo \"status=$?\" >&2; } | head -n 1 >/dev/null");
    CHECK(r.err.find("pgsync-snapshot: error: could not write to standard output: Broken pipe") !=
          std::string::npos);
    CHECK(r.err.find("status=1") != std::string::npos);
    CHECK(r.err.find("Segmentation") == std::string::npos);
}

TEST_CASE("T18: the user's session settings never change the values written", "[snapshot]") {
    auto db = connect_test_db();
    const std::string t = unique_name("snap_t18");
    db.exec("CREATE TABLE " + t +
            " (id int PRIMARY KEY, ts timestamptz, d date, iv interval, "
            "b bytea, f float8, m money)");
    db.exec("INSERT INTO " + t +
            " VALUES (1, '2024-03-10 02:30:00 America/New_York', "
            "'2024-01-31', '1 mon -5 days 10:00:04.99', '\\xdeadbeef', 0.1::float8 * 3, -1234.5)");
    auto plain =
        run_process({tool_path("pgsync-snapshot"), "-d", test_dsn(), "--no-init-line", "-t", t});
    ProcessOptions hostile;
    hostile.env["PGOPTIONS"] = "-c DateStyle=SQL,DMY -c IntervalStyle=sql_standard "
                               "-c TimeZone=Asia/Kolkata -c bytea_output=escape "
                               "-c extra_float_digits=-3 -c lc_monetary=C";
    auto odd = run_process(
        {tool_path("pgsync-snapshot"), "-d", test_dsn(), "--no-init-line", "-t", t}, hostile);
    REQUIRE(plain.exit_code == 0);
    REQUIRE(odd.exit_code == 0);
    // The rows must be identical; snapshot_end's consistent_point is the WAL position at the
    // time, which other tests running alongside move.
    auto rows_of = [](const std::string& out) {
        return out.substr(0, out.find("{\"op\":\"snapshot_end\""));
    };
    CHECK(rows_of(plain.out) == rows_of(odd.out));
    CHECK(!rows_of(plain.out).empty());
    CHECK(
        plain.out.find(
            R"("ts":"2024-03-10T07:30:00+00:00","d":"2024-01-31","iv":"1 mon -5 days +10:00:04.99","b":"\\xdeadbeef","f":0.30000000000000004,"m":"-$1,234.50")") !=
        std::string::npos);
}
