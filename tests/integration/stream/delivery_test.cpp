// End-to-end delivery guarantees: snapshot + stream reproduce the table exactly under a concurrent
// writer, and kill -9 of the stream, the consumer or PostgreSQL loses no committed transaction.
#include "pg_test.h"
#include "stream_support.h"
#include "util/lsn.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <csignal>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>

using namespace pgsync;
using namespace pgsync::test;
using nlohmann::json;

TEST_CASE(
    "snapshot then stream to --endpos, applied by key, equals the table under a concurrent writer",
    "[stream][delivery]") {
    auto db = connect_test_db();
    const std::string t = unique_name("st_consist"), slot = unique_name("slot"),
                      pub = unique_name("pub");
    db.exec("CREATE TABLE " + t + " (id int PRIMARY KEY, v int, note text)");
    db.exec("INSERT INTO " + t + " SELECT g, g, 'seed' FROM generate_series(1, 2000) g");

    std::atomic<bool> stop{false};
    std::thread writer([&] {
        auto w = connect_test_db();
        std::mt19937 rng(42);
        while (!stop) {
            int id = int(rng() % 3000) + 1;
            try {
                switch (rng() % 4) {
                case 0:
                    w.exec("INSERT INTO " + t + " VALUES (" + std::to_string(id) +
                           ", 0, 'ins') ON CONFLICT DO NOTHING");
                    break;
                case 1:
                    w.exec("UPDATE " + t +
                           " SET v = v + 1, note = 'upd' WHERE id = " + std::to_string(id));
                    break;
                case 2:
                    w.exec("DELETE FROM " + t + " WHERE id = " + std::to_string(id));
                    break;
                default:
                    w.exec("UPDATE " + t + " SET id = id + 5000 WHERE id = " + std::to_string(id));
                    break;
                }
            } catch (const pg::QueryError&) {
                // A key move onto an existing key fails; nothing was written, nothing to stream.
            }
        }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto base =
        run_shell(shell_quote(tool_path("pgsync-init")) + " -d " + shell_quote(test_dsn()) +
                  " -S " + slot + " -P " + pub + " -t " + t + " --hold | " +
                  shell_quote(tool_path("pgsync-snapshot")) + " -d " + shell_quote(test_dsn()));
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    stop = true;
    writer.join();
    REQUIRE(base.exit_code == 0);

    std::map<int, json> state;
    for (const auto& r : parse_ndjson(base.out))
        if (r["op"] == "read") state[r["new"]["id"].get<int>()] = r["new"];
    auto changes = stream_to_now(db, {slot, pub});
    INFO(changes.err);
    REQUIRE(changes.exit_code == 0);
    size_t applied = 0;
    for (const auto& r : parse_ndjson(changes.out)) {
        if (r["op"] == "insert")
            state[r["new"]["id"].get<int>()] = r["new"];
        else if (r["op"] == "update") {
            if (r.contains("old")) state.erase(r["old"]["id"].get<int>());
            state[r["new"]["id"].get<int>()] = r["new"];
        } else if (r["op"] == "delete")
            state.erase(r["old"]["id"].get<int>());
        else
            continue;
        ++applied;
    }
    CHECK(applied > 0);
    std::map<int, json> expected;
    auto rows = db.exec("SELECT to_json(x)::text FROM " + t + " x");
    for (int i = 0; i < rows.rows(); ++i) {
        auto j = json::parse(rows.str(i, 0));
        expected[j["id"].get<int>()] = j;
    }
    CHECK(state.size() == expected.size());
    CHECK(state == expected);
    run_process({tool_path("pgsync-init"), "-d", test_dsn(), "-S", slot, "-P", pub, "--drop"});
}

TEST_CASE("chaos: kill -9 of stream, consumer or PostgreSQL loses no committed transaction",
          "[stream][delivery][chaos]") {
    // PostgreSQL is restarted with -m immediate here, so this test has a cluster of its own.
    PrivateCluster cluster;
    const std::string dsn = cluster.dsn(), dir = cluster.dir(), pgdata = cluster.data_dir();
    auto open_db = [&] { return cluster.connect(); };
    {
        auto db = open_db();
        db.exec("CREATE TABLE chaos (id bigint PRIMARY KEY, v text); CREATE PUBLICATION p FOR "
                "TABLE chaos");
        db.exec("SELECT pg_create_logical_replication_slot('s', 'pgoutput')");
    }
    const Lsn start = *Lsn::parse(
        open_db().query_value("SELECT confirmed_flush_lsn::text FROM pg_replication_slots"));
    const std::string out = dir + "/delivered.ndjson", ack = dir + "/ack.lsn", fifo = dir + "/pipe";

    std::atomic<bool> stop{false};
    std::atomic<long> next_id{1};
    std::thread writer([&] {
        std::optional<pg::Connection> w;
        while (!stop) {
            try {
                if (!w) w.emplace(open_db());
                long id = next_id++;
                w->exec("BEGIN; INSERT INTO chaos VALUES (" + std::to_string(id) + ", 'a'), (" +
                        std::to_string(-id) + ", 'b'); COMMIT");
            } catch (const std::exception&) {
                w.reset(); // PostgreSQL is restarting: the table is the truth about what committed
                std::this_thread::sleep_for(std::chrono::milliseconds(200));
            }
        }
    });

    std::mt19937 rng(7);
    const std::string stream_cmd = "exec " + shell_quote(tool_path("pgsync-stream")) + " -d " +
                                   shell_quote(dsn) + " -S s -P p --ack-file " + shell_quote(ack) +
                                   " -s 0.2 -o " + shell_quote(fifo);
    const std::string consumer_cmd = "exec " + shell_quote(tool_path("pgsync_test_consumer")) +
                                     " " + shell_quote(out) + " " + shell_quote(ack) + " < " +
                                     shell_quote(fifo);
    int kills[3] = {0, 0, 0};
    for (int round = 0; round < 12; ++round) {
        run_process({"rm", "-f", fifo});
        run_process({"mkfifo", fifo});
        LiveProcess consumer({"/bin/sh", "-c", consumer_cmd});
        LiveProcess stream({"/bin/sh", "-c", stream_cmd});
        std::this_thread::sleep_for(std::chrono::milliseconds(400 + rng() % 1200));
        const int victim = int(rng() % 3);
        ++kills[victim];
        if (victim == 0)
            stream.signal(SIGKILL);
        else if (victim == 1)
            consumer.signal(SIGKILL);
        else {
            run_process({"runuser", "-u", "postgres", "--", "/usr/lib/postgresql/15/bin/pg_ctl",
                         "-D", pgdata, "-m", "immediate", "-w", "restart", "-l",
                         dir + "/server.log"},
                        {"", true, {}, 60});
            std::this_thread::sleep_for(
                std::chrono::milliseconds(800)); // the stream reconnects by itself
            stream.signal(SIGKILL);
        }
        stream.wait(20);
        consumer.signal(SIGKILL);
        consumer.wait(20);
    }
    stop = true;
    writer.join();

    // A last, clean run delivers the rest.
    {
        auto db = open_db();
        const std::string end = db.query_value("SELECT pg_current_wal_insert_lsn()::text");
        auto r =
            run_shell(shell_quote(tool_path("pgsync-stream")) + " -d " + shell_quote(dsn) +
                          " -S s -P p --ack-file " + shell_quote(ack) + " --no-loop --endpos " +
                          end + " | " + shell_quote(tool_path("pgsync_test_consumer")) + " " +
                          shell_quote(out) + " " + shell_quote(ack),
                      {"", true, {}, 120});
        INFO(r.err);
        REQUIRE(r.exit_code == 0);
    }
    std::set<long> delivered;
    {
        std::ifstream in(out);
        std::string line;
        while (std::getline(in, line))
            if (line.find("\"op\":\"insert\"") != std::string::npos)
                delivered.insert(json::parse(line)["new"]["id"].get<long>());
    }
    std::set<long> committed;
    {
        auto db = open_db();
        auto rows = db.exec("SELECT id FROM chaos");
        for (int i = 0; i < rows.rows(); ++i)
            committed.insert(std::stol(rows.str(i, 0)));
        const Lsn confirmed = *Lsn::parse(
            db.query_value("SELECT confirmed_flush_lsn::text FROM pg_replication_slots"));
        CHECK(confirmed > start); // the slot did advance
    }
    INFO("kills: stream " << kills[0] << ", consumer " << kills[1] << ", postgres " << kills[2]);
    CHECK(committed.size() > 100);
    CHECK(delivered == committed);
}
