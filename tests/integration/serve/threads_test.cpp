// pgsync-serve on several event-loop threads: clients spread over the shards subscribe,
// unsubscribe and resume while a writer changes their rows, and each ends holding exactly its
// group's rows. scripts/test also runs this against a server built with ThreadSanitizer, where
// ServeProcess fails the test on any race report.
#include "pg_test.h"
#include "serve_support.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <random>
#include <thread>

using namespace pgsync;
using namespace pgsync::test;
using nlohmann::json;

namespace {

constexpr int kGroups = 4;
constexpr int kClients = 8; // two per shard with four threads (connections go round robin)
constexpr int kTimeoutMs = 60000; // generous: under ThreadSanitizer the server is ~10x slower

// One client's view of its group: the rows it holds and where it is in the stream.
struct Client {
    std::optional<ServeClient> connection;
    int group = 0;
    std::string id;
    std::map<std::string, json> rows;
    std::string offset; // of the last up-to-date applied

    void subscribe(const std::string& table, const std::string& new_id, bool resume) {
        id = new_id;
        json frame = {{"type", "subscribe"},
                      {"id", id},
                      {"table", table},
                      {"where", "grp = $1"},
                      {"params", {group}}};
        if (resume) frame["offset"] = offset;
        connection->send(frame);
        read_until_up_to_date();
    }
    void read_until_up_to_date() {
        auto frames = connection->until("up-to-date", id, kTimeoutMs);
        // Frames of a subscription this client ended may still arrive: they belong to no map.
        std::vector<json> mine;
        for (const auto& f : frames) {
            INFO(f.dump());
            REQUIRE(f.value("type", "") != "error");
            if (f.value("id", "") != id) continue;
            REQUIRE(f.value("type", "") != "must-refetch");
            mine.push_back(f);
        }
        apply_changes(rows, mine);
        offset = frames.back()["offset"];
    }
};

std::map<std::string, int> table_rows(pg::Connection& db, const std::string& table, int group) {
    auto result = db.exec("SELECT id, n FROM " + table + " WHERE grp = " + std::to_string(group) +
                          " AND id < 100000");
    std::map<std::string, int> out;
    for (int r = 0; r < PQntuples(result.raw()); ++r)
        out[json{{"id", std::stoi(PQgetvalue(result.raw(), r, 0))}}.dump()] =
            std::stoi(PQgetvalue(result.raw(), r, 1));
    return out;
}

} // namespace

TEST_CASE("clients on four event-loop threads subscribe, unsubscribe and resume under a writer "
          "and end with their group's rows exactly",
          "[serve][integration][threads]") {
    auto db = connect_test_db();
    const std::string table = unique_name("thr");
    const std::string slot = unique_name("thrslot");
    const std::string pub = unique_name("thrpub");
    const std::string dir = test_tmp_dir() + "/" + unique_name("serve");
    db.exec("CREATE TABLE " + table + " (id int PRIMARY KEY, grp int NOT NULL, n int NOT NULL)");
    db.exec("ALTER TABLE " + table + " REPLICA IDENTITY FULL");
    db.exec("INSERT INTO " + table + " SELECT g, g % " + std::to_string(kGroups) +
            ", 0 FROM generate_series(1, 2000) g");
    create_slot(slot, pub, {table});
    {
        ServeProcess server(slot, pub, dir, {{"--threads", "4"}, {}, true});

        // The writer: inserts, updates that move rows between groups, deletes.
        std::atomic<bool> stop{false};
        std::atomic<bool> writer_failed{false};
        std::thread writer([&] {
            try {
                auto w = connect_test_db();
                std::mt19937 rng(11);
                while (!stop) {
                    const std::string id = std::to_string(rng() % 3000 + 1);
                    const std::string group = std::to_string(rng() % kGroups);
                    switch (rng() % 3) {
                    case 0:
                        w.exec("INSERT INTO " + table + " VALUES (" + id + ", " + group +
                               ", 0) ON CONFLICT DO NOTHING");
                        break;
                    case 1:
                        w.exec("UPDATE " + table + " SET n = n + 1, grp = " + group +
                               " WHERE id = " + id);
                        break;
                    default:
                        w.exec("DELETE FROM " + table + " WHERE id = " + id);
                        break;
                    }
                    std::this_thread::sleep_for(std::chrono::milliseconds(2));
                }
            } catch (const std::exception&) {
                writer_failed = true;
            }
        });

        std::vector<Client> clients(kClients);
        for (int i = 0; i < kClients; ++i) {
            clients[i].group = i % kGroups;
            clients[i].connection = ServeClient::connect(server.port());
            clients[i].subscribe(table, "first", false);
        }
        // Live changes for a while: every shard dispatching the same log to its own clients.
        const auto live_until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        while (std::chrono::steady_clock::now() < live_until)
            for (auto& c : clients)
                c.read_until_up_to_date();
        // Unsubscribe and subscribe afresh (a new initial load under the writer).
        for (auto& c : clients) {
            c.connection->send({{"type", "unsubscribe"}, {"id", c.id}});
            c.rows.clear();
            c.subscribe(table, "second", false);
        }
        for (auto& c : clients)
            c.read_until_up_to_date();
        // Drop the connection and resume on a new one (which may land on another shard).
        for (auto& c : clients) {
            c.connection.reset();
            c.connection = ServeClient::connect(server.port());
            c.subscribe(table, "third", true);
        }
        stop = true;
        writer.join();
        REQUIRE_FALSE(writer_failed);

        // A marker per group after the writer's last change: once a client has it, it has all.
        for (int g = 0; g < kGroups; ++g)
            db.exec("INSERT INTO " + table + " VALUES (" + std::to_string(100000 + g) + ", " +
                    std::to_string(g) + ", 0)");
        for (auto& c : clients) {
            const std::string marker = json{{"id", 100000 + c.group}}.dump();
            while (!c.rows.count(marker))
                c.read_until_up_to_date();
            c.rows.erase(marker);
            std::map<std::string, int> have;
            for (const auto& [key, row] : c.rows)
                have[key] = row["n"].get<int>();
            INFO("client of group " << c.group);
            CHECK(have == table_rows(db, table, c.group));
        }
        CHECK(server.stop() == 0);
    }
    drop_slot(slot);
}
