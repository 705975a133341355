// pgsync-stream's slot discipline against the harness's PostgreSQL (cdc-hard-cases section 3):
// confirmation only on commit boundaries and never past acks (S3), idle confirmation (S1), and a
// distinct, explained failure for a missing, busy, lost or unpublishable slot (S5, S6, S8).
#include "pg_test.h"
#include "stream_support.h"
#include "util/lsn.h"

#include <catch2/catch.hpp>
#include <csignal>
#include <fstream>
#include <thread>

using namespace pgsync;
using namespace pgsync::test;
using nlohmann::json;

namespace {

Lsn confirmed_flush(pg::Connection& db, const std::string& slot) {
    auto r = db.exec_params(
        "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1", {slot});
    return *Lsn::parse(r.get(0, 0));
}

} // namespace

TEST_CASE("S3: with --ack-file the slot never passes the consumer's last acknowledged commit",
          "[stream]") {
    auto db = connect_test_db();
    const std::string t = unique_name("st_ack");
    db.exec("CREATE TABLE " + t + " (id int PRIMARY KEY)");
    auto f = make_stream_fixture(db, {t});
    const Lsn start = confirmed_flush(db, f.slot);
    for (int i = 1; i <= 3; ++i)
        db.exec("INSERT INTO " + t + " VALUES (" + std::to_string(i) + ")");
    const std::string ack = test_tmp_dir() + "/" + unique_name("ack");

    // A consumer that reads every transaction but acknowledges only the second one.
    LiveProcess stream({tool_path("pgsync-stream"), "-d", test_dsn(), "-S", f.slot, "-P",
                        f.publication, "--ack-file", ack, "--no-loop", "-s", "0.2"});
    std::vector<json> commits;
    while (commits.size() < 3) {
        auto line = stream.read_line(20);
        REQUIRE(line);
        auto record = json::parse(*line);
        if (record["op"] != "commit") continue;
        commits.push_back(record);
        if (commits.size() == 2)
            std::ofstream(ack, std::ios::app) << record["end_lsn"].get<std::string>() << "\n";
    }
    const Lsn second = *Lsn::parse(commits[1]["end_lsn"].get<std::string>());
    Lsn confirmed = start;
    for (int i = 0; i < 50 && confirmed != second; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        confirmed = confirmed_flush(db, f.slot);
    }
    CHECK(confirmed == second);
    // An acknowledgement between two commits confirms only the lower one (S3).
    std::ofstream(ack, std::ios::app) << Lsn(second.value() + 1).str() << "\n";
    std::this_thread::sleep_for(std::chrono::milliseconds(800));
    CHECK(confirmed_flush(db, f.slot) == second);
    stream.signal(SIGTERM);
    CHECK(stream.wait(20) == 0);
    CHECK(confirmed_flush(db, f.slot) == second);

    // Restarting resends exactly the unacknowledged third transaction.
    auto again = stream_to_now(db, f, {"--ack-file", ack});
    REQUIRE(again.exit_code == 0);
    auto inserts = records_of(parse_ndjson(again.out), "insert");
    REQUIRE(inserts.size() == 1);
    CHECK(inserts[0]["new"]["id"] == 3);
    drop_stream_fixture(db, f);
}

TEST_CASE(
    "S3/S4: without --ack-file a file output is confirmed only after fsync, at its last commit",
    "[stream]") {
    auto db = connect_test_db();
    const std::string t = unique_name("st_fsync");
    db.exec("CREATE TABLE " + t + " (id int PRIMARY KEY)");
    auto f = make_stream_fixture(db, {t});
    db.exec("INSERT INTO " + t + " VALUES (1)");
    const std::string out = test_tmp_dir() + "/" + unique_name("out") + ".ndjson";
    auto r = stream_to_now(db, f, {"-o", out});
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.empty());
    std::ifstream in(out);
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto commits = records_of(parse_ndjson(all), "commit");
    REQUIRE(commits.size() == 1);
    CHECK(confirmed_flush(db, f.slot) >= *Lsn::parse(commits[0]["end_lsn"].get<std::string>()));
    // A second run appends (never truncates) and finds nothing new to write.
    db.exec("INSERT INTO " + t + " VALUES (2)");
    REQUIRE(stream_to_now(db, f, {"-o", out}).exit_code == 0);
    std::ifstream again(out);
    std::string both((std::istreambuf_iterator<char>(again)), std::istreambuf_iterator<char>());
    auto inserts = records_of(parse_ndjson(both), "insert");
    REQUIRE(inserts.size() == 2);
    CHECK(inserts[0]["new"]["id"] == 1);
    CHECK(inserts[1]["new"]["id"] == 2);
    drop_stream_fixture(db, f);
}

TEST_CASE("S1: writes to unpublished tables do not pin WAL: an idle stream confirms the WAL end",
          "[stream]") {
    auto db = connect_test_db();
    const std::string watched = unique_name("st_watched"), noisy = unique_name("st_noisy");
    db.exec("CREATE TABLE " + watched + " (id int PRIMARY KEY); CREATE TABLE " + noisy +
            " (v text)");
    auto f = make_stream_fixture(db, {watched});
    const Lsn before = confirmed_flush(db, f.slot);
    db.exec("INSERT INTO " + noisy + " SELECT repeat('x', 1000) FROM generate_series(1, 5000)");
    const Lsn after_noise = *Lsn::parse(current_wal_lsn(db));
    auto r = stream_to_now(db, f, {"-s", "0.2"});
    REQUIRE(r.exit_code == 0);
    CHECK(records_of(parse_ndjson(r.out), "commit").empty());
    const Lsn now = confirmed_flush(db, f.slot);
    CHECK(now > before);
    CHECK(now >= after_noise);
    drop_stream_fixture(db, f);
}

TEST_CASE("a missing slot is an error that says pgsync-stream never creates one", "[stream]") {
    auto r = run_process({tool_path("pgsync-stream"), "-d", test_dsn(), "-S", "no_such_slot_x",
                          "-P", "p", "--no-loop"});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("replication slot \"no_such_slot_x\" does not exist") != std::string::npos);
    CHECK(r.err.find("never creates a slot") != std::string::npos);
}

TEST_CASE("S8: a missing publication is explained, not retried", "[stream]") {
    auto db = connect_test_db();
    const std::string slot = unique_name("slot");
    db.exec_params("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", {slot});
    auto r = run_process({tool_path("pgsync-stream"), "-d", test_dsn(), "-S", slot, "-P",
                          "no_such_pub_x", "--no-loop"});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("publication \"no_such_pub_x\" does not exist") != std::string::npos);
    CHECK(r.err.find("as of the WAL it decodes") != std::string::npos);
    db.exec_params("SELECT pg_drop_replication_slot($1)", {slot});
}

TEST_CASE("S6: a slot held by another client gives a clear error naming its PID", "[stream]") {
    auto db = connect_test_db();
    const std::string t = unique_name("st_busy");
    db.exec("CREATE TABLE " + t + " (id int PRIMARY KEY)");
    auto f = make_stream_fixture(db, {t});
    // The first client streams (and holds the slot) in the background for a few seconds.
    std::thread holder([&] {
        run_shell("timeout -s INT 6 " + shell_quote(tool_path("pgsync-stream")) + " -d " +
                  shell_quote(test_dsn()) + " -S " + f.slot + " -P " + f.publication +
                  " > /dev/null");
    });
    std::string pid;
    for (int i = 0; i < 50 && pid.empty(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        auto r = db.exec_params(
            "SELECT coalesce(active_pid::text, '') FROM pg_replication_slots WHERE slot_name = $1",
            {f.slot});
        pid = r.str(0, 0);
    }
    REQUIRE_FALSE(pid.empty());
    auto r = run_process({tool_path("pgsync-stream"), "-d", test_dsn(), "-S", f.slot, "-P",
                          f.publication, "--no-loop"});
    holder.join();
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("replication slot \"" + f.slot + "\" is active for PID " + pid) !=
          std::string::npos);
    CHECK(r.err.find("pg_terminate_backend") != std::string::npos);
    drop_stream_fixture(db, f);
}

TEST_CASE("S5: an invalidated slot exits 3 and says to recreate it and snapshot again",
          "[stream]") {
    // Invalidation needs max_slot_wal_keep_size, a server-wide setting: use a cluster of our own.
    PrivateCluster cluster(
        "max_slot_wal_keep_size = 1MB\nmax_wal_size = 32MB\nmin_wal_size = 32MB");
    {
        auto other = cluster.connect();
        other.exec("CREATE TABLE t (id int PRIMARY KEY, v text); CREATE PUBLICATION p FOR TABLE t");
        other.exec("SELECT pg_create_logical_replication_slot('s', 'pgoutput')");
        for (int i = 0; i < 4; ++i) {
            other.exec("INSERT INTO t SELECT g + " + std::to_string(i * 20000) +
                       ", repeat('x', 200) FROM generate_series(1, 20000) g");
            other.exec("SELECT pg_switch_wal(); CHECKPOINT");
        }
        CHECK(other.query_value(
                  "SELECT wal_status FROM pg_replication_slots WHERE slot_name = 's'") == "lost");
    }
    auto r = run_process(
        {tool_path("pgsync-stream"), "-d", cluster.dsn(), "-S", "s", "-P", "p", "--no-loop"});
    CHECK(r.exit_code == kExitSlotLost);
    CHECK(r.err.find("replication slot \"s\" can no longer stream") != std::string::npos);
    CHECK(r.err.find("take a new snapshot") != std::string::npos);
}
