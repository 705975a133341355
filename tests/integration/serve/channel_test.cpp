// Channels on /v1/ws end to end (pgsync.yaml tables[].channels, a real pgsync-serve and the
// harness's PostgreSQL): a channel's client gets exactly the changes the channel names (its table,
// its operations, its where) as change frames with op, table and offset, from the log's end; it
// resumes from an offset with nothing lost or repeated; tokens grant channels by name; hostile
// frames get clear errors.
#include "pg_test.h"
#include "serve/access/auth.h"
#include "serve_support.h"
#include "util/unix_time.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>

using namespace pgsync;
using namespace pgsync::test;
using nlohmann::json;

namespace {

const std::string kSecret = "channel-test-secret-of-enough-length-0123";

struct Fixture {
    Fixture() {
        table = unique_name("chan");
        other = unique_name("chanother");
        slot = unique_name("chanslot");
        pub = unique_name("chanpub");
        dir = test_tmp_dir() + "/" + unique_name("chan");
        db.exec("CREATE TABLE " + table + " (id int PRIMARY KEY, grp text, n int)");
        db.exec("ALTER TABLE " + table + " REPLICA IDENTITY FULL");
        db.exec("CREATE TABLE " + other + " (id int PRIMARY KEY, grp text)");
        create_slot(slot, pub, {table, other});
        config = dir + ".yaml";
        std::ofstream(config) << "tables:\n  - name: " << table << "\n    channels:\n"
                              << "      - name: " << table << "-added\n"
                              << "        operations: [insert]\n"
                              << "      - name: " << table << "-big\n"
                              << "        operations: [insert, update]\n"
                              << "        where: n > 10\n"
                              << "      - name: " << table << "-cleared\n"
                              << "        operations: [truncate]\n"
                              << "  - name: " << other << "\n    channels:\n"
                              << "      - name: " << other << "-all\n";
    }
    ~Fixture() {
        server.reset();
        drop_slot(slot);
    }
    void start(bool with_tokens = false) {
        ServeConfig serve_config{{"--config", config}, {}, !with_tokens};
        if (with_tokens) {
            serve_config.extra_args.insert(serve_config.extra_args.end(),
                                           {"--jwt-secret-env", "PGSYNC_TEST_JWT"});
            serve_config.env["PGSYNC_TEST_JWT"] = kSecret;
        }
        server = std::make_unique<ServeProcess>(slot, pub, dir, serve_config);
    }
    ServeClient client(const std::string& token = {}) {
        return ServeClient::connect(server->port(),
                                    token.empty() ? "/v1/ws" : "/v1/ws?token=" + token);
    }
    // Subscribes to a channel and waits for the up-to-date that says it is live.
    ServeClient live_client(const std::string& channel, const std::string& id = "c1") {
        ServeClient c = client();
        c.send({{"type", "subscribe"}, {"id", id}, {"channel", channel}});
        auto frames = c.until("up-to-date", id);
        CHECK(frames.size() == 1); // no initial load: the feed starts at the log's end
        return c;
    }

    pg::Connection db = connect_test_db();
    std::string table, other, slot, pub, dir, config;
    std::unique_ptr<ServeProcess> server;
};

std::vector<json> changes(const std::vector<json>& frames) {
    std::vector<json> out;
    for (const auto& f : frames)
        if (f.value("type", "") == "change") out.push_back(f);
    return out;
}

std::string token(const json& grants) {
    json claims = {{"sub", "u1"}, {"exp", unix_now() + 600}, {"pgsync", grants}};
    return serve::sign_hs256(claims.dump(), kSecret);
}

} // namespace

TEST_CASE("a client of an insert channel gets the inserts of its table only, as change frames "
          "with op, table and offset",
          "[serve][integration][channel]") {
    Fixture f;
    f.start();
    auto c = f.live_client(f.table + "-added");
    f.db.exec("INSERT INTO " + f.table + " VALUES (1, 'a', 1)");
    f.db.exec("UPDATE " + f.table + " SET n = 2 WHERE id = 1");
    f.db.exec("DELETE FROM " + f.table + " WHERE id = 1");
    f.db.exec("INSERT INTO " + f.other + " VALUES (1, 'a')");
    f.db.exec("INSERT INTO " + f.table + " VALUES (2, 'b', 3)");
    std::vector<json> got;
    while (got.size() < 2) {
        auto frames = changes(c.until("up-to-date", "c1"));
        got.insert(got.end(), frames.begin(), frames.end());
    }
    REQUIRE(got.size() == 2);
    CHECK(got[0]["id"] == "c1");
    CHECK(got[0]["op"] == "insert");
    CHECK(got[0]["table"] == "public." + f.table);
    CHECK(got[0]["key"] == json{{"id", 1}});
    CHECK(got[0]["new"] == json{{"id", 1}, {"grp", "a"}, {"n", 1}});
    CHECK(got[0]["offset"].is_string());
    CHECK(got[1]["new"]["id"] == 2);
    CHECK(got[0]["offset"] != got[1]["offset"]);
    // Nothing else arrives: the update, the delete and the other table were not the channel's.
    CHECK_FALSE(c.next(500).has_value());
}

TEST_CASE("a channel's where picks the inserts and updates whose new row matches",
          "[serve][integration][channel]") {
    Fixture f;
    f.start();
    auto c = f.live_client(f.table + "-big");
    f.db.exec("INSERT INTO " + f.table + " VALUES (1, 'a', 5), (2, 'a', 20)");
    f.db.exec("UPDATE " + f.table + " SET n = 30 WHERE id = 1"); // now matches: an update
    f.db.exec("UPDATE " + f.table + " SET n = 1 WHERE id = 2");  // no longer matches: nothing
    f.db.exec("INSERT INTO " + f.table + " VALUES (3, 'a', 11)");
    std::vector<json> got;
    while (got.size() < 3) {
        auto frames = changes(c.until("up-to-date", "c1"));
        got.insert(got.end(), frames.begin(), frames.end());
    }
    REQUIRE(got.size() == 3);
    CHECK((got[0]["op"] == "insert" && got[0]["new"]["id"] == 2));
    CHECK((got[1]["op"] == "update" && got[1]["new"] == json{{"id", 1}, {"grp", "a"}, {"n", 30}}));
    CHECK((got[2]["op"] == "insert" && got[2]["new"]["id"] == 3));
    CHECK_FALSE(c.next(500).has_value());
}

TEST_CASE("a truncate is an event on a channel that lists it and leaves other channels alone",
          "[serve][integration][channel]") {
    Fixture f;
    f.start();
    auto added = f.live_client(f.table + "-added", "a");
    auto cleared = f.live_client(f.table + "-cleared", "t");
    f.db.exec("INSERT INTO " + f.table + " VALUES (1, 'a', 1)");
    f.db.exec("TRUNCATE " + f.table);
    f.db.exec("INSERT INTO " + f.table + " VALUES (2, 'a', 1)");
    auto truncated = changes(cleared.until("up-to-date", "t"));
    REQUIRE(truncated.size() == 1);
    CHECK(truncated[0]["op"] == "truncate");
    CHECK(truncated[0]["table"] == "public." + f.table);
    CHECK(truncated[0]["offset"].is_string());
    // The insert channel neither ends nor sees the truncate: both inserts reach it.
    std::vector<json> got;
    while (got.size() < 2) {
        auto frames = added.until("up-to-date", "a");
        for (const auto& frame : frames) CHECK(frame["type"] != "must-refetch");
        auto rows = changes(frames);
        got.insert(got.end(), rows.begin(), rows.end());
    }
    CHECK(got[0]["new"]["id"] == 1);
    CHECK(got[1]["new"]["id"] == 2);
}

TEST_CASE("a channel's client resumes from its offset after reconnecting, nothing lost or repeated",
          "[serve][integration][channel]") {
    Fixture f;
    f.start();
    std::string offset;
    {
        auto c = f.live_client(f.table + "-added");
        f.db.exec("INSERT INTO " + f.table + " VALUES (1, 'a', 1)");
        f.db.exec("INSERT INTO " + f.table + " VALUES (2, 'a', 1)");
        std::vector<json> got;
        while (got.size() < 2) {
            auto frames = changes(c.until("up-to-date", "c1"));
            got.insert(got.end(), frames.begin(), frames.end());
        }
        // The client kept row 1 only (it crashed before handling row 2): it resumes after 1.
        offset = got[0]["offset"];
        c.send({{"type", "ack"}, {"id", "c1"}, {"offset", offset}});
    }
    f.db.exec("INSERT INTO " + f.table + " VALUES (3, 'a', 1)");
    f.db.exec("UPDATE " + f.table + " SET n = 5 WHERE id = 3");
    f.db.exec("INSERT INTO " + f.table + " VALUES (4, 'a', 1)");
    auto c = f.client();
    c.send({{"type", "subscribe"}, {"id", "c1"}, {"channel", f.table + "-added"}, {"offset", offset}});
    std::vector<int> ids;
    while (ids.size() < 3) {
        for (const auto& frame : changes(c.until("up-to-date", "c1"))) {
            CHECK(frame["op"] == "insert");
            ids.push_back(frame["new"]["id"].get<int>());
        }
    }
    CHECK(ids == std::vector<int>{2, 3, 4});
    CHECK_FALSE(c.next(500).has_value());
}

TEST_CASE("a token grants channels by name: without the grant a subscription is forbidden",
          "[serve][integration][channel]") {
    Fixture f;
    f.start(true);
    const std::string added = f.table + "-added";
    auto granted = f.client(token({{"channels", {added}}}));
    granted.send({{"type", "subscribe"}, {"id", "c1"}, {"channel", added}});
    granted.until("up-to-date", "c1");
    f.db.exec("INSERT INTO " + f.table + " VALUES (1, 'a', 1)");
    REQUIRE(changes(granted.until("up-to-date", "c1")).size() == 1);
    // Another channel, and the table itself, are not granted by the channel's grant.
    granted.send({{"type", "subscribe"}, {"id", "c2"}, {"channel", f.table + "-big"}});
    auto refused = granted.until("error", "c2").back();
    CHECK(refused["code"] == "forbidden");
    CHECK(refused["message"].get<std::string>().find(f.table + "-big") != std::string::npos);
    granted.send({{"type", "subscribe"}, {"id", "t"}, {"table", f.table}});
    CHECK(granted.until("error", "t").back()["code"] == "forbidden");
    // A grant of the table (it may carry a mandatory filter) does not grant its channels.
    auto table_only = f.client(token({{"tables", {{f.table, json::object()}}}}));
    table_only.send({{"type", "subscribe"}, {"id", "c1"}, {"channel", added}});
    CHECK(table_only.until("error", "c1").back()["code"] == "forbidden");
    // Every table ("*") grants every channel.
    auto everything = f.client(token({{"tables", "*"}}));
    everything.send({{"type", "subscribe"}, {"id", "c1"}, {"channel", added}});
    everything.until("up-to-date", "c1");
}

TEST_CASE("hostile or mistaken channel subscriptions get clear error frames",
          "[serve][integration][channel]") {
    Fixture f;
    f.start();
    auto c = f.client();
    c.send({{"type", "subscribe"}, {"id", "u"}, {"channel", "bad-channel"}});
    auto unknown = c.until("error", "u").back();
    CHECK(unknown["code"] == "bad-channel");
    const std::string message = unknown["message"];
    CHECK(message.find("\"bad-channel\"") != std::string::npos);
    CHECK(message.find("\"" + f.table + "-added\"") != std::string::npos); // names the channels
    c.send({{"type", "subscribe"}, {"id", "b"}, {"channel", f.table + "-added"}, {"table", f.table}});
    auto both = c.until("error", "b").back();
    CHECK(both["code"] == "bad-frame");
    CHECK(both["message"].get<std::string>().find("not both") != std::string::npos);
    for (const json& bad : {json(42), json(nullptr), json::array({"x"}), json(""),
                            json(std::string(300, 'x'))}) {
        c.send({{"type", "subscribe"}, {"id", "x"}, {"channel", bad}});
        CHECK(c.until("error", "x").back()["code"] == "bad-frame");
    }
    c.send({{"type", "subscribe"}, {"id", "w"}, {"channel", f.table + "-added"}, {"where", "1=1"}});
    CHECK(c.until("error", "w").back()["code"] == "bad-frame");
    c.send({{"type", "subscribe"}, {"id", "o"}, {"channel", f.table + "-added"}, {"offset", "nope"}});
    CHECK(c.until("error", "o").back()["code"] == "bad-offset");
    // The connection still works.
    c.send({{"type", "subscribe"}, {"id", "ok"}, {"channel", f.table + "-added"}});
    c.until("up-to-date", "ok");
}
