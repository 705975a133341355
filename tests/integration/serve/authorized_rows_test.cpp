// Per-row authorisation by the app's webhook, end to end: a real pgsync-serve configured with
// serve.auth.row_webhook, a webhook served by the test (the app's part), the harness's PostgreSQL.
// A user sees only rows the webhook authorised for that user, initial and live, plain and ordered;
// a denial drops the row or ends the subscription; a failing webhook delivers nothing past the
// failure and the client resumes from its offset once it answers; verdicts are cached per user
// and row; /v1/shape refuses a token's user rather than skip the webhook.
#include "http_server.h"
#include "pg_test.h"
#include "serve/access/auth.h"
#include "serve_support.h"
#include "util/unix_time.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <fstream>
#include <libpq-fe.h>
#include <set>

using namespace pgsync;
using namespace pgsync::test;
using nlohmann::json;

namespace {

const std::string kSecret = "a-secret-for-the-row-webhook-tests-0123456789";

struct Fixture {
    Fixture() {
        table = unique_name("rows");
        slot = unique_name("rowsslot");
        pub = unique_name("rowspub");
        dir = test_tmp_dir() + "/" + unique_name("rows");
        db.exec("CREATE TABLE " + table + " (id int PRIMARY KEY, owner text, ts int, body text)");
        db.exec("CREATE INDEX ON " + table + " (ts)");
        db.exec("ALTER TABLE " + table + " REPLICA IDENTITY FULL");
        db.exec("INSERT INTO " + table +
                " VALUES (1, 'u1', 1, 'one'), (2, 'u2', 2, 'two'), (3, 'u1', 3, 'three')");
        create_slot(slot, pub, {table});
    }
    ~Fixture() {
        server.reset();
        drop_slot(slot);
    }
    void start(const std::string& url, const std::string& on_deny) {
        const std::string config = dir + ".yaml";
        std::ofstream(config) << "serve:\n  auth:\n    row_webhook:\n      url: " << url
                              << "\n      timeout: 1s\n      cache_ttl: 60s\n      on_deny: "
                              << on_deny << "\n";
        server = std::make_unique<ServeProcess>(
            slot, pub, dir,
            ServeConfig{{"--config", config, "--jwt-secret-env", "PGSYNC_TEST_JWT"},
                        {{"PGSYNC_TEST_JWT", kSecret}},
                        false});
    }
    ServeClient client(const std::string& user) {
        json claims = {{"sub", user},
                       {"exp", unix_now() + 600},
                       {"pgsync", {{"tables", {{table, json::object()}}}}}};
        return ServeClient::connect(server->port(),
                                    "/v1/ws?token=" + serve::sign_hs256(claims.dump(), kSecret));
    }
    pg::Connection db = connect_test_db();
    std::string table, slot, pub, dir;
    std::unique_ptr<ServeProcess> server;
};

// The app's webhook: a user may see the rows they own; rows whose body is "boom" fail while
// `failing` is set. Counts the checks it answered.
struct App {
    std::atomic<bool> failing{false};
    std::atomic<int> checks{0};
    HttpServer server{[this](const HttpServerRequest& request) {
        json check = json::parse(request.body, nullptr, false);
        HttpServerResponse response;
        if (!check.is_object()) {
            response.status = 400;
            return response;
        }
        ++checks;
        if (failing && check["row"].value("body", "") == "boom") {
            response.status = 500;
            return response;
        }
        response.body =
            json{{"delivery_authorized", check["row"].value("owner", "") == check["userId"]}}
                .dump();
        return response;
    }};
};

std::set<int> ids_of(const std::vector<json>& frames, const std::string& id) {
    std::set<int> ids;
    for (const json& frame : frames)
        if (frame["type"] == "change" && frame["id"] == id && frame.contains("new"))
            ids.insert(frame["new"]["id"].get<int>());
    return ids;
}

} // namespace

TEST_CASE("with a row webhook, a user gets only the rows the app authorises for them, initial "
          "and live, plain and ordered, each row asked about once",
          "[serve][integration][webhook]") {
    Fixture f;
    App app;
    f.start(app.server.url("/authorize-row"), "drop");
    auto c = f.client("u1");
    c.send({{"type", "subscribe"}, {"id", "all"}, {"table", f.table}});
    CHECK(ids_of(c.until("up-to-date", "all"), "all") == std::set<int>{1, 3});
    REQUIRE(!app.server.bodies().empty());
    // What the app was asked: the user, the database, the table and the row as the client sees it.
    const json first = json::parse(app.server.bodies().front());
    CHECK(first["userId"] == "u1");
    pg::Result database = f.db.exec("SELECT current_database()");
    CHECK(first["sourceDbId"] == std::string(PQgetvalue(database.raw(), 0, 0)));
    CHECK(first["schema"] == "public");
    CHECK(first["table"] == f.table);
    CHECK(first["row"].contains("body"));
    const int asked = app.checks;
    CHECK(asked == 3);

    f.db.exec("INSERT INTO " + f.table + " VALUES (4, 'u2', 4, 'four'), (5, 'u1', 5, 'five')");
    CHECK(ids_of(c.until("up-to-date", "all"), "all") == std::set<int>{5});
    // An ordered window of the user's rows: the verdicts are cached per user and row, so its rows
    // cost no call. (A window cannot skip a refused row, whose neighbours place the others: with
    // any on_deny, a refused row ends a window's subscription; see pgsync-serve(1).)
    c.send({{"type", "subscribe"},
            {"id", "latest"},
            {"table", f.table},
            {"where", "owner = 'u1'"},
            {"order_by", "ts desc"},
            {"limit", 10}});
    CHECK(ids_of(c.until("up-to-date", "latest"), "latest") == std::set<int>{1, 3, 5});
    CHECK(app.checks == asked + 2);
    // Another user sees their own rows only.
    auto other = f.client("u2");
    other.send({{"type", "subscribe"}, {"id", "all"}, {"table", f.table}});
    CHECK(ids_of(other.until("up-to-date", "all"), "all") == std::set<int>{2, 4});
    // /v1/shape cannot wait for the webhook: a token's user is refused there.
    json claims = {{"sub", "u1"},
                   {"exp", unix_now() + 600},
                   {"pgsync", {{"tables", {{f.table, json::object()}}}}}};
    auto shape = http_request(
        "GET", "127.0.0.1", f.server->port(), "/v1/shape?table=" + f.table + "&offset=-1",
        {{"Authorization", "Bearer " + serve::sign_hs256(claims.dump(), kSecret)}});
    CHECK(shape.status == 403);
}

TEST_CASE("with on_deny: cancel, a row the app refuses ends the subscription with "
          "unauthorized-row",
          "[serve][integration][webhook]") {
    Fixture f;
    App app;
    f.start(app.server.url("/authorize-row"), "cancel");
    auto c = f.client("u1");
    c.send({{"type", "subscribe"}, {"id", "s"}, {"table", f.table}, {"where", "id = 1"}});
    CHECK(ids_of(c.until("up-to-date", "s"), "s") == std::set<int>{1});
    f.db.exec("UPDATE " + f.table + " SET owner = 'u2' WHERE id = 1");
    auto frames = c.until("error", "s");
    CHECK(frames.back()["code"] == "unauthorized-row");
    CHECK(ids_of(frames, "s").empty()); // the refused row never left the server
}

TEST_CASE("a webhook that fails delivers nothing past the failure, and the client resumes from "
          "its offset once it answers",
          "[serve][integration][webhook]") {
    Fixture f;
    App app;
    f.start(app.server.url("/authorize-row"), "drop");
    auto c = f.client("u1");
    c.send({{"type", "subscribe"}, {"id", "s"}, {"table", f.table}});
    const std::string offset = c.until("up-to-date", "s").back()["offset"];
    app.failing = true;
    f.db.exec("INSERT INTO " + f.table + " VALUES (6, 'u1', 6, 'boom'), (7, 'u1', 7, 'after')");
    auto frames = c.until("error", "s");
    CHECK(frames.back()["code"] == "authorization-unavailable");
    CHECK(frames.back()["message"].get<std::string>().find("HTTP 500") != std::string::npos);
    for (const json& frame : frames)
        CHECK(frame["type"] != "up-to-date");
    CHECK(ids_of(frames, "s").count(7) == 0); // nothing past the row that failed
    app.failing = false;
    c.send({{"type", "subscribe"}, {"id", "s"}, {"table", f.table}, {"offset", offset}});
    CHECK(ids_of(c.until("up-to-date", "s"), "s") == std::set<int>{6, 7});
}
