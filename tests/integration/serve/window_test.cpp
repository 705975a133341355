// Ordered windows and tokens refreshed in place, end to end: a real pgsync-serve, the harness's
// PostgreSQL, real WebSocket clients. After every round of random writes a window's subscribers
// hold exactly what SELECT … ORDER BY … LIMIT returns, subscribers of the same window share one
// set of rows and its refills, and a window no index serves is refused with the index to create.
#include "pg_test.h"
#include "serve/access/auth.h"
#include "serve_support.h"
#include "util/unix_time.h"

#include <catch2/catch.hpp>
#include <libpq-fe.h>
#include <random>
#include <thread>

using namespace pgsync;
using namespace pgsync::test;
using nlohmann::json;

namespace {

struct Fixture {
    Fixture() {
        table = unique_name("win");
        slot = unique_name("winslot");
        pub = unique_name("winpub");
        dir = test_tmp_dir() + "/" + unique_name("window");
        db.exec("CREATE TABLE " + table + " (id int PRIMARY KEY, grp text, ts int, body text)");
        db.exec("CREATE INDEX ON " + table + " (grp, ts DESC)");
        create_slot(slot, pub, {table});
    }
    ~Fixture() {
        server.reset();
        drop_slot(slot);
    }
    void start(const ServeConfig& config = {}) {
        server = std::make_unique<ServeProcess>(slot, pub, dir, config);
    }
    ServeClient client(const std::string& path = "/v1/ws") {
        return ServeClient::connect(server->port(), path);
    }
    pg::Connection db = connect_test_db();
    std::string table, slot, pub, dir;
    std::unique_ptr<ServeProcess> server;
};

// The rows a window's frames leave a client with, in order (pgsync-serve(1), "Ordered windows").
struct WindowRows {
    std::vector<json> rows; // {"key", "new"}
    long find(const json& key) const {
        for (size_t i = 0; i < rows.size(); ++i)
            if (rows[i]["key"] == key) return long(i);
        return -1;
    }
    void apply(const json& frame) {
        if (frame["type"] != "change") return;
        const long at = find(frame["key"]);
        if (at >= 0) rows.erase(rows.begin() + at);
        if (frame["op"] == "delete") return;
        auto position = rows.end();
        if (!frame["before"].is_null()) {
            const long before = find(frame["before"]);
            REQUIRE(before >= 0);
            position = rows.begin() + before;
        }
        rows.insert(position, json{{"key", frame["key"]}, {"new", frame["new"]}});
    }
    std::vector<int> ids() const {
        std::vector<int> out;
        for (const auto& row : rows)
            out.push_back(row["key"]["id"].get<int>());
        return out;
    }
};

std::vector<int> query_ids(pg::Connection& db, const std::string& sql) {
    pg::Result r = db.exec(sql);
    std::vector<int> out;
    for (int i = 0; i < PQntuples(r.raw()); ++i)
        out.push_back(std::stoi(PQgetvalue(r.raw(), i, 0)));
    return out;
}

json window(const std::string& id, const std::string& table, int limit) {
    return {{"type", "subscribe"}, {"id", id},        {"table", table},
            {"where", "grp = $1"}, {"params", {"a"}}, {"order_by", "ts desc"},
            {"limit", limit}};
}

// Frames until the up-to-date after which the client holds the row with this body.
void until_body(ServeClient& c, WindowRows& rows, const std::string& id, const std::string& body) {
    for (int i = 0; i < 200; ++i) {
        for (const json& frame : c.until("up-to-date", id))
            if (frame.value("id", "") == id) rows.apply(frame);
        for (const auto& row : rows.rows)
            if (row["new"]["body"] == body) return;
    }
    FAIL("the window never showed \"" << body << "\"");
}

} // namespace

TEST_CASE("an ordered window equals SELECT ... ORDER BY ... LIMIT after every round of random "
          "writes, and its subscribers share it",
          "[serve][integration][window]") {
    Fixture f;
    std::mt19937 random(7);
    std::string values;
    for (int id = 1; id <= 200; ++id)
        values += (values.empty() ? "" : ",") + std::string("(") + std::to_string(id) + ",'" +
                  (random() % 2 ? "a" : "b") + "'," + std::to_string(random() % 50) + ",'x')";
    f.db.exec("INSERT INTO " + f.table + " VALUES " + values);
    f.start();
    auto first = f.client(), second = f.client(), other = f.client();
    // On one connection (one shard), two subscriptions of one window and one of another.
    first.send(window("w", f.table, 10));
    first.send(window("w-again", f.table, 10));
    first.send(window("w5", f.table, 5));
    WindowRows rows1, rows1_again, rows5;
    for (const json& frame : first.until("up-to-date", "w"))
        rows1.apply(frame);
    for (const json& frame : first.until("up-to-date", "w-again"))
        rows1_again.apply(frame);
    CHECK(rows1_again.ids() == rows1.ids());
    CHECK(metric(f.server->port(), "pgsync_serve_windows") == 2);
    first.send({{"type", "unsubscribe"}, {"id", "w-again"}});
    first.send({{"type", "unsubscribe"}, {"id", "w5"}});
    // A window whose last subscriber left is made afresh when asked for again.
    first.send(window("w5-again", f.table, 5));
    first.until("up-to-date", "w5-again");
    first.send({{"type", "unsubscribe"}, {"id", "w5-again"}});
    // Connections on other shards keep their own copy of a window.
    second.send(window("w", f.table, 10));
    other.send(window("w5", f.table, 5));
    WindowRows rows2;
    for (const json& frame : second.until("up-to-date", "w"))
        rows2.apply(frame);
    for (const json& frame : other.until("up-to-date", "w5"))
        rows5.apply(frame);
    const std::string expected =
        "SELECT id FROM " + f.table + " WHERE grp = 'a' ORDER BY ts DESC, id LIMIT ";
    CHECK(rows1.ids() == query_ids(f.db, expected + "10"));
    CHECK(rows5.ids() == query_ids(f.db, expected + "5"));
    const int64_t windows = metric(f.server->port(), "pgsync_serve_windows");

    const int rounds = 40;
    for (int round = 0; round < rounds; ++round) {
        std::string sql = "BEGIN;";
        for (int n = 0; n < 5; ++n) {
            const int id = 1 + int(random() % 220);
            switch (random() % 4) {
            case 0:
                sql += "DELETE FROM " + f.table + " WHERE id = " + std::to_string(id) + ";";
                break;
            case 1:
                sql += "INSERT INTO " + f.table + " VALUES (" + std::to_string(id) + ", 'a', " +
                       std::to_string(random() % 60) +
                       ", 'n') ON CONFLICT (id) DO UPDATE SET "
                       "ts = EXCLUDED.ts;";
                break;
            case 2:
                sql += "UPDATE " + f.table +
                       " SET grp = CASE grp WHEN 'a' THEN 'b' ELSE 'a' END "
                       "WHERE id = " +
                       std::to_string(id) + ";";
                break;
            default:
                sql += "UPDATE " + f.table + " SET ts = ts + " + std::to_string(random() % 20) +
                       " - 10 WHERE id = " + std::to_string(id) + ";";
            }
        }
        // A marker that sorts first, so every round ends with a frame to wait for.
        const std::string body = "round " + std::to_string(round);
        sql += "INSERT INTO " + f.table + " VALUES (0, 'a', 1000000, '" + body +
               "') ON CONFLICT (id) DO UPDATE SET body = EXCLUDED.body, grp = 'a', ts = 1000000;"
               "COMMIT;";
        f.db.exec(sql);
        INFO("round " << round);
        until_body(first, rows1, "w", body);
        until_body(second, rows2, "w", body);
        until_body(other, rows5, "w5", body);
        REQUIRE(rows1.ids() == query_ids(f.db, expected + "10"));
        REQUIRE(rows2.ids() == rows1.ids());
        REQUIRE(rows5.ids() == query_ids(f.db, expected + "5"));
    }
    // Refills ran per window, not per subscriber, and far fewer than the rounds.
    const int64_t fills = metric(f.server->port(), "pgsync_serve_window_fills_total");
    CHECK(fills >= windows);
    CHECK(fills < windows + rounds);
    // A subscriber that joins now gets the same rows at once, with no query (on the same
    // connection, so on the shard that holds the window).
    first.send(window("w-late", f.table, 10));
    WindowRows late_rows;
    for (const json& frame : first.until("up-to-date", "w-late"))
        if (frame.value("id", "") == "w-late") late_rows.apply(frame);
    CHECK(late_rows.ids() == rows1.ids());
    CHECK(metric(f.server->port(), "pgsync_serve_window_fills_total") == fills);
}

TEST_CASE("a window no index serves, or asked for wrongly, is refused with what to do",
          "[serve][integration][window]") {
    Fixture f;
    f.start();
    auto c = f.client();
    json request = window("w", f.table, 10);
    request["order_by"] = "body";
    c.send(request);
    json refused = c.until("error", "w").back();
    CHECK(refused["code"] == "bad-order");
    INFO(refused.dump());
    CHECK(refused["message"].get<std::string>().find("CREATE INDEX ON public." + f.table +
                                                     " (grp, body COLLATE \"C\");") !=
          std::string::npos);
    request["order_by"] = "nope desc";
    c.send(request);
    CHECK(c.until("error", "w")
              .back()["message"]
              .get<std::string>()
              .find("column \"nope\" does not exist") != std::string::npos);
    request = window("w", f.table, 10);
    request.erase("order_by");
    c.send(request);
    CHECK(c.until("error", "w").back()["code"] == "bad-frame");
    request = window("w", f.table, 0);
    c.send(request);
    CHECK(c.until("error", "w").back()["code"] == "bad-frame");
    request = window("w", f.table, 10);
    request["offset"] = "x";
    c.send(request);
    CHECK(c.until("error", "w").back()["message"].get<std::string>().find("subscribe without") !=
          std::string::npos);
    // The connection is still good.
    c.send(window("ok", f.table, 3));
    c.until("up-to-date", "ok");
}

TEST_CASE("a token refreshed on the connection outlives the first one's expiry, another subject "
          "or a narrower grant is handled",
          "[serve][integration][window][auth]") {
    Fixture f;
    f.db.exec("INSERT INTO " + f.table + " VALUES (1, 'a', 1, 'x'), (2, 'b', 2, 'y')");
    const std::string secret = "a-secret-for-refreshing-tokens-in-place";
    f.start({{"--jwt-secret-env", "PGSYNC_TEST_JWT"}, {{"PGSYNC_TEST_JWT", secret}}, false});
    auto token = [&](const std::string& sub, int64_t ttl, const json& grant) {
        json claims = {
            {"sub", sub}, {"exp", unix_now() + ttl}, {"pgsync", {{"tables", {{f.table, grant}}}}}};
        return serve::sign_hs256(claims.dump(), secret);
    };
    const int64_t first_expiry = unix_now() + 5;
    auto c = f.client("/v1/ws?token=" + token("u1", 5, json::object()));
    c.send(window("w", f.table, 10));
    c.until("up-to-date", "w");
    c.send({{"type", "subscribe"}, {"id", "all"}, {"table", f.table}});
    c.until("up-to-date", "all");
    c.send({{"type", "auth"}, {"token", token("u2", 600, json::object())}});
    json refused = c.until("error").back();
    CHECK(refused["code"] == "bad-token");
    c.send({{"type", "auth"}, {"token", "not.a.token"}});
    CHECK(c.until("error").back()["code"] == "bad-token");
    c.send({{"type", "auth"}, {"token", token("u1", 600, json::object())}});
    json ok = c.until("auth-ok").back();
    CHECK(ok["expires_at"].get<int64_t>() > unix_now() + 500);
    // Past the first token's expiry the connection lives on and gets changes.
    while (unix_now() <= first_expiry + 1)
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    f.db.exec("INSERT INTO " + f.table + " VALUES (3, 'a', 3, 'z')");
    c.until("up-to-date", "all");
    // A narrower grant: what was read under the old one must be read again.
    c.send({{"type", "auth"}, {"token", token("u1", 600, {{"where", "grp = 'b'"}})}});
    auto frames = c.until("auth-ok");
    int refetch = 0;
    for (const json& frame : frames)
        if (frame["type"] == "must-refetch" && frame["reason"] == "grant-changed") ++refetch;
    CHECK(refetch == 2);
}
