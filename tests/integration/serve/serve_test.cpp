// pgsync-serve end to end: a real server, real WebSocket clients and the harness's PostgreSQL.
// Subscriptions, filters with enter/leave, resume after reconnect and restart, retention, auth,
// injection attempts, slow clients, /v1/stream and its acks, health and metrics.
#include "pg_test.h"
#include "serve/access/auth.h"
#include "serve_support.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <random>
#include <set>
#include <thread>

using namespace pgsync;
using namespace pgsync::test;
using nlohmann::json;

namespace {

struct Fixture {
    Fixture(const std::string& columns = "id int PRIMARY KEY, grp text, n int, note text",
            bool full_identity = true) {
        table = unique_name("sv");
        slot = unique_name("svslot");
        pub = unique_name("svpub");
        dir = test_tmp_dir() + "/" + unique_name("serve");
        db.exec("CREATE TABLE " + table + " (" + columns + ")");
        if (full_identity) db.exec("ALTER TABLE " + table + " REPLICA IDENTITY FULL");
        create_slot(slot, pub, {table});
    }
    ~Fixture() {
        server.reset();
        drop_slot(slot);
    }
    void start(const ServeConfig& config = {}) {
        server = std::make_unique<ServeProcess>(slot, pub, dir, config);
    }
    ServeClient client(const std::string& path = "/v1/ws", const HttpHeaders& headers = {}) {
        return ServeClient::connect(server->port(), path, headers);
    }

    pg::Connection db = connect_test_db();
    std::string table, slot, pub, dir;
    std::unique_ptr<ServeProcess> server;
};

std::vector<json> changes(const std::vector<json>& frames) {
    std::vector<json> out;
    for (const auto& f : frames)
        if (f.value("type", "") == "change") out.push_back(f);
    return out;
}

int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Subscribes to the whole table, inserts one row and returns the offset of the up-to-date that
// follows it: a position to resume from later.
std::string offset_after_insert(Fixture& f, const std::string& values) {
    auto c = f.client();
    c.send({{"type", "subscribe"}, {"id", "s"}, {"table", f.table}});
    c.until("up-to-date", "s");
    f.db.exec("INSERT INTO " + f.table + " VALUES (" + values + ")");
    return c.until("up-to-date", "s").back()["offset"];
}

} // namespace

TEST_CASE("a filtered subscription gets the matching rows, then their live changes",
          "[serve][integration]") {
    Fixture f;
    f.db.exec("INSERT INTO " + f.table +
              " VALUES (1, 'a', 1, 'x'), (2, 'b', 2, 'y'), (3, 'a', 3, 'z')");
    f.start();
    auto c = f.client();
    c.send({{"type", "subscribe"},
            {"id", "s1"},
            {"table", f.table},
            {"where", "grp = $1 AND n > $2"},
            {"params", {"a", 1}},
            {"columns", {"id", "note"}}});
    auto initial = c.until("up-to-date", "s1");
    auto rows = changes(initial);
    REQUIRE(rows.size() == 1);
    CHECK(rows[0]["op"] == "insert");
    CHECK(rows[0]["snapshot"] == true);
    CHECK(rows[0]["key"] == json{{"id", 3}});
    CHECK(rows[0]["new"] == json{{"id", 3}, {"note", "z"}}); // only the selected columns

    f.db.exec("INSERT INTO " + f.table + " VALUES (4, 'b', 9, 'no'), (5, 'a', 9, 'yes')");
    auto live = c.until("up-to-date", "s1");
    auto live_rows = changes(live);
    REQUIRE(live_rows.size() == 1);
    CHECK(live_rows[0]["op"] == "insert");
    CHECK(live_rows[0]["new"] == json{{"id", 5}, {"note", "yes"}});
    CHECK(!live_rows[0].contains("snapshot"));
    CHECK(live_rows[0]["offset"].get<std::string>() < live.back()["offset"].get<std::string>());
    // A change to a row outside the filter sends nothing.
    f.db.exec("UPDATE " + f.table + " SET note = 'still no' WHERE id = 4");
    CHECK(!c.next(700));
}

TEST_CASE("an update entering the filter arrives as insert, one leaving as delete (F7)",
          "[serve][integration]") {
    Fixture f;
    f.db.exec("INSERT INTO " + f.table + " VALUES (7, 'a', 1, 'secret')");
    f.start();
    auto c = f.client();
    c.send({{"type", "subscribe"},
            {"id", "mine"},
            {"table", f.table},
            {"where", "grp = 'a'"},
            {"columns", {"id", "grp"}}});
    REQUIRE(changes(c.until("up-to-date", "mine")).size() == 1);

    f.db.exec("UPDATE " + f.table + " SET grp = 'b' WHERE id = 7");
    auto leave = changes(c.until("up-to-date", "mine"));
    REQUIRE(leave.size() == 1);
    CHECK(leave[0]["op"] == "delete");
    CHECK(leave[0]["key"] == json{{"id", 7}});
    CHECK(!leave[0]["old"].contains("note")); // never columns the shape does not select

    f.db.exec("UPDATE " + f.table + " SET n = 2 WHERE id = 7"); // outside: nothing
    f.db.exec("UPDATE " + f.table + " SET grp = 'a' WHERE id = 7");
    auto enter = changes(c.until("up-to-date", "mine"));
    REQUIRE(enter.size() == 1);
    CHECK(enter[0]["op"] == "insert");
    CHECK(enter[0]["new"] == json{{"id", 7}, {"grp", "a"}});

    f.db.exec("UPDATE " + f.table + " SET n = 3 WHERE id = 7"); // inside: update
    auto update = changes(c.until("up-to-date", "mine"));
    REQUIRE(update.size() == 1);
    CHECK(update[0]["op"] == "update");
    f.db.exec("DELETE FROM " + f.table + " WHERE id = 7");
    auto gone = changes(c.until("up-to-date", "mine"));
    REQUIRE(gone.size() == 1);
    CHECK(gone[0]["op"] == "delete");
}

TEST_CASE("a client resumes from its offset after a reconnect, without initial rows or repeats",
          "[serve][integration]") {
    Fixture f;
    f.start();
    std::string offset;
    {
        auto c = f.client();
        c.send({{"type", "subscribe"}, {"id", "s"}, {"table", f.table}});
        c.until("up-to-date", "s");
        f.db.exec("INSERT INTO " + f.table + " VALUES (1, 'a', 1, 'one')");
        auto frames = c.until("up-to-date", "s");
        offset = frames.back()["offset"];
        c.send({{"type", "ack"}, {"id", "s"}, {"offset", offset}});
    }
    f.db.exec("INSERT INTO " + f.table + " VALUES (2, 'a', 2, 'two')");
    {
        auto c = f.client();
        c.send({{"type", "subscribe"}, {"id", "s"}, {"table", f.table}, {"offset", offset}});
        std::vector<json> got;
        while (got.empty()) { // the insert may reach the log after the first up-to-date
            auto frames = changes(c.until("up-to-date", "s"));
            got.insert(got.end(), frames.begin(), frames.end());
        }
        REQUIRE(got.size() == 1); // no initial rows, nothing twice
        CHECK(got[0]["new"]["id"] == 2);
        auto extra = c.next(500);
        INFO("unexpected frame: " << (extra ? extra->dump() : ""));
        CHECK(!extra);
    }
}

TEST_CASE("offsets survive a server restart, changes made while it was down arrive",
          "[serve][integration]") {
    Fixture f;
    f.start();
    const std::string offset = offset_after_insert(f, "1, 'a', 1, 'before'");
    CHECK(f.server->stop() == 0);
    f.db.exec("INSERT INTO " + f.table + " VALUES (2, 'a', 2, 'while down')");
    f.db.exec("UPDATE " + f.table + " SET note = 'changed while down' WHERE id = 1");
    f.start();
    auto c = f.client();
    c.send({{"type", "subscribe"}, {"id", "s"}, {"table", f.table}, {"offset", offset}});
    std::vector<json> got;
    while (got.size() < 2) {
        auto frames = changes(c.until("up-to-date", "s"));
        got.insert(got.end(), frames.begin(), frames.end());
    }
    REQUIRE(got.size() == 2);
    CHECK(got[0]["op"] == "insert");
    CHECK(got[0]["new"]["note"] == "while down");
    CHECK(got[1]["op"] == "update");
    CHECK(got[1]["new"]["note"] == "changed while down");

    // An offset of another log's life is refused with must-refetch, never resumed from "now".
    c.send({{"type", "subscribe"},
            {"id", "old"},
            {"table", f.table},
            {"offset", "0000000000000000:" + offset.substr(offset.find(':') + 1)}});
    auto refetch = c.until("must-refetch", "old");
    CHECK(refetch.back()["reason"] == "epoch-changed");
    c.send({{"type", "subscribe"}, {"id", "junk"}, {"table", f.table}, {"offset", "12"}});
    CHECK(c.until("error", "junk").back()["code"] == "bad-offset");
}

TEST_CASE("an offset older than retention gets must-refetch", "[serve][integration]") {
    Fixture f;
    f.start({{"--segment-bytes", "4kB", "--retain-bytes", "8kB"}, {}, true});
    auto c = f.client();
    c.send({{"type", "subscribe"}, {"id", "s"}, {"table", f.table}});
    c.until("up-to-date", "s");
    f.db.exec("INSERT INTO " + f.table + " VALUES (1, 'a', 1, 'first')");
    const std::string first = c.until("up-to-date", "s").back()["offset"];
    for (int i = 0; i < 40; ++i)
        f.db.exec("INSERT INTO " + f.table + " VALUES (" + std::to_string(100 + i) +
                  ", 'a', 1, repeat('x', 400))");
    // Retention runs after rotations and on the server's timer.
    for (int i = 0; i < 40; ++i) {
        auto frame = c.next(500);
        if (!frame) break;
    }
    std::this_thread::sleep_for(std::chrono::seconds(6));
    auto c2 = f.client();
    c2.send({{"type", "subscribe"}, {"id", "late"}, {"table", f.table}, {"offset", first}});
    auto frames = c2.until("must-refetch", "late");
    CHECK(frames.back()["reason"] == "offset-expired");
}

TEST_CASE("tokens: refused without one, expired or forged, claims narrow, never widen (F5)",
          "[serve][integration][auth]") {
    Fixture f;
    const std::string other = unique_name("sv_other");
    f.db.exec("CREATE TABLE " + other + " (id int PRIMARY KEY)");
    f.db.exec("ALTER PUBLICATION " + f.pub + " ADD TABLE " + other);
    f.db.exec("INSERT INTO " + f.table +
              " VALUES (1, 'a', 1, 'a1'), (2, 'b', 2, 'b1'), (3, 'a', 3, 'a2')");
    const std::string secret = "test-secret-of-enough-length";
    f.start({{"--jwt-secret-env", "PGSYNC_TEST_JWT"}, {{"PGSYNC_TEST_JWT", secret}}, false});
    const int port = f.server->port();

    auto no_token = WsClient::connect("127.0.0.1", port, "/v1/ws");
    CHECK(!no_token.ok());
    CHECK(no_token.status == 401);
    json claims = {
        {"sub", "u1"},
        {"exp", unix_now() + 600},
        {"pgsync", {{"tables", {{f.table, {{"where", "grp = $1"}, {"params", {"a"}}}}}}}}};
    const std::string token = serve::sign_hs256(claims.dump(), secret);
    auto forged = WsClient::connect("127.0.0.1", port,
                                    "/v1/ws?token=" + token.substr(0, token.size() - 2) + "AA");
    CHECK(forged.status == 401);
    json expired = claims;
    expired["exp"] = unix_now() - 10;
    auto late = WsClient::connect("127.0.0.1", port,
                                  "/v1/ws?token=" + serve::sign_hs256(expired.dump(), secret));
    CHECK(late.status == 401);
    auto wrong_key = WsClient::connect("127.0.0.1", port,
                                       "/v1/ws?token=" + serve::sign_hs256(claims.dump(), "other"));
    CHECK(wrong_key.status == 401);

    auto c = f.client("/v1/ws", {{"Authorization", "Bearer " + token}});
    // Everything the client asks for is ANDed with grp = 'a'.
    c.send({{"type", "subscribe"}, {"id", "all"}, {"table", f.table}});
    auto rows = changes(c.until("up-to-date", "all"));
    std::set<int> ids;
    for (const auto& r : rows)
        ids.insert(r["new"]["id"].get<int>());
    CHECK(ids == std::set<int>{1, 3});
    // A breakout attempt is a parse error, not a wider filter (F5).
    c.send({{"type", "subscribe"},
            {"id", "evil"},
            {"table", f.table},
            {"where", "grp = 'b') OR (1=1"}});
    CHECK(c.until("error", "evil").back()["code"] == "bad-filter");
    c.send({{"type", "subscribe"},
            {"id", "wider"},
            {"table", f.table},
            {"where", "grp = 'b' OR true"}});
    std::set<int> wider;
    for (const auto& r : changes(c.until("up-to-date", "wider")))
        wider.insert(r["new"]["id"].get<int>());
    CHECK(wider == std::set<int>{1, 3}); // still inside grp = 'a'
    c.send({{"type", "subscribe"}, {"id", "nope"}, {"table", other}});
    CHECK(c.until("error", "nope").back()["code"] == "forbidden");
    // Live changes are narrowed too.
    f.db.exec("INSERT INTO " + f.table + " VALUES (4, 'b', 4, 'b2'), (5, 'a', 5, 'a3')");
    std::vector<json> live;
    for (const auto& frame : changes(c.until("up-to-date", "all")))
        if (frame["id"] == "all") live.push_back(frame);
    REQUIRE(live.size() == 1);
    CHECK(live[0]["new"]["id"] == 5);
}

TEST_CASE("a token that expires disconnects its client with 4001", "[serve][integration][auth]") {
    Fixture f;
    const std::string secret = "another-secret";
    f.start({{"--jwt-secret-env", "PGSYNC_TEST_JWT"}, {{"PGSYNC_TEST_JWT", secret}}, false});
    json claims = {{"exp", unix_now() + 2}, {"pgsync", {{"tables", {{"*", json::object()}}}}}};
    auto c = f.client("/v1/ws?token=" + serve::sign_hs256(claims.dump(), secret));
    c.send({{"type", "subscribe"}, {"id", "s"}, {"table", f.table}});
    c.until("up-to-date", "s");
    auto frames = c.until("error", "", 8000);
    CHECK(frames.back()["code"] == "token-expired");
    CHECK(!c.next(3000));
    REQUIRE(c.raw().close_info());
    CHECK(c.raw().close_info()->code == 4001);
}

TEST_CASE("injection attempts in where and table reach no SQL (F5)", "[serve][integration]") {
    Fixture f;
    f.db.exec("INSERT INTO " + f.table + " VALUES (1, 'a', 1, 'x')");
    f.start();
    auto c = f.client();
    const std::vector<std::string> wheres = {"1=1) OR (1=1",
                                             "grp = 'x' OR id LIKE '%",
                                             "grp = 'a'; DROP TABLE " + f.table + " --",
                                             "pg_sleep(10) IS NULL",
                                             "grp = (SELECT 'a')",
                                             "grp::text = 'a'"};
    for (size_t i = 0; i < wheres.size(); ++i) {
        const std::string id = "w" + std::to_string(i);
        c.send({{"type", "subscribe"}, {"id", id}, {"table", f.table}, {"where", wheres[i]}});
        auto frame = c.until("error", id).back();
        INFO(wheres[i] << " -> " << frame.dump());
        CHECK(frame["code"] == "bad-filter");
    }
    c.send({{"type", "subscribe"},
            {"id", "t"},
            {"table", f.table + "; DROP TABLE " + f.table + " --"}});
    CHECK(c.until("error", "t").back()["code"] == "unknown-table");
    c.send({{"type", "subscribe"}, {"id", "t2"}, {"table", "pg_catalog.pg_authid"}});
    CHECK(c.until("error", "t2").back()["code"] == "unknown-table");
    // A value is only ever a value.
    c.send({{"type", "subscribe"},
            {"id", "p"},
            {"table", f.table},
            {"where", "grp = $1"},
            {"params", {"a' OR '1'='1"}}});
    CHECK(changes(c.until("up-to-date", "p")).empty());
    CHECK(f.db.query_value("SELECT count(*) FROM " + f.table) == "1");
}

TEST_CASE("bad frames get error frames and the connection survives, oversized ones close it",
          "[serve][integration]") {
    Fixture f;
    f.start();
    auto c = f.client();
    REQUIRE(c.raw().send_text("not json"));
    CHECK(c.until("error").back()["code"] == "bad-frame");
    c.send({{"type", "dance"}});
    CHECK(c.until("error").back()["code"] == "bad-frame");
    c.send({{"type", "subscribe"}, {"table", f.table}});
    CHECK(c.until("error").back()["code"] == "bad-frame");
    c.send({{"type", "subscribe"}, {"id", "s"}, {"table", f.table}, {"where", "nope = 1"}});
    auto bad = c.until("error", "s").back();
    CHECK(bad["code"] == "bad-filter");
    CHECK(bad["message"].get<std::string>().find("nope") != std::string::npos);
    c.send({{"type", "subscribe"}, {"id", "s"}, {"table", f.table}});
    c.until("up-to-date", "s");
    c.send({{"type", "subscribe"}, {"id", "s"}, {"table", f.table}});
    CHECK(c.until("error", "s").back()["code"] == "duplicate-id");
    c.send({{"type", "ack"}, {"id", "s"}, {"offset", "ffffffffffffffff:1_1"}});
    CHECK(c.until("error", "s").back()["code"] == "bad-ack");
    c.send({{"type", "unsubscribe"}, {"id", "zzz"}});
    CHECK(c.until("error", "zzz").back()["code"] == "unknown-subscription");
    REQUIRE(c.raw().send_text(std::string(100000, ' ')));
    CHECK(!c.next(3000));
    REQUIRE(c.raw().close_info());
    CHECK(c.raw().close_info()->code == 1009);
}

TEST_CASE("a client that stops reading is dropped with its offsets, others are not slowed (F1)",
          "[serve][integration]") {
    Fixture f;
    f.start({{"--client-queue-bytes", "256kB", "--client-timeout", "2"}, {}, true});
    auto healthy = f.client();
    healthy.send({{"type", "subscribe"}, {"id", "h"}, {"table", f.table}});
    healthy.until("up-to-date", "h");
    auto slow = ServeClient::connect(f.server->port(), "/v1/ws", {}, 4096);
    slow.send({{"type", "subscribe"}, {"id", "slow"}, {"table", f.table}});
    slow.until("up-to-date", "slow");
    // 16 MB of changes: far past the slow client's cap and the kernel's socket buffers.
    f.db.exec("INSERT INTO " + f.table +
              " SELECT g, 'a', g, repeat('y', 2000) FROM generate_series(1, 8000) g");
    size_t got = 0;
    while (got < 8000) {
        auto frames = changes(healthy.until("up-to-date", "h", 20000));
        got += frames.size();
    }
    CHECK(got == 8000);
    // Past --client-timeout the server decides to drop it; a decided close waits only a few
    // seconds for the client to read (issue 9), so read as soon as it is decided.
    for (int i = 0; i < 200 && metric(f.server->port(), "pgsync_serve_clients_dropped_total") < 1;
         ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    // Now read the slow client: what it had, then the error with its last offsets, then 4008.
    std::optional<json> last;
    for (;;) {
        auto frame = slow.next(5000);
        if (!frame) break;
        last = frame;
    }
    REQUIRE(last);
    CHECK((*last)["type"] == "error");
    CHECK((*last)["code"] == "slow-consumer");
    CHECK((*last)["offsets"].contains("slow"));
    REQUIRE(slow.raw().close_info());
    CHECK(slow.raw().close_info()->code == 4008);
    auto metrics = http_get("127.0.0.1", f.server->port(), "/metrics");
    CHECK(metrics.body.find("pgsync_serve_clients_dropped_total 1") != std::string::npos);
}

TEST_CASE("the initial load and the live stream meet without gaps or repeats under a writer",
          "[serve][integration]") {
    Fixture f;
    f.db.exec("INSERT INTO " + f.table +
              " SELECT g, CASE WHEN g % 2 = 0 THEN 'a' ELSE 'b' END, g, 'seed' FROM "
              "generate_series(1, 3000) g");
    f.start();
    std::atomic<bool> stop{false};
    std::thread writer([&] {
        auto w = connect_test_db();
        std::mt19937 rng(7);
        while (!stop) {
            int id = int(rng() % 4000) + 1;
            switch (rng() % 3) {
            case 0:
                w.exec("INSERT INTO " + f.table + " VALUES (" + std::to_string(id) +
                       ", 'a', 0, 'ins') ON CONFLICT DO NOTHING");
                break;
            case 1:
                w.exec(
                    "UPDATE " + f.table +
                    " SET n = n + 1, grp = CASE WHEN grp = 'a' THEN 'b' ELSE 'a' END WHERE id = " +
                    std::to_string(id));
                break;
            default:
                w.exec("DELETE FROM " + f.table + " WHERE id = " + std::to_string(id));
                break;
            }
        }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto c = f.client();
    c.send({{"type", "subscribe"}, {"id", "s"}, {"table", f.table}, {"where", "grp = 'a'"}});
    std::map<std::string, json> rows;
    apply_changes(rows, c.until("up-to-date", "s", 30000));
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    stop = true;
    writer.join();
    const std::string end = f.db.query_value("SELECT pg_current_wal_lsn()");
    f.db.exec("INSERT INTO " + f.table + " VALUES (100000, 'a', 0, 'marker')");
    for (;;) {
        auto frames = c.until("up-to-date", "s", 30000);
        apply_changes(rows, frames);
        if (rows.count(json{{"id", 100000}}.dump())) break;
    }
    rows.erase(json{{"id", 100000}}.dump());
    auto expected =
        f.db.exec("SELECT id, n FROM " + f.table + " WHERE grp = 'a' AND id <> 100000 ORDER BY id");
    std::map<std::string, int> want;
    for (int r = 0; r < PQntuples(expected.raw()); ++r)
        want[json{{"id", std::stoi(PQgetvalue(expected.raw(), r, 0))}}.dump()] =
            std::stoi(PQgetvalue(expected.raw(), r, 1));
    std::map<std::string, int> have;
    for (const auto& [key, row] : rows)
        have[key] = row["n"].get<int>();
    CHECK(have.size() == want.size());
    CHECK(have == want);
    (void)end;
}

TEST_CASE("/v1/stream needs the API key, sends every record with offsets, acks move only the "
          "client's cursor (F8)",
          "[serve][integration]") {
    Fixture f;
    f.start({{"--api-key-env", "PGSYNC_TEST_KEY"}, {{"PGSYNC_TEST_KEY", "k-123"}}, false});
    const int port = f.server->port();
    CHECK(WsClient::connect("127.0.0.1", port, "/v1/stream").status == 401);
    CHECK(WsClient::connect("127.0.0.1", port, "/v1/stream?api_key=wrong").status == 401);
    // The shapes endpoint has no JWT secret here: refused.
    CHECK(WsClient::connect("127.0.0.1", port, "/v1/ws").status == 403);

    auto c = f.client("/v1/stream?consumer=backend-1", {{"Authorization", "Bearer k-123"}});
    c.until("up-to-date");
    f.db.exec("INSERT INTO " + f.table + " VALUES (1, 'a', 1, 'raw')");
    std::vector<json> records;
    while (records.empty() || records.back().value("op", "") != "commit") {
        auto text = c.raw().receive_text(10000);
        REQUIRE(text);
        CHECK(text->rfind("{\"offset\":\"", 0) == 0); // the offset first, then the record
        records.push_back(json::parse(*text));
    }
    REQUIRE(records.size() >= 3);
    CHECK(records.front()["op"] == "begin");
    const auto insert = std::find_if(records.begin(), records.end(),
                                     [](const json& r) { return r.value("op", "") == "insert"; });
    REQUIRE(insert != records.end());
    CHECK((*insert)["new"]["note"] == "raw");
    const std::string commit_offset = records.back()["offset"];

    // The slot advances once the log is durable, whatever the client acknowledges.
    std::string confirmed;
    for (int i = 0; i < 100; ++i) {
        confirmed = f.db.query_value(
            "SELECT confirmed_flush_lsn >= '" + records.back()["end_lsn"].get<std::string>() +
            "' FROM pg_replication_slots WHERE slot_name = '" + f.slot + "'");
        if (confirmed == "t") break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    CHECK(confirmed == "t");
    // An ack beyond what was delivered is refused; a real one is kept for the consumer.
    c.send({{"type", "ack"},
            {"offset", commit_offset.substr(0, commit_offset.find(':')) + ":99999999999_0"}});
    CHECK(c.until("error").back()["code"] == "bad-ack");
    c.send({{"type", "ack"}, {"offset", commit_offset}});
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    f.db.exec("INSERT INTO " + f.table + " VALUES (2, 'a', 2, 'after ack')");
    c.raw().close();
    // Reconnecting as the same consumer resumes after the ack.
    auto again = f.client("/v1/stream?consumer=backend-1", {{"Authorization", "Bearer k-123"}});
    std::optional<json> first_row;
    for (int i = 0; i < 20 && !first_row; ++i) {
        auto frame = again.next(10000);
        REQUIRE(frame);
        if (frame->value("op", "") == "insert") first_row = frame;
    }
    REQUIRE(first_row);
    CHECK((*first_row)["new"]["note"] == "after ack");
}

TEST_CASE("health and metrics answer over HTTP", "[serve][integration]") {
    Fixture f;
    f.start();
    auto health = http_get("127.0.0.1", f.server->port(), "/v1/health");
    CHECK(health.status == 200);
    CHECK(json::parse(health.body)["status"] == "active");
    auto c = f.client();
    c.send({{"type", "subscribe"}, {"id", "s"}, {"table", f.table}});
    c.until("up-to-date", "s");
    auto metrics = http_get("127.0.0.1", f.server->port(), "/metrics");
    CHECK(metrics.status == 200);
    CHECK(metrics.body.find("pgsync_serve_clients 1\n") != std::string::npos);
    CHECK(metrics.body.find("pgsync_serve_subscriptions 1\n") != std::string::npos);
    CHECK(metrics.body.find("pgsync_serve_shapes 1\n") != std::string::npos);
    CHECK(http_get("127.0.0.1", f.server->port(), "/nope").status == 404);
    CHECK(f.server->stop() == 0);
}

TEST_CASE("with live_queries in the config, only those filters are accepted",
          "[serve][integration]") {
    Fixture f;
    f.db.exec("INSERT INTO " + f.table + " VALUES (1, 'a', 5, 'x'), (2, 'a', 1, 'y')");
    const std::string config = f.dir + ".yaml";
    {
        std::ofstream out(config);
        out << "tables:\n  - name: " << f.table
            << "\n    live_queries:\n      - conditions: [[grp, \"=\"], [n, \">\"]]\n";
    }
    f.start({{"--config", config}, {}, true});
    auto c = f.client();
    c.send({{"type", "subscribe"},
            {"id", "ok"},
            {"table", f.table},
            {"where", "n > $2 AND grp = $1"},
            {"params", {"a", 3}}});
    auto rows = changes(c.until("up-to-date", "ok"));
    REQUIRE(rows.size() == 1);
    CHECK(rows[0]["new"]["id"] == 1);
    c.send({{"type", "subscribe"}, {"id", "scan"}, {"table", f.table}});
    CHECK(c.until("error", "scan").back()["code"] == "not-allowed");
    c.send({{"type", "subscribe"}, {"id", "other"}, {"table", f.table}, {"where", "note = 'x'"}});
    CHECK(c.until("error", "other").back()["code"] == "not-allowed");
}

TEST_CASE("with the default replica identity, a delete reaches filtered shapes key-only (F7)",
          "[serve][integration]") {
    Fixture f("id int PRIMARY KEY, grp text, n int, note text", false);
    f.db.exec("INSERT INTO " + f.table + " VALUES (1, 'a', 1, 'x'), (2, 'b', 2, 'y')");
    f.start();
    auto c = f.client();
    c.send({{"type", "subscribe"}, {"id", "a"}, {"table", f.table}, {"where", "grp = 'a'"}});
    REQUIRE(changes(c.until("up-to-date", "a")).size() == 1);
    f.db.exec("DELETE FROM " + f.table + " WHERE id = 1");
    auto gone = changes(c.until("up-to-date", "a"));
    REQUIRE(gone.size() == 1);
    CHECK(gone[0]["op"] == "delete");
    CHECK(gone[0]["key"] == json{{"id", 1}});
    CHECK(gone[0]["old"] == json{{"id", 1}}); // only what the key image holds, nothing invented
    // An update leaving the filter cannot be told from the new row alone: a key-only delete too.
    f.db.exec("INSERT INTO " + f.table + " VALUES (3, 'a', 3, 'z')");
    CHECK(changes(c.until("up-to-date", "a")).size() == 1);
    f.db.exec("UPDATE " + f.table + " SET grp = 'b' WHERE id = 3");
    auto left = changes(c.until("up-to-date", "a"));
    REQUIRE(left.size() == 1);
    CHECK(left[0]["op"] == "delete");
    CHECK(left[0]["key"] == json{{"id", 3}});
}

TEST_CASE("a slot created again under the same name starts a new epoch: old offsets refetch (F4)",
          "[serve][integration]") {
    Fixture f;
    f.start();
    const std::string offset = offset_after_insert(f, "1, 'a', 1, 'old life'");
    CHECK(f.server->stop() == 0);
    f.db.exec("SELECT pg_drop_replication_slot('" + f.slot + "')");
    f.db.exec("INSERT INTO " + f.table + " VALUES (2, 'a', 2, 'lost between the slots')");
    auto init = run_process({tool_path("pgsync-init"), "-d", test_dsn(), "-S", f.slot, "-P", f.pub,
                             "-t", f.table, "--if-not-exists"});
    REQUIRE(init.exit_code == 0);
    f.start();
    CHECK(f.server->err().find("it was moved or created again") != std::string::npos);
    auto c = f.client();
    c.send({{"type", "subscribe"}, {"id", "s"}, {"table", f.table}, {"offset", offset}});
    CHECK(c.until("must-refetch", "s").back()["reason"] == "epoch-changed");
}

TEST_CASE("resuming from a change inside a transaction gets the rest of it, then up-to-date",
          "[serve][integration]") {
    Fixture f;
    f.start();
    std::string middle;
    {
        auto c = f.client();
        c.send({{"type", "subscribe"}, {"id", "s"}, {"table", f.table}});
        c.until("up-to-date", "s");
        f.db.exec("INSERT INTO " + f.table +
                  " VALUES (1, 'a', 1, 'x'), (2, 'a', 2, 'y'), (3, 'a', 3, 'z')");
        auto txn = changes(c.until("up-to-date", "s"));
        REQUIRE(txn.size() == 3);
        middle = txn[0]["offset"]; // the client stopped after the first row
    }
    auto c = f.client();
    c.send({{"type", "subscribe"}, {"id", "s"}, {"table", f.table}, {"offset", middle}});
    auto frames = c.until("up-to-date", "s");
    auto rest = changes(frames);
    REQUIRE(rest.size() == 2); // no up-to-date between the rows of one transaction
    CHECK(rest[0]["new"]["id"] == 2);
    CHECK(rest[1]["new"]["id"] == 3);
}

TEST_CASE("garbage WebSocket bytes close only that connection, a killed walsender is reconnected",
          "[serve][integration]") {
    Fixture f;
    f.start();
    auto good = f.client();
    good.send({{"type", "subscribe"}, {"id", "s"}, {"table", f.table}});
    good.until("up-to-date", "s");

    auto bad = f.client();
    REQUIRE(bad.raw().send_raw(std::string("\x8f\xff\x00\x01\x02\x03garbage", 14)));
    CHECK(!bad.next(3000));
    CHECK(bad.raw().closed());

    // The replication connection dies: the server reconnects and loses nothing.
    f.db.exec(
        "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = '" +
        f.slot + "' AND active_pid IS NOT NULL");
    f.db.exec("INSERT INTO " + f.table + " VALUES (1, 'a', 1, 'after the walsender died')");
    std::vector<json> got;
    while (got.empty()) {
        auto frames = changes(good.until("up-to-date", "s", 30000));
        got.insert(got.end(), frames.begin(), frames.end());
    }
    REQUIRE(got.size() == 1);
    CHECK(got[0]["new"]["note"] == "after the walsender died");
    CHECK(http_get("127.0.0.1", f.server->port(), "/v1/health").status == 200);
}
