// Electric's value text and schema header against the real server: every column's text as the
// pinned session prints it, mapped to JSON by ValueWriter and back by append_value_text, is
// PostgreSQL's text again; and read_schema_header describes a table exactly as Electric does.
#include "pg/connection.h"
#include "pg/type_catalog.h"
#include "pg_test.h"
#include "record/value_json.h"
#include "serve/electric/schema_header.h"
#include "serve/electric/value_text.h"
#include "serve/shapes/table_schema.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using pgsync::pg::Connection;
using pgsync::pg::QueryError;
using pgsync::pg::quote_ident;
using pgsync::pg::TypeCatalog;
using pgsync::record::ValueOptions;
using pgsync::record::ValueWriter;
using pgsync::serve::electric::append_value_text;
using pgsync::serve::electric::read_schema_header;

namespace {

// A fresh schema (first on the search_path) per test, dropped at the end. The connection has
// pgsync's pinned session settings, so the text it reads is the text pgsync logs.
class Scratch {
public:
    explicit Scratch(const std::string& prefix)
        : m_conn(pgsync::test::connect_test_db()), m_schema(pgsync::test::unique_name(prefix)) {
        m_conn.exec("CREATE SCHEMA " + quote_ident(m_schema));
        m_conn.exec("SET search_path = " + quote_ident(m_schema) + ", public");
        m_conn.exec("SET client_min_messages = warning");
    }
    ~Scratch() {
        try {
            m_conn.exec("DROP SCHEMA " + quote_ident(m_schema) + " CASCADE");
        } catch (...) {
        }
    }
    Connection& conn() { return m_conn; }
    const std::string& schema() const { return m_schema; }

    // hstore lives in public for the whole database; false when the extension is not installed.
    bool try_hstore() {
        try {
            m_conn.exec("CREATE EXTENSION IF NOT EXISTS hstore SCHEMA public");
        } catch (const QueryError&) {
            // Another test may have created it at the same moment.
        }
        return m_conn.query_value("SELECT count(*) FROM pg_extension WHERE extname = 'hstore'") ==
               "1";
    }

    // Maps every non-NULL value of table to JSON and back, requiring PostgreSQL's text each time;
    // returns the number of values compared.
    int compare_round_trip(const std::string& table, ValueOptions options) {
        std::string qualified = quote_ident(m_schema) + "." + quote_ident(table);
        // The columns' declared types (domains kept), as a Relation message gives them.
        auto columns = m_conn.exec_params(
            "SELECT attname, atttypid FROM pg_catalog.pg_attribute WHERE attrelid = $1::regclass "
            "AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            {qualified});
        std::vector<std::string> names;
        std::vector<uint32_t> oids;
        for (int i = 0; i < columns.rows(); ++i) {
            names.push_back(columns.str(i, 0));
            oids.push_back(uint32_t(std::stoul(columns.str(i, 1))));
        }
        m_catalog.load(m_conn, oids);
        ValueWriter writer(m_catalog, options);
        auto rows = m_conn.exec("SELECT * FROM " + qualified + " ORDER BY 1");
        REQUIRE(rows.columns() == int(names.size()));
        int compared = 0;
        for (int row = 0; row < rows.rows(); ++row) {
            for (int column = 0; column < rows.columns(); ++column) {
                if (rows.is_null(row, column)) continue;
                const pgsync::pg::TypeInfo& type = m_catalog.get(oids[size_t(column)]);
                std::string text = rows.str(row, column);
                std::string json;
                writer.append(json, type, text);
                std::string back;
                INFO("row " << row << " column " << names[size_t(column)] << " (" << type.name
                            << ") text: " << text << "\njson: " << json);
                REQUIRE(append_value_text(back, type, json));
                CHECK(back == text);
                ++compared;
            }
        }
        return compared;
    }

private:
    Connection m_conn;
    std::string m_schema;
    TypeCatalog m_catalog;
};

pgsync::serve::TableSchema table_schema(Scratch& s, const std::string& table) {
    std::string publication = pgsync::test::unique_name("electric_pub");
    s.conn().exec("CREATE PUBLICATION " + quote_ident(publication) + " FOR TABLE " +
                  quote_ident(s.schema()) + "." + quote_ident(table));
    auto tables = pgsync::serve::load_published_tables(s.conn(), publication);
    s.conn().exec("DROP PUBLICATION " + quote_ident(publication));
    REQUIRE(tables.size() == 1);
    return tables[0];
}

} // namespace

TEST_CASE("electric values: every type's text survives ValueWriter and append_value_text",
          "[electric]") {
    Scratch s("electric_values");
    const bool hstore = s.try_hstore();
    s.conn().exec(R"SQL(
        CREATE TYPE mood AS ENUM ('happy', 'sad', 'très "sad"', 'with space');
        CREATE DOMAIN posint AS int CHECK (VALUE > 0);
        CREATE TYPE addr AS (street text, n int, tags text[], at timestamptz, j jsonb, ok bool);
        CREATE TABLE v (id int PRIMARY KEY, i2 int2, i4 int4, i8 int8, f4 float4, f8 float8,
            n numeric, b bool, t text, vc varchar(10), c char(5), u uuid, d date, tm time,
            ttz timetz, ts timestamp, tz timestamptz, iv interval, by bytea, j json, jb jsonb,
            ia int[], ia2 int[][], ta text[], jba jsonb[], ja json[], m mood, ma mood[], p posint,
            pa posint[], a addr, aa addr[], tza timestamptz[], tsa timestamp[], fa float8[],
            na numeric[], ba bool[], bx box[], v2 int2vector, ov oidvector, r int4range,
            ip inet, bt bit varying, mo money);
        INSERT INTO v (id) VALUES (0);
        INSERT INTO v VALUES (1, -32768, -2147483648, -9223372036854775808, 'NaN', 'NaN', 'NaN',
            true, E'it''s "quoted" \\ back\\slash\nnew line\ttab caf\u00e9 \U0001F600', 'short',
            'ab', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '2024-02-29', '24:00',
            '23:59:59.999999-12:34', '2024-02-29 23:59:59.5', '2024-01-02 03:04:05.123456+05:30',
            '1 mon -5 days 10:00:04.99', '\xdeadbeef', E' [1, 2.50, {"x" : "\\u00e9\\n"}]\n ',
            '{"b": [1, 2], "a": {"c d": "e\"f"}, "n": null}', '{1,NULL,3}', '{{1,2},{3,NULL}}',
            ARRAY['a b', 'c"d', '', 'NULL', 'null', 'x,y', '{z}', E'back\\slash', E'tab\there',
                  NULL, 'caf' || chr(233)],
            ARRAY['{"a": 1}', '[1, 2]', NULL, '"s"', '3', '[]']::jsonb[],
            ARRAY['{"a":1}', ' 1 ', NULL, '[1,2]']::json[], 'très "sad"',
            '{happy,"with space",NULL}', 1, '{1,NULL,2}',
            ROW('Main St', 12, ARRAY['a', 'b c'], '2024-01-02 03:04:05+00', '{"k": [1, 2]}', true),
            ARRAY[ROW('x', 1, '{}', NULL, '[null]', false)::addr, NULL, ROW(NULL, NULL, NULL, NULL,
                  NULL, NULL)::addr],
            ARRAY['2024-01-02 03:04:05+00', 'infinity', NULL, '0044-03-15 12:00:00+00 BC']::timestamptz[],
            ARRAY['2024-01-02 03:04:05', '-infinity']::timestamp[],
            '{NaN,Infinity,-Infinity,-0,0.1,1e100}', '{1.50,NaN,-0.000001,NULL}', '{t,f,NULL}',
            '{(1,1),(0,0);(2,2),(1,1)}', '1 2 3', '1 2', '[1,10)', '192.168.0.1/24', B'10110',
            '-92233720368547758.08');
        INSERT INTO v (id, i2, i4, i8, f4, f8, n, b, t, vc, c, d, tm, ttz, ts, tz, iv, by, j, jb,
            ia, ia2, ta, a, tza, fa)
        VALUES (2, 32767, 2147483647, 9223372036854775807, 'Infinity', '-Infinity', 'Infinity',
            false, '', '', '', 'infinity', '00:00', '00:00+14', 'infinity', 'infinity',
            '-178000000 years', '', 'null', 'null', '{}', '{{{1,2}},{{3,4}}}', '{}',
            ROW('', 0, '{}', 'infinity', '"s"', NULL), '{}', '{}'),
            (3, 0, 0, 0, '-0', '1e308', '-0.0000000001', NULL, 'NULL', 'a "b"', '  ',
            '4713-01-01 BC', '12:34:56.5', '12:00:00+05:30:15', '4713-01-01 00:00 BC',
            '0044-03-15 12:00:00+00 BC', '0', '\x00', '"\u0000"', '"just a string"',
            '{-1}', '{{1},{2}}', '{""}', ROW(E'a\\b "q"', -1, ARRAY[NULL, ''], NULL, '[null]', NULL),
            '{-infinity}', '{4.9e-324}'),
            (4, 1, 1, 9007199254740993, '3.4028235e38', '-1.7976931348623157e308',
            repeat('9', 400)::numeric, true, (SELECT string_agg(chr(x), '') FROM
            generate_series(1, 300) x), NULL, NULL, '5874897-12-31',
            NULL, NULL, '294276-12-31 23:59:59.999999', '294276-12-31 23:59:59.999999+00',
            'P1Y2M3DT4H5M6.5S', decode(repeat('ab', 1000), 'hex'), '1e400', '1e400',
            NULL, NULL, ARRAY[(SELECT string_agg(chr(x), '') FROM generate_series(1, 300) x), 'x'],
            ROW((SELECT string_agg(chr(x), '') FROM generate_series(1, 300) x), 4, NULL, NULL,
                '{}', true), NULL, NULL);
    )SQL");
    if (hstore) {
        s.conn().exec("ALTER TABLE v ADD COLUMN h hstore, ADD COLUMN ha hstore[]");
        s.conn().exec(R"SQL(
            UPDATE v SET h = '"a"=>"1", "b c"=>NULL, "q\"uote"=>"back\\slash", ""=>""',
                ha = ARRAY['a=>1'::hstore, NULL, ''::hstore] WHERE id = 1;
            UPDATE v SET h = '' WHERE id = 2;
            UPDATE v SET h = hstore('NULL', 'NULL') WHERE id = 3;
        )SQL");
    }
    const int values = s.compare_round_trip("v", ValueOptions{});
    CHECK(values > 100);
    CHECK(s.compare_round_trip("v", ValueOptions{true}) == values);
}

TEST_CASE("electric values: the schema header is Electric's for each kind of column",
          "[electric]") {
    Scratch s("electric_schema");
    s.conn().exec(R"SQL(
        CREATE TYPE mood AS ENUM ('happy', 'sad');
        CREATE DOMAIN posint AS int CHECK (VALUE > 0);
        CREATE TYPE pair AS (x int, y text);
        CREATE TABLE h (tenant int, id bigint, title text NOT NULL, vc varchar(20), c char(5),
            n numeric(10,2), tz timestamptz(3), iv interval minute to second, ia int[],
            ia2 int[][], m mood NOT NULL, p posint, pr pair, nu numeric, t0 time(0),
            iv3 interval(3), ivd interval day, vb varbit, b4 bit(4), plain varchar, va varchar(5)[],
            v2 int2vector, PRIMARY KEY (tenant, id));
    )SQL");
    pgsync::serve::TableSchema table = table_schema(s, "h");
    std::vector<int> all;
    for (size_t i = 0; i < table.columns.size(); ++i)
        all.push_back(int(i));
    std::string header = read_schema_header(s.conn(), table, all);
    std::string expected = R"({"tenant":{"type":"int4","not_null":true,"pk_index":0},)"
                           R"("id":{"type":"int8","not_null":true,"pk_index":1},)"
                           R"("title":{"type":"text","not_null":true},)"
                           R"("vc":{"type":"varchar","max_length":20},)"
                           R"("c":{"type":"bpchar","length":5},)"
                           R"("n":{"type":"numeric","precision":10,"scale":2},)"
                           R"("tz":{"type":"timestamptz","precision":3},)"
                           R"("iv":{"type":"interval","fields":"MINUTE TO SECOND"},)"
                           R"("ia":{"type":"int4","dims":1},)"
                           R"("ia2":{"type":"int4","dims":2},)"
                           R"("m":{"type":"mood","not_null":true},)"
                           R"("p":{"type":"posint"},)"
                           R"("pr":{"type":"pair"},)"
                           R"("nu":{"type":"numeric"},)"
                           R"("t0":{"type":"time","type_mod":0},)"
                           R"("iv3":{"type":"interval","precision":3},)"
                           R"("ivd":{"type":"interval","fields":"DAY"},)"
                           R"("vb":{"type":"varbit","length":-1},)"
                           R"("b4":{"type":"bit","length":4},)"
                           R"("plain":{"type":"varchar"},)"
                           R"("va":{"type":"varchar","dims":1,"max_length":5},)"
                           R"("v2":{"type":"int2vector"}})";
    CHECK(header == expected);

    // A selection: its order, and the key's position whatever is selected.
    CHECK(read_schema_header(s.conn(), table, {2, 1}) ==
          R"({"title":{"type":"text","not_null":true},)"
          R"("id":{"type":"int8","not_null":true,"pk_index":1}})");
    CHECK(read_schema_header(s.conn(), table, {}) == "{}");

    // attndims is 0 for a column made by CREATE TABLE AS: still an array of one dimension.
    s.conn().exec("CREATE TABLE copied AS SELECT ia2, tenant FROM h");
    pgsync::serve::TableSchema copied = table_schema(s, "copied");
    CHECK(s.conn().query_value(
              "SELECT attndims FROM pg_attribute WHERE attrelid = 'copied'::regclass "
              "AND attname = 'ia2'") == "0");
    // Without a primary key or replica identity index every column is in the key (TableSchema's
    // key_columns), so each gets a pk_index.
    CHECK(read_schema_header(s.conn(), copied, {0, 1}) ==
          R"({"ia2":{"type":"int4","dims":1,"pk_index":0},"tenant":{"type":"int4","pk_index":1}})");
}
