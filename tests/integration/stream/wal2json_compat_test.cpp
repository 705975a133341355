// pgsync-stream --format wal2json against wal2json itself: two slots made at the same point, one
// pgoutput and one wal2json, see the same DML, and their outputs agree line for line, also
// against real pg_recvlogical on a database and role whose settings change the values' text.
#include "pg_test.h"
#include "stream_support.h"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <sstream>

using namespace pgsync;
using namespace pgsync::test;

namespace {

std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line))
        if (!line.empty()) lines.push_back(line);
    return lines;
}

// Keeps the lines the test made: wal2json decodes every table of the database and pgoutput sends
// every logical message, so both streams may hold other sessions' work. A message line is kept
// when it carries our prefix; then a B/C pair with nothing left between them is dropped (wal2json
// frames empty transactions, such as an autoanalyze's, which PostgreSQL 15's pgoutput skips).
std::vector<std::string> ours(const std::vector<std::string>& lines, const std::string& prefix) {
    const std::string our_message = "\"prefix\":\"" + prefix + "\"";
    std::vector<std::string> kept;
    for (const std::string& line : lines) {
        if (line.starts_with("{\"action\":\"M\"") && line.find(our_message) == std::string::npos)
            continue;
        if (line.starts_with("{\"action\":\"C\"") && !kept.empty() &&
            kept.back().starts_with("{\"action\":\"B\"")) {
            kept.pop_back();
            continue;
        }
        kept.push_back(line);
    }
    return kept;
}

// pg_recvlogical of the PostgreSQL the harness runs ($PGSYNC_PGBIN, as tests/harness/pg-cluster).
std::string pg_recvlogical() {
    const char* bin = std::getenv("PGSYNC_PGBIN");
    return std::string(bin && *bin ? bin : "/usr/lib/postgresql/15/bin") + "/pg_recvlogical";
}

} // namespace

TEST_CASE("stream --format wal2json writes what wal2json writes for the same changes",
          "[stream][wal2json]") {
    auto db = connect_test_db();
    const std::string all = unique_name("w2j_all");
    const std::string full = unique_name("w2j_full");
    const std::string keys = unique_name("w2j_keys");
    const std::string mixed = unique_name("W2j Mixé\"d");
    const std::string mood = unique_name("Mood");
    const std::string posint = unique_name("w2j_posint");
    const std::string prefix = unique_name("w2j_prefix");
    const std::string q_mixed = pg::quote_ident(mixed);
    const std::string q_mood = pg::quote_ident(mood);

    db.exec("CREATE TYPE " + q_mood + " AS ENUM ('happy', 'sad')");
    db.exec("CREATE DOMAIN " + posint + " AS int CHECK (VALUE > 0)");
    db.exec("CREATE TABLE " + all +
            " (id int PRIMARY KEY, n numeric, nn numeric(10,2), f8 float8, f4 real, i2 smallint, "
            "i8 bigint, b bool, t text, vc varchar(20), ch char(3), bp bpchar, bpa bpchar[], "
            "j json, jb jsonb, ai int[], at text[], by bytea, tz timestamptz, ts timestamp(3), "
            "d date, iv interval, u uuid, o oid, m " +
            q_mood + ", ma " + q_mood +
            "[], "
            "dp " +
            posint + ", big text)");
    db.exec("ALTER TABLE " + all + " ALTER big SET STORAGE EXTERNAL");
    db.exec("CREATE TABLE " + full + " (a int, b text, c numeric, big text)");
    db.exec("ALTER TABLE " + full + " REPLICA IDENTITY FULL, ALTER big SET STORAGE EXTERNAL");
    db.exec("CREATE TABLE " + keys + " (k1 int, k2 text, v text, PRIMARY KEY (k1, k2))");
    db.exec("CREATE TABLE " + q_mixed + " (\"Id\" int PRIMARY KEY, \"we\"\"ird\" text)");

    auto fixture = make_stream_fixture(db, {all, full, keys, q_mixed});
    const std::string w2j_slot = unique_name("w2j_slot");
    db.exec_params("SELECT pg_create_logical_replication_slot($1, 'wal2json')", {w2j_slot});

    db.exec("INSERT INTO " + all +
            " VALUES (1, 'NaN', 12.5, 'Infinity', '-Infinity', -32768, "
            "9223372036854775807, true, E'quote \" backslash \\\\ newline \\n tab \\t ctl \\x01 "
            "\u00e9\u2603', 'v', 'ab', 'xyz ', '{a,NULL}', '{\"k\": [1, 2.50]}', '{\"k\": null}', "
            "'{1,NULL,3}', '{\"x y\",\"\\\\\"}', '\\x00ff10', '2024-01-02 03:04:05.5+02', "
            "'2024-01-02 03:04:05.123', '2024-02-29', '1 mon 2 days 03:04:05', "
            "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 4294967295, 'happy', '{happy,sad}', 5, "
            "repeat('toasted ', 2000))");
    db.exec("INSERT INTO " + all +
            " (id, n, f8, f4, b) VALUES (2, 'Infinity', 'NaN', 1.5e-7, "
            "false), (3, '-Infinity', -0.0, 3.4e38, NULL)");
    db.exec("UPDATE " + all + " SET t = 'changed', n = 1e-20 WHERE id = 1"); // big stays TOASTed
    db.exec("UPDATE " + all + " SET id = 10 WHERE id = 2");                  // key change
    db.exec("DELETE FROM " + all + " WHERE id = 3");

    db.exec("INSERT INTO " + full + " VALUES (1, 'x', NULL, repeat('full ', 2000))");
    db.exec("UPDATE " + full + " SET b = 'y'");
    db.exec("UPDATE " + full + " SET a = 2, c = 'NaN'");
    db.exec("DELETE FROM " + full);

    db.exec("INSERT INTO " + keys + " VALUES (1, 'a', 'v'), (2, 'b', NULL)");
    db.exec("UPDATE " + keys + " SET v = 'w' WHERE k1 = 1");  // identity from the new row
    db.exec("UPDATE " + keys + " SET k2 = 'c' WHERE k1 = 1"); // identity from the old key
    db.exec("DELETE FROM " + keys + " WHERE k1 = 2");

    db.exec("INSERT INTO " + q_mixed + " VALUES (1, 'é')");
    db.exec("BEGIN; "
            "SELECT pg_logical_emit_message(true, " +
            pg::quote_literal(prefix) +
            ", E'in a \"transaction\"\\n'); "
            "UPDATE " +
            q_mixed +
            " SET \"we\"\"ird\" = NULL; "
            "SELECT pg_logical_emit_message(false, " +
            pg::quote_literal(prefix) +
            ", 'at once'); "
            "INSERT INTO " +
            keys +
            " VALUES (3, 'd', 'e'); "
            "COMMIT");
    db.exec("SELECT pg_logical_emit_message(true, " + pg::quote_literal(prefix) + ", 'alone')");
    db.exec("TRUNCATE " + full + ", " + keys);
    db.exec("INSERT INTO " + keys + " VALUES (4, 'after truncate', NULL)");

    auto streamed = stream_to_now(db, fixture, {"--format", "wal2json"});
    INFO(streamed.err);
    REQUIRE(streamed.exit_code == 0);

    // The same options as --format wal2json reproduces; add-tables only spares decoding others.
    std::string tables;
    for (const std::string& t : {all, full, keys, mixed}) {
        tables += tables.empty() ? "public." : ",public.";
        for (char c : t) {
            if (c == ' ' || c == ',' || c == '.' || c == '\\') tables += '\\';
            tables += c;
        }
    }
    // Decoded in a session like pg_recvlogical's: the server's default settings and an empty
    // search_path, which pgsync-stream --format wal2json reproduces.
    auto recvlogical_like = pg::Connection::open(
        {test_dsn(), false, "pgsync-tests", {{"search_path", ""}}, /*pin_settings=*/false});
    pg::Result decoded = recvlogical_like.exec_params(
        "SELECT data FROM pg_logical_slot_get_changes($1, NULL, NULL, 'format-version', '2', "
        "'include-lsn', '1', 'include-xids', '1', 'include-timestamp', '1', 'add-tables', $2)",
        {w2j_slot, tables});
    std::vector<std::string> expected;
    for (int i = 0; i < decoded.rows(); ++i)
        expected.push_back(decoded.str(i, 0));
    expected = ours(expected, prefix);
    std::vector<std::string> actual = ours(split_lines(streamed.out), prefix);

    // 18 transactions (36 B and C lines, 19 rows, 2 truncated tables, 2 messages) and the
    // non-transactional message.
    CHECK(expected.size() == 60);
    CHECK(actual.size() == expected.size());
    for (size_t i = 0; i < std::min(actual.size(), expected.size()); ++i) {
        INFO("line " << i);
        CHECK(actual[i] == expected[i]);
    }

    db.exec_params("SELECT pg_drop_replication_slot($1)", {w2j_slot});
    drop_stream_fixture(db, fixture);
    db.exec("DROP TABLE " + all + ", " + full + ", " + keys + ", " + q_mixed);
    db.exec("DROP TYPE " + q_mood + "; DROP DOMAIN " + posint);
}

TEST_CASE("stream --format wal2json equals pg_recvlogical with wal2json under a database's and "
          "role's own TimeZone, DateStyle, extra_float_digits and IntervalStyle",
          "[stream][wal2json]") {
    // pg_recvlogical's walsender renders values (and wal2json the commit time) under the settings
    // the role and database give it, with an empty search_path; pgsync must do the same.
    auto admin = connect_test_db();
    const std::string database = unique_name("w2j_settings"), role = unique_name("w2j_role");
    admin.exec("CREATE DATABASE " + database);
    admin.exec("CREATE ROLE " + role + " LOGIN REPLICATION");
    admin.exec("ALTER DATABASE " + database + " SET TimeZone = 'America/New_York'");
    admin.exec("ALTER DATABASE " + database + " SET DateStyle = 'SQL, DMY'");
    admin.exec("ALTER ROLE " + role + " IN DATABASE " + database + " SET extra_float_digits = 0");
    admin.exec("ALTER ROLE " + role + " SET IntervalStyle = 'iso_8601'");
    const std::string dsn = test_dsn() + " dbname=" + database;
    const std::string role_dsn = dsn + " user=" + role;
    {
        auto db = pg::Connection::open({dsn, false, "pgsync-tests", {}});
        db.exec("CREATE DOMAIN \"Mixed_Case_Domain\" AS int CHECK (VALUE > 0)");
        db.exec("CREATE TABLE t (id int PRIMARY KEY, tz timestamptz, ts timestamp, d date, "
                "f8 float8, f4 real, n numeric, iv interval, tza timestamptz[], tt timetz, "
                "rc regclass, dm \"Mixed_Case_Domain\")");
        auto fixture = make_stream_fixture(db, {"t"});
        const std::string w2j_slot = unique_name("w2j_slot");
        db.exec_params("SELECT pg_create_logical_replication_slot($1, 'wal2json')", {w2j_slot});

        db.exec(
            "INSERT INTO t VALUES (1, '2024-07-01 12:34:56.5+00', '2024-01-02 03:04:05', "
            "'2024-02-29', 0.1::float8 + 0.2, 1.1, 12.50, '1 day 02:03:04.5', "
            "'{\"2024-01-15 08:00:00+00\",\"2024-07-15 08:00:00+00\"}', '10:11:12+02', 't', 7)");
        db.exec("INSERT INTO t (id, tz, d, f8) VALUES (2, '1999-12-31 23:59:59+00', "
                "'0044-03-15 BC', 1e-300)");
        db.exec("UPDATE t SET tz = tz + interval '6 months', f4 = 3.4e38 WHERE id = 1");
        db.exec("DELETE FROM t WHERE id = 2");
        const std::string endpos = current_wal_lsn(db);

        auto streamed = run_process({tool_path("pgsync-stream"), "-d", role_dsn, "-S", fixture.slot,
                                     "-P", fixture.publication, "--endpos", endpos, "--no-loop",
                                     "--format", "wal2json"});
        INFO(streamed.err);
        REQUIRE(streamed.exit_code == 0);
        auto expected = run_process({pg_recvlogical(),
                                     "-d",
                                     role_dsn,
                                     "-S",
                                     w2j_slot,
                                     "--start",
                                     "-o",
                                     "format-version=2",
                                     "-o",
                                     "include-lsn=1",
                                     "-o",
                                     "include-xids=1",
                                     "-o",
                                     "include-timestamp=1",
                                     "-o",
                                     "add-tables=public.t",
                                     "-E",
                                     endpos,
                                     "-s",
                                     "1",
                                     "-f",
                                     "-"});
        INFO(expected.err);
        REQUIRE(expected.exit_code == 0);

        std::vector<std::string> want = ours(split_lines(expected.out), "none");
        std::vector<std::string> got = ours(split_lines(streamed.out), "none");
        // Four transactions of one row each, as B, the row, C.
        CHECK(want.size() == 12);
        // The settings are in effect: New York time, SQL style day first, 15 digits, ISO 8601
        // intervals, and the domain named as with an empty search_path.
        REQUIRE(want.size() > 1);
        CHECK(want[1].find("\"value\":\"01/07/2024 08:34:56.5 EDT\"") != std::string::npos);
        CHECK(want[1].find("\"value\":0.3}") != std::string::npos);
        CHECK(want[1].find("\"value\":\"P1DT2H3M4.5S\"") != std::string::npos);
        CHECK(want[1].find("\"type\":\"public.\\\"Mixed_Case_Domain\\\"\"") != std::string::npos);
        const bool in_new_york = want[0].find("-05\",\"lsn\"") != std::string::npos ||
                                 want[0].find("-04\",\"lsn\"") != std::string::npos;
        CHECK(in_new_york); // the commit time: EST or EDT
        CHECK(got.size() == want.size());
        for (size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
            INFO("line " << i);
            CHECK(got[i] == want[i]);
        }

        db.exec_params("SELECT pg_drop_replication_slot($1)", {w2j_slot});
        drop_stream_fixture(db, fixture);
    }
    admin.exec("DROP DATABASE " + database + " WITH (FORCE)");
    admin.exec("DROP ROLE " + role);
}
