// pgsync-stream's native records against the harness's PostgreSQL: transaction framing, positions,
// values equal to to_json, and the replication cases of cdc-hard-cases section 2 (R1-R13).
#include "pg_test.h"
#include "stream_support.h"
#include "util/lsn.h"

#include <catch2/catch.hpp>

using namespace pgsync;
using namespace pgsync::test;
using nlohmann::json;

namespace {

// The record without the fields whose values differ from run to run.
json stable(json r) {
    for (const char* k : {"xid", "commit_lsn", "lsn", "end_lsn", "commit_time"})
        r.erase(k);
    return r;
}

std::vector<json> stream_all(pg::Connection& db, const StreamFixture& f,
                             const std::vector<std::string>& extra = {}) {
    auto r = stream_to_now(db, f, extra);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return parse_ndjson(r.out);
}

} // namespace

TEST_CASE("each transaction is begin, its rows with lsn and seq, then commit with end_lsn",
          "[stream]") {
    auto db = connect_test_db();
    const std::string t = unique_name("st_basic");
    db.exec("CREATE TABLE " + t + " (id int PRIMARY KEY, v text)");
    auto f = make_stream_fixture(db, {t});
    db.exec("BEGIN; INSERT INTO " + t + " VALUES (1, 'a'), (2, 'b'); UPDATE " + t +
            " SET v = 'c' WHERE id = 1; DELETE FROM " + t + " WHERE id = 2; COMMIT");
    db.exec("INSERT INTO " + t + " VALUES (3, 'd')");
    auto records = stream_all(db, f);
    REQUIRE(records.size() == 10);

    CHECK(records[0]["op"] == "begin");
    CHECK(
        stable(records[1]) ==
        json::parse(
            R"({"op":"relation","schema":"public","table":")" + t +
            R"(","replica_identity":"default","columns":[{"name":"id","type":"integer","type_oid":23,"key":true},{"name":"v","type":"text","type_oid":25,"key":false}]})"));
    CHECK(stable(records[2]) ==
          json::parse(R"({"op":"insert","seq":0,"schema":"public","table":")" + t +
                      R"(","new":{"id":1,"v":"a"}})"));
    CHECK(stable(records[3]) ==
          json::parse(R"({"op":"insert","seq":1,"schema":"public","table":")" + t +
                      R"(","new":{"id":2,"v":"b"}})"));
    CHECK(stable(records[4]) ==
          json::parse(R"({"op":"update","seq":2,"schema":"public","table":")" + t +
                      R"(","new":{"id":1,"v":"c"}})"));
    CHECK(stable(records[5]) ==
          json::parse(R"({"op":"delete","seq":3,"schema":"public","table":")" + t +
                      R"(","old":{"id":2},"identity":"key"})"));
    CHECK(records[6]["op"] == "commit");
    // Every record of a transaction carries the same xid and commit_lsn; end_lsn is after
    // commit_lsn.
    for (int i = 0; i <= 6; ++i) {
        CHECK(records[i]["xid"] == records[0]["xid"]);
        CHECK(records[i]["commit_lsn"] == records[0]["commit_lsn"]);
    }
    CHECK(*Lsn::parse(records[6]["end_lsn"].get<std::string>()) >
          *Lsn::parse(records[6]["commit_lsn"].get<std::string>()));
    CHECK(records[0]["commit_time"] == records[6]["commit_time"]);
    CHECK(records[0]["commit_time"].get<std::string>().size() == 27); // 2026-11-20T10:00:00.123456Z
    // Row LSNs increase within the transaction and never pass its commit.
    for (int i = 3; i <= 5; ++i)
        CHECK(*Lsn::parse(records[i]["lsn"].get<std::string>()) >
              *Lsn::parse(records[i - 1]["lsn"].get<std::string>()));
    CHECK(stable(records[8]) ==
          json::parse(R"({"op":"insert","seq":0,"schema":"public","table":")" + t +
                      R"(","new":{"id":3,"v":"d"}})"));
    CHECK(records[7]["xid"] != records[0]["xid"]);
    drop_stream_fixture(db, f);
}

TEST_CASE("streamed row values equal to_json of the row (T1-T15 types)", "[stream]") {
    auto db = connect_test_db();
    const std::string t = unique_name("st_types");
    db.exec("CREATE EXTENSION IF NOT EXISTS hstore");
    db.exec("CREATE TABLE " + t +
            " (id int PRIMARY KEY, n numeric, b int8, f float8, r real, "
            "m money, d date, ts timestamp, tz timestamptz, tm time, iv interval, by bytea, "
            "j json, jb jsonb, a text[], i2 int[], h hstore, u uuid, bo bool, rg int4range, "
            "t text)");
    auto f = make_stream_fixture(db, {t});
    db.exec(
        "INSERT INTO " + t +
        " VALUES "
        "(1, 'NaN', 9223372036854775807, '-Infinity', 'NaN', -92233720368547758.08, 'infinity', "
        "'294276-12-31 23:59:59.999999', '0044-03-15 12:00:00+00 BC', '24:00:00', "
        "'1 mon -5 days 10:00:04.99', '\\xdeadbeef', '{\"a\":1,\"a\":2}', '{\"a\":1}', "
        "ARRAY['a,b',NULL,'NULL','x\"y'], '{{1,2},{3,NULL}}', 'a=>1, \"b c\"=>NULL', "
        "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', true, '[1,10]', E'tab\\there \\u00e9 "
        "\\U0001F600'), "
        "(2, 0.10, -1, -0, 1.17549435e-38, 0, '0001-01-01 BC', '2024-01-01', "
        "'2024-03-10 02:30:00 America/New_York', '00:00', '-178000000 years', '', 'null', "
        "'\"s\"', '{}', '[0:1]={7,8}', '', '00000000-0000-0000-0000-000000000000', false, "
        "'empty', ''), "
        "(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
        "NULL, NULL, NULL, NULL, NULL, NULL, NULL)");
    auto r = stream_to_now(db, f);
    REQUIRE(r.exit_code == 0);
    auto expected = db.exec("SELECT to_json(x)::text FROM " + t + " x ORDER BY id");
    // Compare the raw text of each "new" object with to_json's text, byte for byte.
    std::vector<std::string> news;
    size_t pos = 0;
    while ((pos = r.out.find("\"op\":\"insert\"", pos)) != std::string::npos) {
        size_t start = r.out.find("\"new\":", pos) + 6;
        size_t end = r.out.find('\n', start);
        news.push_back(r.out.substr(start, end - start - 1)); // drop the record's closing brace
        pos = end;
    }
    REQUIRE(news.size() == 3);
    for (int i = 0; i < 3; ++i)
        CHECK(news[size_t(i)] == expected.str(i, 0));
    drop_stream_fixture(db, f);
}

TEST_CASE("R1: an unchanged TOASTed value is listed, never written as null, FULL fills it",
          "[stream]") {
    auto db = connect_test_db();
    const std::string t = unique_name("st_toast");
    db.exec("CREATE TABLE " + t + " (id int PRIMARY KEY, small int, big text)");
    db.exec("ALTER TABLE " + t + " ALTER COLUMN big SET STORAGE EXTERNAL");
    db.exec("INSERT INTO " + t + " VALUES (1, 0, repeat('x', 10000))");
    auto f = make_stream_fixture(db, {t});
    db.exec("UPDATE " + t + " SET small = 1 WHERE id = 1");
    db.exec("ALTER TABLE " + t + " REPLICA IDENTITY FULL");
    db.exec("UPDATE " + t + " SET small = 2 WHERE id = 1");
    auto updates = records_of(stream_all(db, f), "update");
    REQUIRE(updates.size() == 2);
    CHECK(updates[0]["new"] == json::parse(R"({"id":1,"small":1})"));
    CHECK(updates[0]["unchanged_toast"] == json::parse(R"(["big"])"));
    CHECK_FALSE(updates[0].contains("old"));
    CHECK(updates[1]["identity"] == "full");
    CHECK(updates[1]["new"]["big"] == std::string(10000, 'x'));
    CHECK(updates[1]["new"]["small"] == 2);
    CHECK_FALSE(updates[1].contains("unchanged_toast"));
    CHECK(updates[1]["old"]["small"] == 1);
    drop_stream_fixture(db, f);
}

TEST_CASE("R2: old images follow the replica identity: none, key, index key, full", "[stream]") {
    auto db = connect_test_db();
    const std::string t = unique_name("st_ri");
    db.exec("CREATE TABLE " + t + " (id int PRIMARY KEY, u int UNIQUE NOT NULL, v text)");
    db.exec("INSERT INTO " + t + " VALUES (1, 10, 'a')");
    auto f = make_stream_fixture(db, {t});
    db.exec("UPDATE " + t + " SET v = 'b' WHERE id = 1");
    db.exec("UPDATE " + t + " SET id = 2 WHERE id = 1");
    db.exec("ALTER TABLE " + t + " REPLICA IDENTITY USING INDEX " + t + "_u_key");
    db.exec("UPDATE " + t + " SET u = 11 WHERE id = 2");
    db.exec("ALTER TABLE " + t + " REPLICA IDENTITY FULL");
    db.exec("DELETE FROM " + t + " WHERE id = 2");
    auto records = stream_all(db, f);
    auto rows = records;
    rows.erase(
        std::remove_if(rows.begin(), rows.end(),
                       [](const json& r) { return r["op"] != "update" && r["op"] != "delete"; }),
        rows.end());
    REQUIRE(rows.size() == 4);
    CHECK_FALSE(rows[0].contains("old"));
    CHECK(rows[1]["old"] == json::parse(R"({"id":1})"));
    CHECK(rows[1]["identity"] == "key");
    CHECK(rows[2]["old"] == json::parse(R"({"u":10})"));
    CHECK(rows[2]["identity"] == "key");
    CHECK(rows[3]["old"] == json::parse(R"({"id":2,"u":11,"v":"b"})"));
    CHECK(rows[3]["identity"] == "full");
    // Each identity change is announced by a relation record before the next row.
    auto relations = records_of(records, "relation");
    REQUIRE(relations.size() == 3);
    CHECK(relations[1]["replica_identity"] == "index");
    CHECK(relations[1]["columns"][1]["key"] == true);
    CHECK(relations[2]["replica_identity"] == "full");
    drop_stream_fixture(db, f);
}

TEST_CASE("R4: a primary key change keeps every old key column", "[stream]") {
    auto db = connect_test_db();
    const std::string t = unique_name("st_pk");
    db.exec("CREATE TABLE " + t + " (a int, b int, v text, PRIMARY KEY (a, b))");
    db.exec("INSERT INTO " + t + " VALUES (1, 1, 'x')");
    auto f = make_stream_fixture(db, {t});
    db.exec("UPDATE " + t + " SET b = 2 WHERE a = 1 AND b = 1");
    auto updates = records_of(stream_all(db, f), "update");
    REQUIRE(updates.size() == 1);
    CHECK(updates[0]["old"] == json::parse(R"({"a":1,"b":1})"));
    CHECK(updates[0]["new"] == json::parse(R"({"a":1,"b":2,"v":"x"})"));
    drop_stream_fixture(db, f);
}

TEST_CASE("R5: truncate decodes CASCADE and RESTART IDENTITY as flags, lists published tables",
          "[stream]") {
    auto db = connect_test_db();
    const std::string parent = unique_name("st_tr_parent"), child = unique_name("st_tr_child"),
                      plain = unique_name("st_tr_plain");
    db.exec("CREATE TABLE " + parent + " (id int PRIMARY KEY)");
    db.exec("CREATE TABLE " + child + " (id serial PRIMARY KEY, p int REFERENCES " + parent + ")");
    db.exec("CREATE TABLE " + plain + " (id int PRIMARY KEY)");
    auto f = make_stream_fixture(db, {parent, plain});
    db.exec("INSERT INTO " + parent + " VALUES (1); INSERT INTO " + child + " (p) VALUES (1)");
    db.exec("TRUNCATE " + parent + ", " + child + " RESTART IDENTITY CASCADE");
    db.exec("TRUNCATE " + plain);
    auto truncates = records_of(stream_all(db, f), "truncate");
    REQUIRE(truncates.size() == 2);
    CHECK(stable(truncates[0]) ==
          json::parse(R"({"op":"truncate","seq":0,"relations":[{"schema":"public","table":")" +
                      parent + R"("}],"cascade":true,"restart_identity":true})"));
    CHECK(truncates[1]["cascade"] == false);
    CHECK(truncates[1]["restart_identity"] == false);
    drop_stream_fixture(db, f);
}

TEST_CASE("R9/R10: column DDL announces the new shape before the next row", "[stream]") {
    auto db = connect_test_db();
    const std::string t = unique_name("st_ddl");
    db.exec("CREATE TABLE " + t + " (id int PRIMARY KEY, a int, b int, price numeric(10,2))");
    auto f = make_stream_fixture(db, {t});
    db.exec("INSERT INTO " + t + " VALUES (1, 1, 1, 12.34)");
    db.exec("ALTER TABLE " + t + " ADD COLUMN c text DEFAULT 'dflt'");
    db.exec("ALTER TABLE " + t + " DROP COLUMN a");
    db.exec("ALTER TABLE " + t + " RENAME COLUMN b TO b2");
    db.exec("ALTER TABLE " + t + " ALTER COLUMN price TYPE numeric(10,1)");
    db.exec("INSERT INTO " + t + " VALUES (2, 2, 5.55, 'x')");
    auto records = stream_all(db, f);
    auto relations = records_of(records, "relation");
    REQUIRE(relations.size() == 2);
    json names = json::array();
    for (const auto& c : relations[1]["columns"])
        names.push_back(c["name"]);
    CHECK(names == json::parse(R"(["id","b2","price","c"])"));
    CHECK(relations[1]["columns"][2]["type"] == "numeric(10,1)");
    auto inserts = records_of(records, "insert");
    REQUIRE(inserts.size() == 2);
    CHECK(inserts[1]["new"] == json::parse(R"({"id":2,"b2":2,"price":5.6,"c":"x"})"));
    drop_stream_fixture(db, f);
}

TEST_CASE("R11: a dropped and recreated table arrives as a new relation with its new columns",
          "[stream]") {
    auto db = connect_test_db();
    const std::string t = unique_name("st_recreate");
    db.exec("CREATE TABLE " + t + " (id int PRIMARY KEY, a int)");
    auto f = make_stream_fixture(db, {t});
    db.exec("INSERT INTO " + t + " VALUES (1, 1)");
    auto first = stream_all(db, f);
    CHECK(records_of(first, "relation").size() == 1);
    db.exec("DROP TABLE " + t + "; CREATE TABLE " + t + " (id int PRIMARY KEY, b text, c int)");
    db.exec("ALTER PUBLICATION " + pg::quote_ident(f.publication) + " ADD TABLE " + t);
    db.exec("INSERT INTO " + t + " VALUES (1, 'x', 2)");
    auto second = stream_all(db, f);
    auto relations = records_of(second, "relation");
    REQUIRE(relations.size() == 1);
    CHECK(relations[0]["columns"].size() == 3);
    CHECK(records_of(second, "insert")[0]["new"] == json::parse(R"({"id":1,"b":"x","c":2})"));
    drop_stream_fixture(db, f);
}

TEST_CASE("R12: partition rows carry the root's name, a row move is delete then insert",
          "[stream]") {
    auto db = connect_test_db();
    const std::string t = unique_name("st_part");
    db.exec("CREATE TABLE " + t +
            " (id int, k int, v text, PRIMARY KEY (id, k)) PARTITION BY RANGE (k)");
    db.exec("CREATE TABLE " + t + "_1 PARTITION OF " + t + " FOR VALUES FROM (0) TO (100)");
    db.exec("CREATE TABLE " + t + "_2 PARTITION OF " + t + " FOR VALUES FROM (100) TO (200)");
    auto f = make_stream_fixture(db, {t});
    db.exec("INSERT INTO " + t + " VALUES (1, 5, 'a')");
    db.exec("UPDATE " + t + " SET k = 150 WHERE id = 1");
    auto records = stream_all(db, f);
    std::vector<json> rows;
    for (const auto& r : records)
        if (r["op"] == "insert" || r["op"] == "delete") rows.push_back(r);
    REQUIRE(rows.size() == 3);
    for (const auto& r : rows)
        CHECK(r["table"] == t);
    CHECK(rows[1]["op"] == "delete");
    CHECK(rows[1]["old"] == json::parse(R"({"id":1,"k":5})"));
    CHECK(rows[2]["new"] == json::parse(R"({"id":1,"k":150,"v":"a"})"));
    CHECK(rows[1]["xid"] == rows[2]["xid"]);
    drop_stream_fixture(db, f);
}

TEST_CASE("R13: transactional messages ride their transaction, others stand alone", "[stream]") {
    auto db = connect_test_db();
    const std::string t = unique_name("st_msg");
    db.exec("CREATE TABLE " + t + " (id int PRIMARY KEY)");
    auto f = make_stream_fixture(db, {t});
    db.exec("BEGIN; INSERT INTO " + t +
            " VALUES (1); "
            "SELECT pg_logical_emit_message(true, 'app', 'tx-bound'); "
            "SELECT pg_logical_emit_message(false, 'app', 'immediate'); ROLLBACK");
    db.exec("BEGIN; INSERT INTO " + t +
            " VALUES (2); "
            "SELECT pg_logical_emit_message(true, 'app', 'kept'); COMMIT");
    // A non-transactional message is decoded once its WAL is flushed: a later commit flushes it.
    db.exec("SELECT pg_logical_emit_message(false, 'bin', '\\xff00fe'::bytea)");
    db.exec("INSERT INTO " + t + " VALUES (3)");
    auto records = stream_all(db, f);
    auto messages = records_of(records, "message");
    REQUIRE(messages.size() == 3);
    CHECK(messages[0]["content"] == "immediate");
    CHECK(messages[0]["transactional"] == false);
    CHECK_FALSE(messages[0].contains("xid"));
    CHECK(messages[1]["content"] == "kept");
    CHECK(messages[1]["transactional"] == true);
    CHECK(messages[1]["seq"] == 1);
    CHECK(messages[1]["xid"] == records_of(records, "insert")[0]["xid"]);
    CHECK(messages[2]["content"] == "/wD+");
    CHECK(messages[2]["content_encoding"] == "base64");
    CHECK(records_of(records, "insert").size() == 2); // the rolled-back insert never appears
    drop_stream_fixture(db, f);
}

TEST_CASE("R8: prepared transactions are decoded once, at COMMIT PREPARED, rolled back ones never",
          "[stream]") {
    auto db = connect_test_db();
    const std::string t = unique_name("st_2pc");
    db.exec("CREATE TABLE " + t + " (id int PRIMARY KEY)");
    auto f = make_stream_fixture(db, {t});
    const std::string g1 = unique_name("g"), g2 = unique_name("g");
    db.exec("BEGIN; INSERT INTO " + t + " VALUES (1); PREPARE TRANSACTION '" + g1 + "'");
    db.exec("BEGIN; INSERT INTO " + t + " VALUES (2); PREPARE TRANSACTION '" + g2 + "'");
    db.exec("ROLLBACK PREPARED '" + g1 + "'");
    db.exec("COMMIT PREPARED '" + g2 + "'");
    auto records = stream_all(db, f);
    auto inserts = records_of(records, "insert");
    REQUIRE(inserts.size() == 1);
    CHECK(inserts[0]["new"]["id"] == 2);
    CHECK(records_of(records, "commit").size() == 1);
    drop_stream_fixture(db, f);
}
