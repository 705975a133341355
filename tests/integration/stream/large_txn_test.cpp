// Large and in-progress transactions (cdc-hard-cases R6, R7) and a slow consumer (S2). The stream's
// session is given a tiny logical_decoding_work_mem through PGOPTIONS, so the server streams
// transactions while they are still in progress, and a short wal_sender_timeout for S2.
#include "pg_test.h"
#include "stream_support.h"
#include "util/lsn.h"

#include <catch2/catch.hpp>
#include <set>
#include <thread>

using namespace pgsync;
using namespace pgsync::test;
using nlohmann::json;

namespace {
ProcessOptions small_decoding_memory() {
    ProcessOptions o;
    o.env["PGOPTIONS"] = "-c logical_decoding_work_mem=64kB";
    o.timeout_seconds = 180;
    return o;
}

// How many transactions the server streamed while in progress for this slot (stats lag a little).
long streamed_transactions(pg::Connection& db, const std::string& slot) {
    long n = 0;
    for (int i = 0; i < 50 && n == 0; ++i) {
        if (i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
        auto r = db.exec_params(
            "SELECT coalesce(stream_txns, 0) FROM pg_stat_replication_slots WHERE slot_name = $1",
            {slot});
        if (r.rows()) n = std::stol(r.str(0, 0));
    }
    return n;
}
} // namespace

TEST_CASE(
    "R6: a streamed transaction is written whole at its commit, after one that committed first",
    "[stream][large]") {
    auto db = connect_test_db();
    auto other = connect_test_db();
    const std::string t = unique_name("st_big");
    db.exec("CREATE TABLE " + t + " (id int PRIMARY KEY, v text)");
    auto f = make_stream_fixture(db, {t});
    db.exec("BEGIN; INSERT INTO " + t +
            " SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g");
    other.exec("INSERT INTO " + t + " VALUES (-1, 'small')"); // commits while the big one is open
    db.exec("INSERT INTO " + t + " SELECT g, 'late' FROM generate_series(20001, 20100) g; COMMIT");
    db.exec("BEGIN; INSERT INTO " + t +
            " SELECT g, 'gone' FROM generate_series(30001, 40000) g; ROLLBACK");
    auto r = stream_to_now(db, f, {"--spill-dir", test_tmp_dir()}, small_decoding_memory());
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    auto records = parse_ndjson(r.out);
    auto commits = records_of(records, "commit");
    REQUIRE(commits.size() == 2);
    auto inserts = records_of(records, "insert");
    REQUIRE(inserts.size() == 20101);
    CHECK(inserts[0]["new"]["id"] == -1); // commit order, not start order
    CHECK(inserts[0]["xid"] != inserts[1]["xid"]);
    for (size_t i = 1; i < inserts.size(); ++i) {
        CHECK(inserts[i]["new"]["id"] == int(i));
        CHECK(inserts[i]["seq"] == i - 1);
        if (inserts[i]["new"]["id"] != int(i)) break;
    }
    // The aborted streamed transaction never appears (its chunks were dropped).
    for (const auto& rec : inserts)
        CHECK(rec["new"]["id"] < 30001);
    CHECK(streamed_transactions(db, f.slot) >= 1); // the big ones really arrived in chunks
    drop_stream_fixture(db, f);
}

TEST_CASE("R7: a rolled-back savepoint inside a streamed transaction drops only its rows",
          "[stream][large]") {
    auto db = connect_test_db();
    const std::string t = unique_name("st_savepoint");
    db.exec("CREATE TABLE " + t + " (id int PRIMARY KEY, v text)");
    auto f = make_stream_fixture(db, {t});
    db.exec("BEGIN; INSERT INTO " + t +
            " SELECT g, 'a' FROM generate_series(1, 5000) g; "
            "SAVEPOINT s; INSERT INTO " +
            t +
            " SELECT g, 'b' FROM generate_series(5001, 10000) g; "
            "ROLLBACK TO s; INSERT INTO " +
            t + " VALUES (10001, 'c'); COMMIT");
    // The same through a plpgsql EXCEPTION block, which is a subtransaction too.
    db.exec("DO $$ BEGIN "
            "INSERT INTO " +
            t +
            " SELECT g, 'd' FROM generate_series(20001, 23000) g; "
            "BEGIN INSERT INTO " +
            t +
            " SELECT g, 'e' FROM generate_series(23001, 26000) g; "
            "RAISE EXCEPTION 'undo'; EXCEPTION WHEN raise_exception THEN NULL; END; "
            "INSERT INTO " +
            t + " VALUES (26001, 'f'); END $$");
    auto r = stream_to_now(db, f, {}, small_decoding_memory());
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    auto records = parse_ndjson(r.out);
    REQUIRE(records_of(records, "commit").size() == 2);
    std::set<int> ids;
    for (const auto& rec : records_of(records, "insert"))
        ids.insert(rec["new"]["id"].get<int>());
    CHECK(ids.size() == 5001 + 3001);
    CHECK(ids.count(5000) == 1);
    CHECK(ids.count(5001) == 0);
    CHECK(ids.count(10000) == 0);
    CHECK(ids.count(10001) == 1);
    CHECK(ids.count(23001) == 0);
    CHECK(ids.count(26001) == 1);
    // What was delivered is exactly what the table holds.
    CHECK(db.query_value("SELECT count(*) FROM " + t) == std::to_string(ids.size()));
    CHECK(streamed_transactions(db, f.slot) >= 2);
    drop_stream_fixture(db, f);
}

TEST_CASE("S2: a consumer that stops reading for longer than wal_sender_timeout does not get the "
          "stream cut",
          "[stream][large]") {
    auto db = connect_test_db();
    const std::string t = unique_name("st_slow");
    db.exec("CREATE TABLE " + t + " (id int PRIMARY KEY, v text)");
    auto f = make_stream_fixture(db, {t});
    // Far more output than the pipe and the stream's own queue hold.
    for (int i = 0; i < 10; ++i)
        db.exec("INSERT INTO " + t + " SELECT g, repeat('y', 300) FROM generate_series(" +
                std::to_string(i * 10000 + 1) + ", " + std::to_string((i + 1) * 10000) + ") g");
    LiveProcess stream({tool_path("pgsync-stream"), "-d", test_dsn(), "-S", f.slot, "-P",
                        f.publication, "--endpos", current_wal_lsn(db), "--no-loop"},
                       {{"PGOPTIONS", "-c wal_sender_timeout=2s"}});
    REQUIRE(stream.read_line(20));                        // streaming has begun
    std::this_thread::sleep_for(std::chrono::seconds(7)); // the consumer stalls
    size_t inserts = 0;
    while (auto line = stream.read_line(60))
        if (line->find("\"op\":\"insert\"") != std::string::npos) ++inserts;
    CHECK(stream.wait(30) == 0);
    INFO(stream.err());
    CHECK(stream.err().find("timeout") == std::string::npos);
    CHECK(stream.err().find("reconnecting") == std::string::npos);
    CHECK(inserts == 100000);
    drop_stream_fixture(db, f);
}
