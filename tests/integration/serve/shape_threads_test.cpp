// /v1/shape on several event-loop threads: HTTP clients on every shard follow their shapes
// (initial sync, then long-polls) while a writer changes the rows and a shape is deleted under
// them, and each ends holding exactly its shape's rows. scripts/test also runs this against a
// server built with ThreadSanitizer (the shape dispatcher, the snapshot pool and the shards).
#include "pg_test.h"
#include "serve_support.h"

#include <atomic>
#include <future>
#include <catch2/catch.hpp>
#include <map>
#include <thread>

using namespace pgsync;
using namespace pgsync::test;
using nlohmann::json;

namespace {

constexpr int kShapes = 4;
constexpr int kClients = 8;

// An Electric client reduced to what the test needs: it follows one shape and applies messages.
struct ShapeFollower {
    int port = 0;
    std::string query; // table, where, params
    std::string handle, offset, cursor;
    std::map<std::string, json> rows; // key -> value
    bool up_to_date = false;
    std::string failure;

    void restart() {
        handle.clear();
        offset = "-1";
        cursor.clear();
        rows.clear();
        up_to_date = false;
    }
    // One request; false when the test must fail (failure says why).
    bool step() {
        std::string path = "/v1/shape?" + query + "&offset=" + offset;
        if (!handle.empty() && offset != "-1") path += "&handle=" + handle;
        if (up_to_date) path += "&live=true&cursor=" + cursor;
        HttpResponse r = http_get("127.0.0.1", port, path, {}, 60000);
        if (r.status == 409) {
            restart();
            return true;
        }
        if (r.status != 200) {
            failure = "status " + std::to_string(r.status) + " for " + path + ": " + r.body + r.error;
            return false;
        }
        handle = *r.header("electric-handle");
        offset = *r.header("electric-offset");
        if (auto c = r.header("electric-cursor")) cursor = *c;
        for (const auto& m : json::parse(r.body)) {
            if (!m.contains("key")) {
                if (m["headers"].value("control", "") == "up-to-date") up_to_date = true;
                continue;
            }
            const std::string key = m["key"];
            const std::string op = m["headers"]["operation"];
            if (op == "delete")
                rows.erase(key);
            else
                for (auto& [column, value] : m["value"].items())
                    rows[key][column] = value;
        }
        return true;
    }
};

std::map<std::string, json> table_rows(pg::Connection& db, const std::string& table, int shape) {
    std::map<std::string, json> out;
    auto result = db.exec("SELECT id, n FROM " + table + " WHERE grp = " + std::to_string(shape));
    for (int i = 0; i < PQntuples(result.raw()); ++i) {
        const std::string id = PQgetvalue(result.raw(), i, 0);
        out["\"public\".\"" + table + "\"/\"" + id + "\""] = {
            {"id", id}, {"grp", std::to_string(shape)}, {"n", PQgetvalue(result.raw(), i, 1)}};
    }
    return out;
}

} // namespace

TEST_CASE("HTTP shape clients on four event-loop threads follow their shapes through writes and "
          "a deleted shape",
          "[serve][electric][threads]") {
    const std::string table = unique_name("sht");
    const std::string slot = unique_name("shtslot");
    const std::string pub = unique_name("shtpub");
    auto db = connect_test_db();
    db.exec("CREATE TABLE " + table + " (id int PRIMARY KEY, grp int NOT NULL, n int NOT NULL)");
    db.exec("ALTER TABLE " + table + " REPLICA IDENTITY FULL");
    db.exec("INSERT INTO " + table + " SELECT i, i % " + std::to_string(kShapes) +
            ", 0 FROM generate_series(1, 200) i");
    create_slot(slot, pub, {table});
    ServeConfig config;
    config.extra_args = {"--threads", "4", "--long-poll-timeout", "1", "--sse-timeout", "2"};
    auto server = std::make_unique<ServeProcess>(slot, pub,
                                                 test_tmp_dir() + "/" + unique_name("shthreads"),
                                                 config);

    std::vector<ShapeFollower> followers(kClients);
    for (int i = 0; i < kClients; ++i) {
        followers[size_t(i)].port = server->port();
        followers[size_t(i)].query =
            "table=" + table + "&where=grp+%3D+%241&params%5B1%5D=" + std::to_string(i % kShapes);
        followers[size_t(i)].restart();
    }
    std::atomic<bool> writing{true};
    std::vector<std::thread> threads;
    for (auto& follower : followers)
        threads.emplace_back([&follower, &writing] {
            while (writing.load() && follower.failure.empty())
                if (!follower.step()) return;
        });
    // Writes that move rows between shapes, add and delete them; a DELETE of one shape midway.
    for (int round = 0; round < 30; ++round) {
        db.exec("UPDATE " + table + " SET n = n + 1, grp = (grp + 1) % " +
                std::to_string(kShapes) + " WHERE id % 7 = " + std::to_string(round % 7));
        db.exec("INSERT INTO " + table + " VALUES (" + std::to_string(1000 + round) + ", " +
                std::to_string(round % kShapes) + ", 0)");
        db.exec("DELETE FROM " + table + " WHERE id = " + std::to_string(round * 5 + 1));
        if (round == 15)
            http_request("DELETE", "127.0.0.1", server->port(),
                         "/v1/shape?table=" + table + "&where=grp+%3D+%241&params%5B1%5D=1");
        std::this_thread::sleep_for(std::chrono::milliseconds(30));
    }
    // An SSE stream and a subset snapshot of a shape meanwhile (other threads of the server).
    {
        ShapeFollower probe;
        probe.port = server->port();
        probe.query = followers[0].query;
        probe.restart();
        for (int i = 0; i < 20 && !probe.up_to_date; ++i)
            REQUIRE(probe.step());
        std::string base = "/v1/shape?" + probe.query + "&handle=" + probe.handle;
        auto sse = std::async(std::launch::async, [&] {
            return http_get("127.0.0.1", server->port(),
                            base + "&offset=" + probe.offset + "&live=true&live_sse=true", {},
                            30000);
        });
        db.exec("INSERT INTO " + table + " VALUES (5000, 0, 0)");
        auto subset = http_get("127.0.0.1", server->port(),
                               base + "&offset=" + probe.offset + "&subset__order_by=id", {}, 30000);
        CHECK((subset.status == 200 || subset.status == 409)); // 409: rotated meanwhile
        CHECK(sse.get().status > 0);
    }
    // Let every follower catch up, then stop them.
    std::this_thread::sleep_for(std::chrono::seconds(3));
    writing = false;
    for (auto& thread : threads)
        thread.join();
    for (auto& follower : followers) {
        INFO(follower.query);
        REQUIRE(follower.failure.empty());
        // One last catch-up request (non-live) brings it to the table's current state.
        follower.up_to_date = false;
        for (int i = 0; i < 20 && !follower.up_to_date; ++i)
            REQUIRE(follower.step());
        const int shape = std::stoi(follower.query.substr(follower.query.rfind('=') + 1));
        CHECK(follower.rows == table_rows(db, table, shape));
    }
    server.reset();
    drop_slot(slot);
}
