// pgsync-serve against the defects of the issue 9 review, each tried as the reviewer did: rows
// outside a grant, one client stalling others, lost or doubled rows, and protocol limits.
#include "pg_test.h"
#include "serve/access/auth.h"
#include "serve_support.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

using namespace pgsync;
using namespace pgsync::test;
using nlohmann::json;

namespace {

struct Fixture {
    explicit Fixture(const std::string& columns = "id int PRIMARY KEY, grp text, n int, note text",
                     bool full_identity = true) {
        table = unique_name("hd");
        slot = unique_name("hdslot");
        pub = unique_name("hdpub");
        dir = test_tmp_dir() + "/" + unique_name("hdserve");
        db.exec("SET client_min_messages = warning");
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
    ServeClient client(const HttpHeaders& headers = {}) {
        return ServeClient::connect(server->port(), "/v1/ws", headers);
    }

    pg::Connection db = connect_test_db();
    std::string table, slot, pub, dir;
    std::unique_ptr<ServeProcess> server;
};

std::vector<json> changes(const std::vector<json>& frames, const std::string& id = {}) {
    std::vector<json> out;
    for (const auto& f : frames)
        if (f.value("type", "") == "change" && (id.empty() || f.value("id", "") == id))
            out.push_back(f);
    return out;
}

std::set<int> ids_of(const std::vector<json>& rows) {
    std::set<int> out;
    for (const auto& r : rows)
        out.insert(r["key"]["id"].get<int>());
    return out;
}

int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

json subscribe(const std::string& id, const std::string& table, const std::string& where = {},
               const json& params = json::array()) {
    json frame = {{"type", "subscribe"}, {"id", id}, {"table", table}};
    if (!where.empty()) frame["where"] = where;
    if (!params.empty()) frame["params"] = params;
    return frame;
}

// An insecure server with extra flags.
ServeConfig with(std::vector<std::string> args) {
    ServeConfig config;
    config.extra_args = std::move(args);
    return config;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

} // namespace

// ---- 1. Rows outside the grant

TEST_CASE("issue 9: a load on a nondeterministic-collation column sends only byte-equal rows",
          "[serve][integration][security]") {
    {
        auto db = connect_test_db();
        try {
            db.exec("CREATE COLLATION IF NOT EXISTS pgsync_case_insensitive (provider = icu, "
                    "locale = 'und-u-ks-level2', deterministic = false)");
        } catch (const std::exception&) {
        }
    }
    Fixture f("id int PRIMARY KEY, tenant text COLLATE pgsync_case_insensitive, n int");
    f.db.exec("INSERT INTO " + f.table +
              " VALUES (1, 'alice', 1), (2, 'ALICE', 2), (3, 'Alice', 3), (4, 'bob', 4)");
    f.start();
    auto c = f.client();
    c.send(subscribe("eq", f.table, "tenant = 'alice'"));
    CHECK(ids_of(changes(c.until("up-to-date", "eq"))) == std::set<int>{1});
    c.send(subscribe("in", f.table, "tenant IN ('alice', 'bob')"));
    CHECK(ids_of(changes(c.until("up-to-date", "in"))) == std::set<int>{1, 4});
    c.send(subscribe("ne", f.table, "tenant <> 'alice'"));
    CHECK(ids_of(changes(c.until("up-to-date", "ne"))) == std::set<int>{2, 3, 4});
}

TEST_CASE("issue 9: loads follow the publication as it is now: dropped tables, narrowed "
          "columns and row filters",
          "[serve][integration][security]") {
    Fixture f;
    f.db.exec("INSERT INTO " + f.table + " VALUES (1, 'a', 1, 'secret1'), (2, 'a', 9, 'secret2')");
    f.start();
    auto c = f.client();
    c.send(subscribe("before", f.table));
    CHECK(changes(c.until("up-to-date", "before")).size() == 2);

    // A narrower row filter applies to the next load at once.
    f.db.exec("ALTER PUBLICATION " + f.pub + " SET TABLE " + f.table + " WHERE (n > 5)");
    c.send(subscribe("filtered", f.table));
    CHECK(ids_of(changes(c.until("up-to-date", "filtered"))) == std::set<int>{2});

    // A column removed from the list is never loaded: the load ends in must-refetch, and the
    // next one has the new columns.
    f.db.exec("ALTER PUBLICATION " + f.pub + " SET TABLE " + f.table + " (id, grp, n)");
    c.send(subscribe("narrowed", f.table));
    auto frames = c.until("must-refetch", "narrowed");
    CHECK(changes(frames, "narrowed").empty());
    c.send(subscribe("again", f.table));
    auto rows = changes(c.until("up-to-date", "again"));
    REQUIRE(rows.size() == 2);
    for (const auto& row : rows)
        CHECK(!row["new"].contains("note"));

    // A table dropped from the publication is no longer loaded.
    f.db.exec("ALTER PUBLICATION " + f.pub + " DROP TABLE " + f.table);
    c.send(subscribe("dropped", f.table));
    std::vector<json> seen;
    for (auto frame = c.next(5000); frame; frame = c.next(1500)) {
        if (frame->value("id", "") != "dropped") continue;
        seen.push_back(*frame);
        if ((*frame)["type"] != "change") break;
    }
    REQUIRE(!seen.empty());
    CHECK(changes(seen).empty());
    CHECK(seen.back()["type"] != "up-to-date");
    c.send(subscribe("after", f.table));
    CHECK(c.until("error", "after").back()["code"] == "unknown-table");
}

TEST_CASE("issue 9: a token filter on non-key columns needs REPLICA IDENTITY FULL",
          "[serve][integration][security]") {
    Fixture f("id int PRIMARY KEY, tenant text, body text", false);
    f.db.exec("INSERT INTO " + f.table + " VALUES (1, 'a', 'x'), (2, 'b', 'y')");
    const std::string secret = "a-secret-of-at-least-thirty-two-bytes!";
    f.start({{"--jwt-secret-env", "PGSYNC_TEST_JWT"}, {{"PGSYNC_TEST_JWT", secret}}, false});
    auto token_for = [&](const std::string& where) {
        json claims = {{"sub", "u"},
                       {"exp", unix_now() + 600},
                       {"pgsync", {{"tables", {{f.table, {{"where", where}}}}}}}};
        return serve::sign_hs256(claims.dump(), secret);
    };
    auto tenant = f.client({{"Authorization", "Bearer " + token_for("tenant = 'a'")}});
    tenant.send(subscribe("s", f.table));
    auto error = tenant.until("error", "s").back();
    CHECK(error["code"] == "forbidden");
    CHECK(error["message"].get<std::string>().find("REPLICA IDENTITY FULL") != std::string::npos);

    // A grant on the key alone is exact with a key-only old image, and is served.
    auto keyed = f.client({{"Authorization", "Bearer " + token_for("id = 1")}});
    keyed.send(subscribe("k", f.table));
    CHECK(ids_of(changes(keyed.until("up-to-date", "k"))) == std::set<int>{1});
    f.db.exec("DELETE FROM " + f.table + " WHERE id = 2");
    f.db.exec("UPDATE " + f.table + " SET body = 'z' WHERE id = 1");
    auto live = changes(keyed.until("up-to-date", "k"));
    REQUIRE(live.size() == 1); // the delete of id 2 does not reach it
    CHECK(live[0]["key"]["id"] == 1);
}

TEST_CASE("issue 9: without authentication only loopback pages and hosts may connect",
          "[serve][integration][security]") {
    Fixture f;
    f.start(with({"--allow-origin", "https://app.example.org"}));
    const int port = f.server->port();
    auto status = [&](const HttpHeaders& headers) {
        return WsClient::connect("127.0.0.1", port, "/v1/ws", headers).status;
    };
    CHECK(status({}) == 101); // not a browser: no Origin
    CHECK(status({{"Origin", "http://127.0.0.1:" + std::to_string(port)}}) == 101);
    CHECK(status({{"Origin", "http://localhost:3000"}}) == 101);
    CHECK(status({{"Origin", "https://app.example.org"}}) == 101);
    CHECK(status({{"Origin", "https://evil.example"}}) == 403);
    CHECK(status({{"Origin", "null"}}) == 403); // file:// pages and sandboxed frames
    CHECK(status({{"Origin", "http://127.0.0.1.evil.example"}}) == 403);
    // DNS rebinding: a public name that resolves to 127.0.0.1 still says so in Host.
    CHECK(status({{"Host", "rebind.evil.example:" + std::to_string(port)}}) == 403);
}

TEST_CASE("issue 9: with tokens, --allow-origin restricts the pages that may connect",
          "[serve][integration][security]") {
    Fixture f;
    const std::string secret = "a-secret-of-at-least-thirty-two-bytes!";
    f.start({{"--jwt-secret-env", "PGSYNC_TEST_JWT", "--allow-origin", "https://app.example.org"},
             {{"PGSYNC_TEST_JWT", secret}},
             false});
    json claims = {{"sub", "u"}, {"exp", unix_now() + 600}, {"pgsync", {{"tables", "*"}}}};
    const std::string path = "/v1/ws?token=" + serve::sign_hs256(claims.dump(), secret);
    const int port = f.server->port();
    CHECK(WsClient::connect("127.0.0.1", port, path, {{"Origin", "https://app.example.org"}})
              .status == 101);
    CHECK(WsClient::connect("127.0.0.1", port, path, {{"Origin", "https://other.example.org"}})
              .status == 403);
    CHECK(WsClient::connect("127.0.0.1", port, path).status == 101);
}

// ---- 2. One client must not stall the others

TEST_CASE("issue 9: a hostile connection's patterns, lists and storms do not delay another "
          "client's changes",
          "[serve][integration][hostile]") {
    Fixture f("id int PRIMARY KEY, grp text, n int, note text");
    // A big table makes every initial load of the attacker slow.
    f.db.exec("INSERT INTO " + f.table +
              " SELECT g, 'bulk', g, repeat('x', 200) FROM generate_series(1, 50000) g");
    f.start(with({"--load-jobs", "2"}));
    auto attacker = f.client();
    // Patterns past the limit are refused; the longest allowed ones are linear to match.
    std::string huge(20000, '%');
    attacker.send(subscribe("too-long", f.table, "note LIKE $1", json::array({huge})));
    CHECK(attacker.until("error", "too-long").back()["code"] == "bad-filter");
    std::string worst;
    for (int i = 0; i < 300; ++i)
        worst += "%a";
    worst += "%b";
    // The attacker never reads again from here on.
    for (int i = 0; i < 40; ++i)
        attacker.send(subscribe("like" + std::to_string(i), f.table, "note LIKE $1 OR n = $2",
                                json::array({worst, i})));
    // IN lists past the limit are refused; long allowed ones are searched, not scanned.
    std::string list;
    for (int i = 0; i < 1001; ++i)
        list += (i ? "," : "") + std::to_string(i);
    attacker.send(subscribe("in", f.table, "n IN (" + list + ")"));
    // A storm of subscribe/unsubscribe pairs, each starting a 50,000-row load.
    for (int i = 0; i < 1000; ++i) {
        attacker.send(subscribe("storm" + std::to_string(i), f.table));
        attacker.send({{"type", "unsubscribe"}, {"id", "storm" + std::to_string(i)}});
    }

    // The victim: a 3-row load, then changes whose rows carry a 40 kB note (the attacker's
    // patterns must scan it all).
    auto victim = f.client();
    const auto subscribed = std::chrono::steady_clock::now();
    f.db.exec("INSERT INTO " + f.table +
              " VALUES (-1, 'v', 0, 'v'), (-2, 'v', 0, 'v'), "
              "(-3, 'v', 0, 'v')");
    victim.send(subscribe("v", f.table, "grp = 'v'"));
    auto initial = victim.until("up-to-date", "v", 30000);
    const double load_seconds = seconds_since(subscribed);
    CHECK(changes(initial).size() == 3);
    CHECK(load_seconds < 10);
    double worst_delay = 0;
    for (int i = 0; i < 5; ++i) {
        const auto written = std::chrono::steady_clock::now();
        f.db.exec("INSERT INTO " + f.table + " VALUES (" + std::to_string(-10 - i) +
                  ", 'v', 0, repeat('a', 40000))");
        victim.until("up-to-date", "v", 30000);
        worst_delay = std::max(worst_delay, seconds_since(written));
    }
    INFO("victim's 3-row load took " << load_seconds << " s; its slowest change " << worst_delay
                                     << " s");
    // Generous for a shared 2-core machine; the review measured 12-15 s and over 60 s.
    CHECK(worst_delay < 2.0);
    auto health = http_get("127.0.0.1", f.server->port(), "/v1/health", {}, 2000);
    CHECK(health.status == 200);
}

TEST_CASE("issue 9: a filter budget per connection refuses what would slow every change",
          "[serve][integration][hostile]") {
    Fixture f;
    f.start();
    auto c = f.client();
    std::string pattern(1000, 'a');
    int refused_at = -1;
    for (int i = 0; i < 20 && refused_at < 0; ++i) {
        c.send(subscribe("p" + std::to_string(i), f.table, "note LIKE $1",
                         json::array({pattern + std::to_string(i)})));
        for (auto frame = c.next(5000); frame; frame = c.next(5000)) {
            if ((*frame)["id"] != "p" + std::to_string(i)) continue;
            if ((*frame)["type"] == "error") {
                CHECK((*frame)["code"] == "too-expensive");
                refused_at = i;
            }
            if ((*frame)["type"] == "error" || (*frame)["type"] == "up-to-date") break;
        }
    }
    CHECK(refused_at > 0);
    // Unsubscribing gives the budget back.
    c.send({{"type", "unsubscribe"}, {"id", "p0"}});
    c.send(subscribe("again", f.table, "note LIKE $1", json::array({pattern})));
    CHECK(c.until("up-to-date", "again").back()["type"] == "up-to-date");
}

TEST_CASE("issue 9: a client that stops reading is closed within a bounded time and frees its slot",
          "[serve][integration][hostile]") {
    Fixture f;
    f.start(with({"--client-queue-bytes", "64kB", "--client-timeout", "1", "--max-clients", "1",
                  "--idle-timeout", "4"}));
    const int port = f.server->port();
    auto stuck = ServeClient::connect(port, "/v1/ws", {}, 4096);
    stuck.send(subscribe("s", f.table));
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    for (int i = 0; i < 20; ++i)
        f.db.exec("INSERT INTO " + f.table + " SELECT g + " + std::to_string(i * 200) +
                  ", 'a', g, repeat('y', 2000) FROM generate_series(1, 200) g");
    // It never reads again; the server must let go of it all the same.
    const auto start = std::chrono::steady_clock::now();
    int64_t clients = -1;
    while (seconds_since(start) < 20) {
        clients = metric(port, "pgsync_serve_clients");
        if (clients == 0) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    INFO("closed after " << seconds_since(start) << " s");
    CHECK(clients == 0);
    auto next = WsClient::connect("127.0.0.1", port, "/v1/ws");
    CHECK(next.status == 101);
}

TEST_CASE("issue 9: idle clients are pinged, one that answers stays, one that does not is closed",
          "[serve][integration][hostile]") {
    Fixture f;
    f.start(with({"--idle-timeout", "2"}));
    const int port = f.server->port();
    auto silent = WsClient::connect("127.0.0.1", port, "/v1/ws");
    auto polite = ServeClient::connect(port);
    REQUIRE(silent.ok());
    const auto start = std::chrono::steady_clock::now();
    while (seconds_since(start) < 6) {
        polite.next(200); // answers the server's pings
    }
    // The silent one never read its pings: the server has closed it.
    CHECK(metric(port, "pgsync_serve_clients") == 1);
    polite.send(subscribe("still", f.table));
    CHECK(polite.until("up-to-date", "still").back()["type"] == "up-to-date");
}

// ---- 3. Lost or doubled rows

TEST_CASE("issue 9: loads under an asynchronous-commit writer deliver each row once",
          "[serve][integration]") {
    Fixture f;
    f.start();
    std::atomic<bool> stop{false};
    std::thread writer([&] {
        auto db = connect_test_db();
        db.exec("SET synchronous_commit = off");
        for (int i = 1; !stop && i < 100000; ++i)
            db.exec("INSERT INTO " + f.table + " VALUES (" + std::to_string(i) + ", 'a', " +
                    std::to_string(i) + ", 'w')");
    });
    int duplicates = 0;
    for (int round = 0; round < 12; ++round) {
        auto c = f.client();
        c.send(subscribe("s", f.table));
        std::vector<json> frames = c.until("up-to-date", "s", 30000);
        for (int more = 0; more < 3; ++more) {
            auto live = c.until("up-to-date", "s", 30000);
            frames.insert(frames.end(), live.begin(), live.end());
        }
        std::set<int> seen;
        for (const auto& row : changes(frames))
            if (row["op"] == "insert" && !seen.insert(row["key"]["id"].get<int>()).second)
                ++duplicates;
    }
    stop = true;
    writer.join();
    CHECK(duplicates == 0);
}

TEST_CASE("issue 9: an update that leaves a filtered TOASTed column unchanged is an update",
          "[serve][integration]") {
    Fixture f("id int PRIMARY KEY, body text, n int", false);
    // Incompressible and long, so it is stored out of line and pgoutput sends it as unchanged.
    f.db.exec("ALTER TABLE " + f.table + " ALTER COLUMN body SET STORAGE EXTERNAL");
    f.db.exec(
        "INSERT INTO " + f.table +
        " SELECT 1, 'keep' || string_agg(md5(g::text), '') , 0 FROM generate_series(1, 400) g");
    f.start();
    auto c = f.client();
    c.send(subscribe("s", f.table, "body LIKE 'keep%'"));
    REQUIRE(changes(c.until("up-to-date", "s")).size() == 1);
    f.db.exec("UPDATE " + f.table + " SET n = 1 WHERE id = 1");
    auto live = changes(c.until("up-to-date", "s"));
    REQUIRE(live.size() == 1);
    CHECK(live[0]["op"] == "update");
    CHECK(live[0]["new"]["n"] == 1);
    CHECK(!live[0]["new"].contains("body"));
}

TEST_CASE("issue 9: consumer acks are kept across a kill, and names ending in .tmp are names",
          "[serve][integration]") {
    Fixture f;
    const std::string key = "stream-test-key";
    const ServeConfig config{
        {"--api-key-env", "PGSYNC_TEST_KEY"}, {{"PGSYNC_TEST_KEY", key}}, false};
    f.start(config);
    const HttpHeaders auth = {{"Authorization", "Bearer " + key}};
    // The next transaction's commit offset and the note of its insert.
    auto next_transaction = [](ServeClient& c) {
        std::pair<std::string, std::string> out;
        for (;;) {
            auto frame = c.next(10000);
            REQUIRE(frame);
            if (frame->value("op", "") == "insert") out.second = (*frame)["new"]["note"];
            if (frame->value("op", "") == "commit") {
                out.first = (*frame)["offset"];
                return out;
            }
        }
    };
    auto a = ServeClient::connect(f.server->port(), "/v1/stream?consumer=a", auth);
    a.until("up-to-date");
    auto t = ServeClient::connect(f.server->port(), "/v1/stream?consumer=a.tmp", auth);
    t.until("up-to-date");
    f.db.exec("INSERT INTO " + f.table + " VALUES (1, 'a', 1, 'one')");
    f.db.exec("INSERT INTO " + f.table + " VALUES (2, 'a', 2, 'two')");
    const auto a1 = next_transaction(a);
    CHECK(a1.second == "one");
    next_transaction(t);
    const auto t2 = next_transaction(t);
    CHECK(t2.second == "two");
    // a.tmp acks both transactions, then a acks only the first: each keeps its own.
    t.send({{"type", "ack"}, {"offset", t2.first}});
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    a.send({{"type", "ack"}, {"offset", a1.first}});
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    f.server->kill(); // no shutdown: what was acked must already be on disk
    f.server.reset();
    f.db.exec("INSERT INTO " + f.table + " VALUES (3, 'a', 3, 'three')");
    f.start(config);
    auto a_again = ServeClient::connect(f.server->port(), "/v1/stream?consumer=a", auth);
    CHECK(next_transaction(a_again).second == "two");
    auto t_again = ServeClient::connect(f.server->port(), "/v1/stream?consumer=a.tmp", auth);
    CHECK(next_transaction(t_again).second == "three");
}

TEST_CASE("issue 9: resume offsets past anything written are bad-offset, on /v1/ws and /v1/stream",
          "[serve][integration][protocol]") {
    Fixture f;
    const std::string key = "stream-test-key";
    f.start({{"--api-key-env", "PGSYNC_TEST_KEY"}, {{"PGSYNC_TEST_KEY", key}}, true});
    auto c = f.client();
    c.send(subscribe("s", f.table));
    auto first = c.until("up-to-date", "s");
    const std::string epoch = first.back()["offset"].get<std::string>().substr(
        0, first.back()["offset"].get<std::string>().find(':'));
    json resume = subscribe("future", f.table);
    resume["offset"] = epoch + ":999999999999999_1";
    c.send(resume);
    CHECK(c.until("error", "future").back()["code"] == "bad-offset");

    HttpHeaders auth = {{"Authorization", "Bearer " + key}};
    for (std::string offset : {std::string("garbage"), epoch + ":999999999999999_1"}) {
        auto raw = ServeClient::connect(f.server->port(), "/v1/stream?offset=" + offset, auth);
        auto frame = raw.next(5000);
        REQUIRE(frame);
        CHECK((*frame)["code"] == "bad-offset");
        CHECK(!raw.next(5000));
        REQUIRE(raw.raw().close_info());
        CHECK(raw.raw().close_info()->code == 4400);
    }
}

// ---- 4. Protocol and limits

TEST_CASE("issue 9: binary frames are answered at once and count against the frame limit",
          "[serve][integration][protocol]") {
    Fixture f;
    f.start();
    auto c = f.client();
    // A masked binary frame of 5 bytes (FIN + opcode 2).
    std::string frame = {char(0x82), char(0x85), 1, 2, 3, 4};
    frame += std::string("hello");
    for (size_t i = 0; i < 5; ++i)
        frame[6 + i] = char(frame[6 + i] ^ frame[2 + i % 4]);
    REQUIRE(c.raw().send_raw(frame));
    auto answer = c.next(3000);
    REQUIRE(answer);
    CHECK((*answer)["code"] == "bad-frame");
    // 100 kB of binary: closed as too large (1009), like text.
    std::string big = {char(0x82), char(0xff), 0,          0, 0, 0, 0,
                       1,          char(0x86), char(0xa0), 0, 0, 0, 0};
    big += std::string(100000, 'x');
    c.raw().send_raw(big);
    CHECK(!c.next(5000));
    REQUIRE(c.raw().close_info());
    CHECK(c.raw().close_info()->code == 1009);
}

TEST_CASE("issue 9: large tokens get an answer, far-future exp does not close at once, refusals "
          "echo nothing",
          "[serve][integration][protocol]") {
    Fixture f;
    const std::string secret = "a-secret-of-at-least-thirty-two-bytes!";
    f.start({{"--jwt-secret-env", "PGSYNC_TEST_JWT"}, {{"PGSYNC_TEST_JWT", secret}}, false});
    const int port = f.server->port();
    json claims = {
        {"sub", std::string(8000, 'u')}, {"exp", int64_t(1e13)}, {"pgsync", {{"tables", "*"}}}};
    const std::string token = serve::sign_hs256(claims.dump(), secret);
    REQUIRE(token.size() > 8000);
    auto big = ServeClient::connect(port, "/v1/ws", {{"Authorization", "Bearer " + token}});
    big.send(subscribe("s", f.table));
    CHECK(big.until("up-to-date", "s").back()["type"] == "up-to-date");
    CHECK(!big.next(1500)); // still open, nothing more
    CHECK(!big.raw().closed());
    auto huge = WsClient::connect("127.0.0.1", port, "/v1/ws",
                                  {{"Authorization", "Bearer " + std::string(20000, 'a')}});
    CHECK(huge.status == 401);

    auto refused = WsClient::connect("127.0.0.1", port, "/v1/<script>alert(1)</script>");
    CHECK(refused.status == 404);
    CHECK(refused.body.find("<script>") == std::string::npos);
}

TEST_CASE("issue 9: the loader reconnects a connection the server killed, failures say nothing "
          "of the database",
          "[serve][integration]") {
    Fixture f;
    f.db.exec("INSERT INTO " + f.table + " VALUES (1, 'a', 1, 'x')");
    f.start(with({"--load-jobs", "1"}));
    auto c = f.client();
    c.send(subscribe("first", f.table));
    CHECK(changes(c.until("up-to-date", "first")).size() == 1);
    f.db.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
              "WHERE application_name = 'pgsync-serve loader'");
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    c.send(subscribe("second", f.table));
    auto frames = c.until("up-to-date", "second");
    CHECK(changes(frames, "second").size() == 1);
    for (const auto& frame : frames)
        CHECK(frame["type"] != "error");
}

TEST_CASE("issue 9: a failed load tells the client load-failed without the database's text",
          "[serve][integration]") {
    Fixture f;
    f.db.exec("INSERT INTO " + f.table +
              " SELECT g, 'a', g, repeat('z', 500) FROM generate_series(1, 200000) g");
    f.start(with({"--load-jobs", "1", "--client-queue-bytes", "256kB"}));
    // A client that reads slowly keeps its load (and its transaction) open long enough to kill.
    auto c = f.client();
    c.send(subscribe("s", f.table));
    REQUIRE(c.next(10000));
    std::string killed;
    for (int i = 0; i < 50 && killed != "1"; ++i) {
        killed = f.db.query_value(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = 'pgsync-serve loader' AND state = 'idle in transaction'");
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    REQUIRE(killed == "1");
    std::optional<json> error;
    for (auto frame = c.next(30000); frame && !error; frame = c.next(30000))
        if ((*frame)["type"] == "error") error = frame;
    REQUIRE(error);
    CHECK((*error)["code"] == "load-failed");
    const std::string message = (*error)["message"];
    CHECK(message.find("terminat") == std::string::npos);
    CHECK(message.find("server") != std::string::npos);
    CHECK(f.server->err().find("terminat") != std::string::npos); // the cause is in the log
}

TEST_CASE("issue 9: --listen localhost listens on 127.0.0.1, an address not of this machine fails",
          "[serve][integration][protocol]") {
    Fixture f;
    const std::string ready = f.dir + ".ready";
    std::filesystem::create_directories(f.dir);
    auto run = [&](const std::string& listen) {
        std::filesystem::remove(ready);
        return std::make_unique<LiveProcess>(
            std::vector<std::string>{tool_path("pgsync-serve"), "-d", test_dsn(), "-S", f.slot,
                                     "-P", f.pub, "--listen", listen, "--storage-dir", f.dir,
                                     "--ready-file", ready, "--jwt-secret-env", "PGSYNC_TEST_JWT"},
            std::map<std::string, std::string>{
                {"PGSYNC_TEST_JWT", "a-secret-of-at-least-thirty-two-bytes!"}});
    };
    auto local = run("localhost:0");
    std::string address;
    for (int i = 0; i < 200 && address.empty(); ++i) {
        std::ifstream in(ready);
        std::getline(in, address);
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    REQUIRE(address.rfind("127.0.0.1:", 0) == 0);
    // Listening: a client without a token is answered (401), not refused by the kernel.
    auto c = WsClient::connect("127.0.0.1", std::stoi(address.substr(10)), "/v1/ws");
    CHECK(c.status == 401);
    local->signal(SIGTERM);
    CHECK(local->wait(20) == 0);

    auto elsewhere = run("192.0.2.1:0"); // TEST-NET-1: no address of this machine
    CHECK(elsewhere->wait(30) == 1);
    CHECK(elsewhere->err().find("could not listen on 192.0.2.1:0") != std::string::npos);
    CHECK(!std::filesystem::exists(ready));
}
