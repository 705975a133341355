// /v1/shape, ElectricSQL's HTTP shape API, end to end against a real pgsync-serve and the harness's
// PostgreSQL: the snapshot chunk, catch-up, long-polls, offsets and handles, 409s and rotation,
// caching headers, SSE, errors and authorisation. (The official JavaScript client's view of the
// same server is tests/js/electric.test.mjs.)
#include "pg_test.h"
#include "serve/access/auth.h"
#include "serve_support.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <thread>

using namespace pgsync;
using namespace pgsync::test;
using nlohmann::json;

namespace {

struct ShapeFixture {
    explicit ShapeFixture(
        const std::string& columns = "id int PRIMARY KEY, title text NOT NULL, n int8, tags text[]") {
        table = unique_name("sh");
        slot = unique_name("shslot");
        pub = unique_name("shpub");
        dir = test_tmp_dir() + "/" + unique_name("shape");
        db.exec("CREATE TABLE " + table + " (" + columns + ")");
        db.exec("ALTER TABLE " + table + " REPLICA IDENTITY FULL");
        create_slot(slot, pub, {table});
    }
    ~ShapeFixture() {
        server.reset();
        drop_slot(slot);
    }
    void start(ServeConfig config = {}) {
        config.extra_args.insert(config.extra_args.end(), {"--long-poll-timeout", "2"});
        server = std::make_unique<ServeProcess>(slot, pub, dir, config);
    }
    HttpResponse get(const std::string& query, const HttpHeaders& headers = {},
                     int timeout_ms = 10000) {
        return http_get("127.0.0.1", server->port(), "/v1/shape?" + query, headers, timeout_ms);
    }
    std::string base() const { return "table=" + table; }

    pg::Connection db = connect_test_db();
    std::string table, slot, pub, dir;
    std::unique_ptr<ServeProcess> server;
};

json body_of(const HttpResponse& response) {
    INFO("status " << response.status << " body " << response.body << " " << response.error);
    REQUIRE(!response.body.empty());
    json body = json::parse(response.body);
    REQUIRE(body.is_array());
    return body;
}

std::string header(const HttpResponse& response, const std::string& name) {
    auto value = response.header(name);
    INFO("header " << name << " in a " << response.status << " response: " << response.body);
    REQUIRE(value.has_value());
    return *value;
}

std::vector<json> changes_in(const json& body) {
    std::vector<json> out;
    for (const auto& m : body)
        if (m.contains("key")) out.push_back(m);
    return out;
}

bool ends_up_to_date(const json& body) {
    return !body.empty() && body.back()["headers"].value("control", "") == "up-to-date";
}

// Follows the shape from offset -1 until up-to-date: (handle, offset, every message).
struct Position {
    std::string handle, offset;
    std::vector<json> messages;
};
Position sync(ShapeFixture& f, const std::string& query) {
    Position p;
    auto first = f.get(query + "&offset=-1");
    REQUIRE(first.status == 200);
    p.handle = header(first, "electric-handle");
    p.offset = header(first, "electric-offset");
    for (auto& m : body_of(first))
        p.messages.push_back(m);
    for (int i = 0; i < 50; ++i) {
        auto next = f.get(query + "&handle=" + p.handle + "&offset=" + p.offset);
        REQUIRE(next.status == 200);
        p.offset = header(next, "electric-offset");
        json body = body_of(next);
        for (auto& m : body)
            p.messages.push_back(m);
        if (ends_up_to_date(body)) return p;
    }
    FAIL("the shape never became up-to-date");
    return p;
}

} // namespace

TEST_CASE("a shape's first response is its snapshot chunk in Electric's format, then up-to-date",
          "[serve][electric]") {
    ShapeFixture f;
    f.db.exec("INSERT INTO " + f.table +
              " VALUES (1, 'a', 10, '{x,\"y z\"}'), (2, 'b/c', 3, NULL), (3, 'd', 20, '{}')");
    f.start();
    auto first = f.get(f.base() + "&offset=-1&where=n+%3E+%241&params%5B1%5D=5&columns=%22id%22,title");
    REQUIRE(first.status == 200);
    CHECK(header(first, "electric-offset") == "0_0");
    CHECK(header(first, "cache-control") ==
          "public, max-age=604800, s-maxage=3600, stale-while-revalidate=2629746");
    CHECK_FALSE(first.header("electric-up-to-date"));
    CHECK_FALSE(first.header("electric-cursor"));
    CHECK(header(first, "content-type").find("application/json") == 0);
    const std::string handle = header(first, "electric-handle");
    CHECK(header(first, "etag") == "\"" + handle + ":-1:0_0\"");
    json schema = json::parse(header(first, "electric-schema"));
    CHECK(schema == json::parse(R"({"id":{"type":"int4","not_null":true,"pk_index":0},
                                    "title":{"type":"text","not_null":true}})"));
    json body = body_of(first);
    auto rows = changes_in(body);
    REQUIRE(rows.size() == 2); // n > 5: rows 1 and 3
    CHECK(rows[0]["key"] == "\"public\".\"" + f.table + "\"/\"1\"");
    CHECK(rows[0]["value"] == json({{"id", "1"}, {"title", "a"}}));
    CHECK(rows[0]["headers"] == json({{"operation", "insert"},
                                      {"relation", json::array({"public", f.table})}}));
    CHECK(body.back()["headers"]["control"] == "snapshot-end");
    CHECK(body.back()["headers"].contains("xmin"));

    auto second = f.get(f.base() + "&offset=0_0&handle=" + handle +
                        "&where=n+%3E+%241&params%5B1%5D=5&columns=%22id%22,title");
    REQUIRE(second.status == 200);
    CHECK(header(second, "electric-offset") == "0_inf");
    CHECK(second.header("electric-up-to-date"));
    json up = body_of(second);
    REQUIRE(up.size() == 1);
    CHECK(up[0]["headers"]["control"] == "up-to-date");
    CHECK(std::stoull(up[0]["headers"]["global_last_seen_lsn"].get<std::string>()) > 0);
}

TEST_CASE("a long-poll is answered by the next transaction with Electric's change headers",
          "[serve][electric]") {
    ShapeFixture f;
    f.db.exec("INSERT INTO " + f.table + " VALUES (1, 'a', 10, NULL), (2, 'b', 1, NULL)");
    f.start();
    const std::string q = f.base() + "&where=n+%3E%3D+5";
    Position p = sync(f, q);
    REQUIRE(changes_in(json(p.messages)).size() == 1);

    auto live = [&](const std::string& offset) {
        return std::async(std::launch::async, [&f, q, handle = p.handle, offset] {
            return f.get(q + "&cursor=&handle=" + handle + "&live=true&offset=" + offset);
        });
    };
    // An insert, an update inside the shape, one entering it and one leaving it, in one
    // transaction: op positions rise, only the last carries "last".
    auto pending = live(p.offset);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    f.db.exec("BEGIN; INSERT INTO " + f.table + " VALUES (3, 'c', 7, '{q}'); UPDATE " + f.table +
              " SET title = 'A' WHERE id = 1; UPDATE " + f.table +
              " SET n = 50 WHERE id = 2; INSERT INTO " + f.table +
              " VALUES (4, 'out', 1, NULL); COMMIT");
    auto response = pending.get();
    REQUIRE(response.status == 200);
    CHECK_FALSE(response.header("electric-schema"));
    CHECK(response.header("electric-up-to-date"));
    CHECK(std::stoull(header(response, "electric-cursor")) > 0);
    CHECK(header(response, "cache-control") == "public, max-age=5, stale-while-revalidate=5");
    json body = body_of(response);
    REQUIRE(ends_up_to_date(body));
    auto got = changes_in(body);
    REQUIRE(got.size() == 3);
    CHECK(got[0]["headers"]["operation"] == "insert");
    CHECK(got[0]["value"] == json({{"id", "3"}, {"title", "c"}, {"n", "7"}, {"tags", "{q}"}}));
    CHECK(got[1]["headers"]["operation"] == "update");
    CHECK(got[1]["value"] == json({{"id", "1"}, {"title", "A"}})); // key + changed columns
    CHECK(got[2]["headers"]["operation"] == "insert");              // entered the shape
    CHECK(got[2]["value"]["title"] == "b");
    const std::string lsn = got[0]["headers"]["lsn"];
    CHECK(lsn.find_first_not_of("0123456789") == std::string::npos);
    for (const auto& c : got) {
        CHECK(c["headers"]["lsn"] == lsn);
        CHECK(c["headers"]["txids"].size() == 1);
        CHECK(c["headers"]["txids"][0].is_number());
    }
    CHECK(got[0]["headers"]["op_position"] < got[1]["headers"]["op_position"]);
    CHECK_FALSE(got[0]["headers"].contains("last"));
    CHECK(got[2]["headers"]["last"] == true);
    const std::string offset = header(response, "electric-offset");
    CHECK(offset.rfind(lsn + "_", 0) == 0);

    // Leaving the shape is a delete with the key only.
    pending = live(offset);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    f.db.exec("UPDATE " + f.table + " SET n = 0 WHERE id = 3");
    response = pending.get();
    got = changes_in(body_of(response));
    REQUIRE(got.size() == 1);
    CHECK(got[0]["headers"]["operation"] == "delete");
    CHECK(got[0]["value"] == json({{"id", "3"}}));
    CHECK(got[0]["key"] == "\"public\".\"" + f.table + "\"/\"3\"");
}

TEST_CASE("a live request with nothing new is held, then answered up-to-date at the same offset",
          "[serve][electric]") {
    ShapeFixture f;
    f.start();
    Position p = sync(f, f.base());
    const auto started = std::chrono::steady_clock::now();
    auto response = f.get(f.base() + "&cursor=5&handle=" + p.handle + "&live=true&offset=" + p.offset);
    const auto waited = std::chrono::steady_clock::now() - started;
    REQUIRE(response.status == 200);
    CHECK(waited >= std::chrono::milliseconds(1500)); // --long-poll-timeout 2
    CHECK(header(response, "electric-offset") == p.offset);
    CHECK(std::stoull(header(response, "electric-cursor")) > 5);
    CHECK(header(response, "electric-has-data") == "false");
    json body = body_of(response);
    REQUIRE(body.size() == 1);
    CHECK(body[0]["headers"]["control"] == "up-to-date");
}

TEST_CASE("a resumed catch-up returns only what came after its offset", "[serve][electric]") {
    ShapeFixture f;
    f.start();
    Position p = sync(f, f.base());
    f.db.exec("INSERT INTO " + f.table + " VALUES (1, 'a', 1, NULL)");
    f.db.exec("INSERT INTO " + f.table + " VALUES (2, 'b', 2, NULL)");
    std::string first_offset;
    for (int i = 0; i < 100 && first_offset.empty(); ++i) {
        auto r = f.get(f.base() + "&handle=" + p.handle + "&offset=" + p.offset);
        auto got = changes_in(body_of(r));
        if (got.size() == 2) first_offset = got[0]["headers"]["lsn"].get<std::string>();
        else std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    REQUIRE(!first_offset.empty());
    // From the first transaction's offset: only the second comes back.
    auto r = f.get(f.base() + "&handle=" + p.handle + "&offset=" + first_offset + "_2");
    REQUIRE(r.status == 200);
    auto got = changes_in(body_of(r));
    REQUIRE(got.size() == 1);
    CHECK(got[0]["value"]["id"] == "2");
}

TEST_CASE("bad requests are 400s naming the parameter, never SQL sent to the database",
          "[serve][electric]") {
    ShapeFixture f;
    f.start();
    auto check = [&](const std::string& query, const std::string& field) {
        auto r = f.get(query);
        INFO(query << " -> " << r.status << " " << r.body);
        REQUIRE(r.status == 400);
        CHECK(header(r, "cache-control") == "no-store");
        json body = json::parse(r.body);
        REQUIRE(body["errors"].contains(field));
        return body["errors"][field][0].get<std::string>();
    };
    CHECK(check(f.base() + "&offset=-1&where=id+%3D+%3D+1", "where").find("At location") == 0);
    check(f.base() + "&offset=-1&where=id%3D1%3B+DROP+TABLE+x", "where");
    check(f.base() + "&offset=-1&where=pg_sleep(10)+IS+NULL", "where");
    check(f.base() + "&offset=-1&where=nosuch+%3D+1", "where");
    check(f.base() + "&offset=12_3", "handle");
    check(f.base() + "&offset=bogus", "offset");
    check(f.base() + "&offset=-1&live=true", "live");
    check(f.base() + "&offset=-1&replica=half", "replica");
    check(f.base() + "&offset=-1&log=some", "log");
    check(f.base() + "&offset=-1&columns=title", "columns"); // the key column is missing
    check("table=no_such_table&offset=-1", "table");
    check("offset=-1", "table");
    CHECK_NOTHROW(f.db.exec("SELECT count(*) FROM " + f.table)); // nothing was dropped
}

TEST_CASE("an unknown or rotated handle gets a 409 with a new handle", "[serve][electric]") {
    ShapeFixture f;
    f.start();
    Position p = sync(f, f.base());
    auto bogus = f.get(f.base() + "&handle=123-456&offset=" + p.offset);
    REQUIRE(bogus.status == 409);
    CHECK(header(bogus, "electric-handle") == p.handle); // the definition's current handle
    CHECK(json::parse(bogus.body) == json::parse(R"([{"headers":{"control":"must-refetch"}}])"));

    // DELETE rotates (insecure mode allows it): the old handle then gets a 409 and a new one.
    auto removed = http_request("DELETE", "127.0.0.1", f.server->port(),
                                "/v1/shape?handle=" + p.handle);
    CHECK(removed.status == 202);
    auto gone = f.get(f.base() + "&handle=" + p.handle + "&offset=" + p.offset);
    REQUIRE(gone.status == 409);
    const std::string fresh = header(gone, "electric-handle");
    CHECK(fresh != p.handle);
    CHECK(http_request("DELETE", "127.0.0.1", f.server->port(), "/v1/shape?handle=" + p.handle)
              .status == 404);

    // A TRUNCATE rotates too, and a held long-poll learns it at once.
    Position q = sync(f, f.base());
    CHECK(q.handle == fresh);
    auto pending = std::async(std::launch::async, [&] {
        return f.get(f.base() + "&cursor=&handle=" + q.handle + "&live=true&offset=" + q.offset);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    f.db.exec("TRUNCATE " + f.table);
    auto answered = pending.get();
    REQUIRE(answered.status == 409);
    CHECK(header(answered, "electric-handle") != q.handle);

    // A change of the table's columns rotates too (the client must not parse with a stale
    // schema), and the new shape's header has the new column.
    Position r = sync(f, f.base());
    f.db.exec("ALTER TABLE " + f.table + " ADD COLUMN extra text");
    f.db.exec("INSERT INTO " + f.table + " VALUES (9, 'x', 1, NULL, 'e')");
    HttpResponse after_alter;
    for (int i = 0; i < 100; ++i) {
        after_alter = f.get(f.base() + "&handle=" + r.handle + "&offset=" + r.offset);
        if (after_alter.status == 409) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    REQUIRE(after_alter.status == 409);
    auto fresh_shape = f.get(f.base() + "&offset=-1");
    REQUIRE(fresh_shape.status == 200);
    CHECK(json::parse(header(fresh_shape, "electric-schema")).contains("extra"));
}

TEST_CASE("identical requests get identical, cacheable responses, and If-None-Match a 304",
          "[serve][electric]") {
    ShapeFixture f;
    f.db.exec("INSERT INTO " + f.table + " VALUES (1, 'a', 1, NULL)");
    f.start();
    auto a = f.get(f.base() + "&offset=-1");
    f.db.exec("INSERT INTO " + f.table + " VALUES (2, 'b', 2, NULL)");
    auto b = f.get(f.base() + "&offset=-1");
    REQUIRE(a.status == 200);
    CHECK(a.body == b.body); // the first chunk is fixed once loaded: new changes are later
    CHECK(header(a, "etag") == header(b, "etag"));
    auto cached = f.get(f.base() + "&offset=-1", {{"If-None-Match", header(a, "etag")}});
    CHECK(cached.status == 304);
    CHECK(cached.body.empty());
    auto cors = f.get(f.base() + "&offset=-1", {{"Origin", "http://app.example"}});
    CHECK(header(cors, "access-control-allow-origin") == "http://app.example");
    const std::string exposed = header(cors, "access-control-expose-headers");
    for (const char* name : {"electric-offset", "electric-handle", "electric-schema",
                             "electric-cursor", "electric-up-to-date", "retry-after"})
        CHECK(exposed.find(name) != std::string::npos);
    auto preflight = http_request("OPTIONS", "127.0.0.1", f.server->port(),
                                  "/v1/shape?" + f.base() + "&offset=-1",
                                  {{"Origin", "http://app.example"},
                                   {"Access-Control-Request-Method", "GET"}});
    CHECK(preflight.status == 204);
    CHECK(header(preflight, "access-control-max-age") == "86400");
}

TEST_CASE("offset=now skips the rows and goes live from the log's end", "[serve][electric]") {
    ShapeFixture f;
    f.db.exec("INSERT INTO " + f.table + " VALUES (1, 'a', 1, NULL)");
    f.start();
    auto now = f.get(f.base() + "&offset=now");
    REQUIRE(now.status == 200);
    CHECK(now.header("electric-schema"));
    json body = body_of(now);
    REQUIRE(body.size() == 1);
    CHECK(body[0]["headers"]["control"] == "up-to-date");
    const std::string handle = header(now, "electric-handle");
    auto pending = std::async(std::launch::async, [&] {
        return f.get(f.base() + "&cursor=&handle=" + handle + "&live=true&offset=" +
                     header(now, "electric-offset"));
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    f.db.exec("INSERT INTO " + f.table + " VALUES (2, 'b', 2, NULL)");
    auto got = changes_in(body_of(pending.get()));
    REQUIRE(got.size() == 1);
    CHECK(got[0]["value"]["id"] == "2");
}

TEST_CASE("an SSE request streams each transaction as events ending with up-to-date",
          "[serve][electric]") {
    ShapeFixture f;
    ServeConfig config;
    config.extra_args = {"--sse-timeout", "3"};
    f.start(config);
    Position p = sync(f, f.base());
    auto pending = std::async(std::launch::async, [&] {
        return f.get(f.base() + "&cursor=&handle=" + p.handle + "&live=true&offset=" + p.offset +
                         "&live_sse=true&experimental_live_sse=true",
                     {{"Accept", "text/event-stream, text/event-stream"}}, 15000);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    f.db.exec("INSERT INTO " + f.table + " VALUES (7, 'sse', 1, NULL)");
    auto response = pending.get(); // the stream ends after --sse-timeout
    REQUIRE(response.status == 200);
    CHECK(header(response, "content-type") == "text/event-stream");
    CHECK(header(response, "electric-offset") == p.offset);
    CHECK(response.header("electric-cursor"));
    const std::string& text = response.body;
    const size_t change = text.find("data: {\"key\":");
    REQUIRE(change != std::string::npos);
    const size_t up = text.find("\"control\":\"up-to-date\"", change);
    CHECK(up != std::string::npos);
    json event = json::parse(text.substr(change + 6, text.find("\n\n", change) - change - 6));
    CHECK(event["value"]["title"] == "sse");
}

TEST_CASE("with tokens, /v1/shape needs one, serves only granted tables and ANDs their filters",
          "[serve][electric]") {
    ShapeFixture f;
    f.db.exec("INSERT INTO " + f.table + " VALUES (1, 'mine', 1, NULL), (2, 'other', 2, NULL)");
    ServeConfig config;
    config.insecure = false;
    config.env = {{"JWT", "s3cret-s3cret-s3cret-s3cret-s3cret"}, {"APIKEY", "k3y-k3y-k3y-k3y"}};
    config.extra_args = {"--jwt-secret-env", "JWT", "--api-key-env", "APIKEY"};
    f.start(config);
    CHECK(f.get(f.base() + "&offset=-1").status == 401);
    auto token = [&](const std::string& grants) {
        return serve::sign_hs256(R"({"sub":"u","pgsync":{"tables":)" + grants + "}}",
                                 "s3cret-s3cret-s3cret-s3cret-s3cret");
    };
    CHECK(f.get(f.base() + "&offset=-1",
                {{"Authorization", "Bearer " + token(R"({"public.other":{}})")}})
              .status == 403);
    auto limited = f.get(f.base() + "&offset=-1",
                         {{"Authorization",
                           "Bearer " + token(R"({")" + f.table +
                                             R"(":{"where":"title = $1","params":["mine"]}})")}});
    REQUIRE(limited.status == 200);
    auto rows = changes_in(body_of(limited));
    REQUIRE(rows.size() == 1);
    CHECK(rows[0]["value"]["title"] == "mine");
    // Electric's secret parameter is the API key: every row.
    auto keyed = f.get(f.base() + "&offset=-1&secret=k3y-k3y-k3y-k3y");
    REQUIRE(keyed.status == 200);
    CHECK(changes_in(body_of(keyed)).size() == 2);
    CHECK(f.get(f.base() + "&offset=-1&secret=wrong").status == 401);
    CHECK(http_request("DELETE", "127.0.0.1", f.server->port(), "/v1/shape?" + f.base()).status ==
          401);
}

TEST_CASE("a token's subject may create only a quarter of --max-shapes, the API key is not limited",
          "[serve][electric]") {
    ShapeFixture f;
    ServeConfig config;
    config.insecure = false;
    config.env = {{"JWT", "s3cret-s3cret-s3cret-s3cret-s3cret"}, {"APIKEY", "k3y-k3y-k3y-k3y"}};
    config.extra_args = {"--jwt-secret-env", "JWT", "--api-key-env", "APIKEY", "--max-shapes", "8"};
    f.start(config);
    auto bearer = [&](const std::string& sub) {
        return HttpHeaders{{"Authorization",
                            "Bearer " + serve::sign_hs256(R"({"sub":")" + sub +
                                                              R"(","pgsync":{"tables":{"*":{}}}})",
                                                          "s3cret-s3cret-s3cret-s3cret-s3cret")}};
    };
    auto shape = [&](int n, const HttpHeaders& headers) {
        return f.get(f.base() + "&offset=-1&where=id+%3D+" + std::to_string(n), headers).status;
    };
    CHECK(shape(1, bearer("mallory")) == 200);
    CHECK(shape(2, bearer("mallory")) == 200);
    const int third = shape(3, bearer("mallory"));
    CHECK(third == 429);
    CHECK(shape(1, bearer("mallory")) == 200); // an existing shape is still served
    CHECK(shape(4, bearer("alice")) == 200);   // another subject is not held back
    for (int n = 5; n < 8; ++n) // the API key's shapes are not counted against anyone
        CHECK(f.get(f.base() + "&offset=-1&secret=k3y-k3y-k3y-k3y&where=id+%3D+" +
                    std::to_string(n))
                  .status == 200);
}

TEST_CASE("a subset snapshot returns the shape's rows narrowed, ordered and windowed, by GET and "
          "POST",
          "[serve][electric]") {
    ShapeFixture f;
    f.db.exec("INSERT INTO " + f.table +
              " SELECT i, 't' || i, i % 3, NULL FROM generate_series(1, 20) i");
    f.start();
    // A changes_only shape filtered to n <> 0: no rows up front.
    const std::string q = f.base() + "&log=changes_only&where=n+%3C%3E+0";
    auto first = f.get(q + "&offset=-1");
    REQUIRE(first.status == 200);
    auto initial = body_of(first);
    CHECK(changes_in(initial).empty());
    const std::string handle = header(first, "electric-handle");
    const std::string at = "&handle=" + handle + "&offset=" + header(first, "electric-offset");

    auto subset = f.get(q + at +
                        "&subset__where=id+%3E%3D+%241&subset__params=%7B%221%22%3A%225%22%7D"
                        "&subset__order_by=id+DESC&subset__limit=3&subset__offset=1");
    REQUIRE(subset.status == 200);
    CHECK(header(subset, "electric-snapshot") == "true");
    CHECK(subset.header("electric-schema"));
    CHECK(header(subset, "electric-handle") == handle);
    json body = json::parse(subset.body);
    REQUIRE(body.is_object());
    CHECK(body["metadata"].contains("xmin"));
    CHECK(body["metadata"]["database_lsn"].get<std::string>().find_first_not_of("0123456789") ==
          std::string::npos);
    std::vector<std::string> ids;
    for (const auto& row : body["data"]) {
        ids.push_back(row["value"]["id"]);
        CHECK(row["headers"]["snapshot_mark"] == body["metadata"]["snapshot_mark"]);
    }
    // ids >= 5 with n <> 0, descending: 20, 19, 17, 16, ... skip one, take three.
    CHECK(ids == std::vector<std::string>{"19", "17", "16"});

    auto post = http_request("POST", "127.0.0.1", f.server->port(), "/v1/shape?" + q + at,
                             {{"Content-Type", "application/json"},
                              {"Content-Length", "45"}},
                             1000);
    CHECK(post.status != 200); // the body was announced but never sent: no answer is made up
    // The real thing, with a body.
    const std::string json_body = R"({"where":"id < $1","params":{"1":"4"},"order_by":"id"})";
    auto posted = http_post("127.0.0.1", f.server->port(), "/v1/shape?" + q + at, json_body);
    INFO(posted.body);
    REQUIRE(posted.status == 200);
    ids.clear();
    const json posted_body = json::parse(posted.body);
    for (const auto& row : posted_body["data"])
        ids.push_back(row["value"]["id"]);
    CHECK(ids == std::vector<std::string>{"1", "2"}); // 3 has n = 0: outside the shape

    // Refusals: a bad where, an unknown order column, limit without order_by.
    CHECK(f.get(q + at + "&subset__where=id+%3D%3D+1").status == 400);
    CHECK(f.get(q + at + "&subset__order_by=nosuch").status == 400);
    CHECK(f.get(q + at + "&subset__limit=2").status == 400);
}
