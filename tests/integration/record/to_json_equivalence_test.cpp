// ValueWriter gives, byte for byte, what PostgreSQL's to_json(row) gives, for every type case of
// cdc-hard-cases.md section 1 (T1-T17) and for randomly generated rows: each row's column text (as
// COPY and pgoutput send it under the pinned settings) is mapped client-side and compared.
#include "pg/connection.h"
#include "pg/type_catalog.h"
#include "pg_test.h"
#include "record/json_text.h"
#include "record/value_json.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using pgsync::pg::Connection;
using pgsync::pg::JsonKind;
using pgsync::pg::QueryError;
using pgsync::pg::quote_ident;
using pgsync::pg::quote_literal;
using pgsync::pg::TypeCatalog;
using pgsync::record::append_json_string;
using pgsync::record::ValueOptions;
using pgsync::record::ValueWriter;

namespace {

// A fresh schema (first on the search_path) per test, dropped at the end.
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

    // hstore lives in public for the whole database; tests running in parallel may race here.
    void ensure_hstore() {
        try {
            m_conn.exec("CREATE EXTENSION IF NOT EXISTS hstore SCHEMA public");
        } catch (const QueryError&) {
            REQUIRE(m_conn.query_value("SELECT count(*) FROM pg_extension "
                                       "WHERE extname = 'hstore'") == "1");
        }
    }

    // Compares every row of table (ordered by its first column) with to_json(row), or with the
    // text of the rows expected_sql returns in that order; returns the number of rows compared.
    int compare_with_to_json(const std::string& table, ValueOptions options = {},
                             const std::string& expected_sql = {}) {
        std::string qualified = quote_ident(m_schema) + "." + quote_ident(table);
        // Column types from pg_attribute, as a Relation message gives them: a domain column has
        // the domain's OID here (a result set's RowDescription would give the base type).
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
        std::vector<const pgsync::pg::TypeInfo*> types;
        for (uint32_t oid : oids)
            types.push_back(&writer.resolve(oid));

        // An alias no column has: to_json(t) would take a column named t.
        auto rows = m_conn.exec("SELECT \"row alias\".*, to_json(\"row alias\")::text FROM " +
                                qualified + " \"row alias\" ORDER BY 1");
        const int count = int(names.size());
        REQUIRE(rows.columns() == count + 1);
        pgsync::pg::Result expected;
        if (!expected_sql.empty()) {
            expected = m_conn.exec(expected_sql);
            REQUIRE(expected.rows() == rows.rows());
        }
        for (int row = 0; row < rows.rows(); ++row) {
            std::string mine = "{";
            for (int column = 0; column < count; ++column) {
                if (column) mine += ',';
                append_json_string(mine, names[column]);
                mine += ':';
                if (rows.is_null(row, column))
                    mine += "null";
                else
                    writer.append(mine, *types[column], rows.get(row, column));
            }
            mine += '}';
            std::string text;
            for (int column = 0; column < count; ++column)
                text += (column ? " | " : "") +
                        (rows.is_null(row, column) ? "NULL" : rows.str(row, column));
            INFO("table " << table << " row " << row << " text: " << text);
            REQUIRE(mine == (expected_sql.empty() ? rows.str(row, count) : expected.str(row, 0)));
        }
        return rows.rows();
    }

    const TypeCatalog& catalog() const { return m_catalog; }

private:
    Connection m_conn;
    std::string m_schema;
    TypeCatalog m_catalog;
};

} // namespace

TEST_CASE("to_json equivalence: T1 numeric NaN, Infinity, huge and scaled", "[to_json]") {
    Scratch s("tojson_t1");
    s.conn().exec(R"SQL(
        CREATE TABLE n (id int PRIMARY KEY, a numeric, b numeric(20,10), c numeric(1000,500));
        INSERT INTO n VALUES (1,'NaN',1234567890.1234567890,NULL),(2,'Infinity',0.10,0),
            (3,'-Infinity',-0.0000000001,'-0.5'),(4, repeat('9',400)::numeric, 1, 1e-500),
            (5, '1e-400', -0, repeat('7',499)::numeric / 3), (6, 0.000, 100, '-1.500'),
            (7, '-0', 12.3e5, 1e100);
    )SQL");
    CHECK(s.compare_with_to_json("n") == 7);
    // numbers_as_strings gives what to_json gives for the numbers cast to text.
    CHECK(s.compare_with_to_json(
              "n", ValueOptions{true},
              "SELECT to_json(x)::text FROM (SELECT id, a::text AS a, b::text AS b, c::text AS c "
              "FROM n ORDER BY 1) x") == 7);
}

TEST_CASE("to_json equivalence: T2 int8 bounds and T3 float specials", "[to_json]") {
    Scratch s("tojson_t2");
    s.conn().exec(R"SQL(
        CREATE TABLE b (id bigint PRIMARY KEY, s smallint, i int);
        INSERT INTO b VALUES (9007199254740993, -32768, 2147483647),
            (-9223372036854775808, 32767, -2147483648), (9223372036854775807, 0, 0);
        CREATE TABLE f (id int PRIMARY KEY, r real, d double precision);
        INSERT INTO f VALUES (1,'NaN','-Infinity'),(2,'-0','-0'),(3,0.1,0.1::float8*0.1::float8),
            (4,1.17549435e-38,1e308),(5,'Infinity','NaN'),(6,'1.4e-45','4.9e-324'),
            (7,3.4028235e38,-1.7976931348623157e308),(8,1e-10,123456789012345680000),
            (9,100,1e15),(10,1e16,1e17);
    )SQL");
    CHECK(s.compare_with_to_json("b") == 3);
    CHECK(
        s.compare_with_to_json(
            "b", ValueOptions{true},
            "SELECT to_json(x)::text FROM (SELECT id::text AS id, s, i FROM b ORDER BY b.id) x") ==
        3);
    CHECK(s.compare_with_to_json("f") == 10);
}

TEST_CASE("to_json equivalence: T4 money at both int64 bounds", "[to_json]") {
    Scratch s("tojson_t4");
    s.conn().exec(R"SQL(
        CREATE TABLE m (id int PRIMARY KEY, v money);
        INSERT INTO m VALUES (1,-92233720368547758.08),(2,1000),(3,-1),(4,92233720368547758.07),
            (5,0),(6,0.01);
    )SQL");
    CHECK(s.compare_with_to_json("m") == 6);
}

TEST_CASE("to_json equivalence: T5 T6 T8 dates and timestamps: infinite, BC, huge years",
          "[to_json]") {
    Scratch s("tojson_t5");
    s.conn().exec(R"SQL(
        CREATE TABLE t (id int PRIMARY KEY, d date, ts timestamp, tz timestamptz);
        INSERT INTO t VALUES (1,'infinity','-infinity','infinity'),
            (2,'5874897-12-31','294276-12-31 23:59:59.999999','294276-12-31 23:59:59.999999+00'),
            (3,'-infinity','infinity','-infinity'),
            (4,'4713-01-01 BC','4713-01-01 00:00 BC','4713-01-01 00:00+00 BC'),
            (5,'10000-01-01','10000-01-01 00:00:00.5','10000-01-01 00:00:00.000001+00'),
            (6,'2024-02-29','2024-02-29 23:59:59.5','2024-02-29 23:59:59.5-03:30'),
            (7,'1900-01-01','1900-01-01 00:00','1900-01-01 00:00 Europe/Amsterdam');
        CREATE TABLE bc (id int PRIMARY KEY, d date, tz timestamptz);
        INSERT INTO bc VALUES (1,'0001-01-01 BC','0044-03-15 12:00:00+00 BC'),
            (2,'1582-10-10','0996-02-29 00:00+00'),(3,'0001-02-29 BC','0001-02-29 12:00+00 BC'),
            (4,'0001-01-01','0001-01-01 00:00+00');
        CREATE TABLE tzz (id int PRIMARY KEY, a timestamptz, b timestamp);
        INSERT INTO tzz VALUES (1,'2024-03-10 02:30:00 America/New_York','2024-01-01 00:00'),
            (2,'2024-06-01 12:00+05:45','2024-06-01 12:00:00.123456');
    )SQL");
    CHECK(s.compare_with_to_json("t") == 7);
    CHECK(s.compare_with_to_json("bc") == 4);
    CHECK(s.compare_with_to_json("tzz") == 2);
}

TEST_CASE("to_json equivalence: T5 timestamptz offsets other than UTC", "[to_json]") {
    // to_json always prints minutes ("+05:30", "+00:19:32"); check it for sessions whose offsets
    // are not whole hours or even whole minutes, although pgsync pins UTC.
    Scratch s("tojson_tz");
    s.conn().exec(R"SQL(
        CREATE TABLE z (id int PRIMARY KEY, tz timestamptz, tzs timestamptz[]);
        INSERT INTO z VALUES (1,'2024-01-01 00:00+00', ARRAY['1900-01-01 00:00+00'::timestamptz]),
            (2,'0044-03-15 12:00:00+00 BC', '{infinity,NULL}'), (3,'1850-06-01 00:00+00', NULL);
    )SQL");
    for (const char* zone : {"Asia/Kolkata", "Europe/Amsterdam", "America/St_Johns", "UTC"}) {
        s.conn().exec(std::string("SET TimeZone = ") + quote_literal(zone));
        INFO("TimeZone " << zone);
        CHECK(s.compare_with_to_json("z") == 3);
    }
}

TEST_CASE("to_json equivalence: T7 time 24:00, timetz and interval", "[to_json]") {
    Scratch s("tojson_t7");
    s.conn().exec(R"SQL(
        CREATE TABLE ti (id int PRIMARY KEY, t time, ttz timetz, iv interval, t3 time(3));
        INSERT INTO ti VALUES (1,'24:00:00','23:59:59.999999-12:34','1 mon -5 days 10:00:04.99',
                                 '12:00:00.1239'),
            (2,'00:00','00:00+14','-178000000 years', NULL),
            (3,'12:34:56.5','12:00:00+05:30:15','P1Y2M3DT4H5M6.5S','00:00'),
            (4,NULL,NULL,'0',NULL);
    )SQL");
    CHECK(s.compare_with_to_json("ti") == 4);
}

TEST_CASE("to_json equivalence: T9 bytea and T10 json versus jsonb", "[to_json]") {
    Scratch s("tojson_t9");
    s.conn().exec(R"SQL(
        CREATE TABLE bt (id int PRIMARY KEY, b bytea);
        INSERT INTO bt VALUES (1,'\xdeadbeef'),(2,''::bytea),(3,NULL),
            (4,decode(repeat('ab',5000),'hex')),(5,'\x00');
        CREATE TABLE j (id int PRIMARY KEY, a json, b jsonb);
        INSERT INTO j VALUES (1,'{"a":1,"a":2}','{"a":1,"a":2}'),(2,'null','null'),(3,NULL,NULL),
            (4,'{"n":123456789012345678901234567890}','"just a string"'),
            (5,E' [1, 2.50, {"x" : "\\u00e9\\n"}]\n ','[1, 2.50, {"x" : "\u00e9\n"}]'),
            (6,'1e400','1e400'),(7,'"\\u0000"','{"b":1,"a":[true,false,null]}');
    )SQL");
    CHECK(s.compare_with_to_json("bt") == 5);
    CHECK(s.compare_with_to_json("j") == 7);
}

TEST_CASE("to_json equivalence: T11 arrays: quoting, NULL, nesting, bounds, box delimiter",
          "[to_json]") {
    Scratch s("tojson_t11");
    s.ensure_hstore();
    s.conn().exec(R"SQL(
        CREATE TABLE a (id int PRIMARY KEY, t text[], m int[], z int[], bx box[]);
        INSERT INTO a VALUES (1, ARRAY['a,b','c',NULL,'NULL','','x"y','back\slash',' sp'],
                                 '{{1,2},{3,NULL}}', '[0:1]={7,8}',
                                 ARRAY[box '((0,0),(1,1))', box '((2,2),(3,3))']);
        INSERT INTO a VALUES (2, '{}', '{}', NULL, NULL),
            (3, '{{"{}","}"},{"null",NULL}}', '[-5:-4][2:3]={{1,2},{3,4}}', '{{{1}},{{2}}}',
                '{}'),
            (4, ARRAY[E'tab\there', E'nl\n', 'ü€😀', '(a,b)', '\\', '"', 'a b', 'NuLL'],
                '[1:1][0:0]={{5}}', '{}', ARRAY[NULL::box]);
        CREATE TABLE a2 (id int PRIMARY KEY, n numeric[], f float8[], b bool[], d date[],
                         ts timestamp[], tz timestamptz[], j json[], jb jsonb[], h hstore[],
                         r int4range[], by bytea[], u uuid[], mo money[], iv interval[],
                         v2 int2vector, ov oidvector);
        INSERT INTO a2 VALUES (1, '{NaN,Infinity,-Infinity,1.50,NULL}', '{NaN,-0,1e308,-Infinity}',
            '{t,f,NULL}', '{infinity,2024-01-01,"0001-01-01 BC"}',
            ARRAY['2024-01-01 10:00'::timestamp, '-infinity'],
            ARRAY['2024-01-01 10:00+02'::timestamptz, NULL],
            ARRAY['{"a" : 1}'::json, 'null', NULL, '"s"'], ARRAY['{"a" : 1}'::jsonb, '[]'],
            ARRAY['a=>1, "b c"=>NULL'::hstore, '', NULL], '{"[1,5)",empty,"(,)"}',
            ARRAY['\x'::bytea, '\xff00'], '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}',
            '{-92233720368547758.08,1000}', '{"1 day","-00:00:01"}', '1 -2 3', '0 26 4294967295'),
            (2, '{}', '{{1,2},{3,4}}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}',
             '{}', '{}', '', '');
    )SQL");
    CHECK(s.compare_with_to_json("a") == 4);
    CHECK(s.compare_with_to_json("a2") == 2);
    CHECK(s.compare_with_to_json(
              "a2", ValueOptions{true},
              "SELECT to_json(x)::text FROM (SELECT id, n::text[] AS n, f, b, d, "
              "ts, tz, j, jb, h, r, by, u, mo, iv, v2, ov FROM a2 ORDER BY 1) x") == 2);
    CHECK(s.catalog().get(1020).element_delimiter == ';'); // _box
}

TEST_CASE("to_json equivalence: T12 ranges, multiranges and text-only types", "[to_json]") {
    Scratch s("tojson_t12");
    s.conn().exec(R"SQL(
        CREATE TABLE r (id int PRIMARY KEY, i int4range, t tstzrange, e int4range,
                        mr int4multirange, b bit(8), vb varbit, ip inet, c cidr, tv tsvector,
                        p point, u uuid, x xml, q tsquery, pg polygon, l line, ls lseg, ci circle,
                        pa path, mac macaddr, vc varchar(5), ch char(4), c1 "char", nm name,
                        o oid, nr numrange, dr daterange, tm tstzmultirange, rp regproc);
        INSERT INTO r VALUES (1,'[1,10]','(,infinity)','empty','{[1,3),[5,8)}',B'00001111',
            B'0101','10.0.0.1/32','10.0.0.0/8','a:1 b:2','(1,2)',
            'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11','<a x="1">t&amp;</a>','a & !b',
            '((0,0),(1,1),(1,0))','{1,2,3}','[(0,0),(1,1)]','<(1,1),2>','[(0,0),(1,1)]',
            '08:00:2b:01:02:03','ab"c','x','"','na"me',4294967295,'[1.5,2.5]','[2024-01-01,)',
            '{[2024-01-01 00:00+00,2024-02-01 00:00+00)}','pg_catalog.now'),
            (2,NULL,'["2024-01-01 00:00+00",infinity]',NULL,'{}',B'00000000',B'',
             '::1','2001:db8::/32',$$'a b':1A 'it''s':2$$,'(-0,1e300)',NULL,NULL,NULL,NULL,
             NULL,NULL,NULL,NULL,NULL,'',' ',E'\\','',0,'empty',NULL,'{}','-');
    )SQL");
    CHECK(s.compare_with_to_json("r") == 2);
}

TEST_CASE("to_json equivalence: T13 enums with quoted names and added values", "[to_json]") {
    Scratch s("tojson_t13");
    s.conn().exec(R"SQL(
        CREATE TYPE "Mood" AS ENUM ('sad');
        CREATE TYPE empty_e AS ENUM ();
        CREATE TABLE e (id int PRIMARY KEY, m "Mood", ms "Mood"[], none empty_e);
        INSERT INTO e VALUES (1,'sad','{sad}');
    )SQL");
    // One statement at a time: a value added in a transaction cannot be used in it.
    s.conn().exec("ALTER TYPE \"Mood\" ADD VALUE 'happy'");
    s.conn().exec("ALTER TYPE \"Mood\" ADD VALUE 'it''s \"quoted\", {really}'");
    s.conn().exec("ALTER TYPE \"Mood\" ADD VALUE 'NULL'");
    s.conn().exec(R"SQL(
        INSERT INTO e VALUES (2,'happy','{happy,sad}'),
            (3,'it''s "quoted", {really}', ARRAY['it''s "quoted", {really}'::"Mood", 'NULL', NULL]);
    )SQL");
    CHECK(s.compare_with_to_json("e") == 3);
}

TEST_CASE("to_json equivalence: T14 domains, domains of domains, arrays of domains", "[to_json]") {
    Scratch s("tojson_t14");
    s.ensure_hstore();
    s.conn().exec(R"SQL(
        CREATE DOMAIN sf_id AS varchar(18);
        CREATE DOMAIN money2 AS numeric(12,2) CHECK (VALUE >= 0);
        CREATE DOMAIN money3 AS money2;
        CREATE TYPE pair AS (x int, y text);
        CREATE DOMAIN dpair AS pair CHECK ((VALUE).x > 0);
        CREATE DOMAIN dh AS hstore;
        CREATE DOMAIN dts AS timestamptz;
        CREATE DOMAIN dints AS int[];
        CREATE DOMAIN dflag AS bool;
        CREATE TABLE d (id int PRIMARY KEY, s sf_id, m money3, arr money2[], dp dpair,
                        dps dpair[], h dh, ts dts, di dints, f dflag, m3s money3[]);
        INSERT INTO d VALUES (1,'abc',1.50,'{1.00,2.00}','(1,"a b")','{"(2,)",NULL}',
            'k=>v','2024-01-01 00:00+00','{{1,2},{3,4}}',true,'{3.00}'),
            (2,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,false,'{}');
    )SQL");
    CHECK(s.compare_with_to_json("d") == 2);
    CHECK(s.compare_with_to_json("d", ValueOptions{true},
                                 "SELECT to_json(x)::text FROM (SELECT id, s, m::text AS m, "
                                 "arr::text[] AS arr, dp, dps, h, ts, di, f, m3s::text[] AS m3s "
                                 "FROM d ORDER BY 1) x") == 2);
    const auto& money3 = s.catalog().get(uint32_t(std::stoul(s.conn().query_value(
        "SELECT " + quote_literal(s.schema() + ".money3") + "::regtype::oid"))));
    CHECK(money3.name == "money3");
    CHECK(money3.is_domain());
    CHECK(money3.kind == JsonKind::Number);
    CHECK(money3.resolved->name == "numeric");
}

TEST_CASE("to_json equivalence: T15 composites and hstore", "[to_json]") {
    Scratch s("tojson_t15");
    s.ensure_hstore();
    s.conn().exec(R"SQL(
        CREATE TYPE addr AS (street text, zip text);
        CREATE TABLE c (id int PRIMARY KEY, a addr, h hstore);
        INSERT INTO c VALUES (1, ROW('1 "Main", St', NULL), 'a=>1, "b c"=>NULL'),
            (2, ROW('', ''), ''), (3, ROW(NULL, NULL), NULL),
            (4, ROW(E'back\\slash (paren) {brace}', E'tab\t"'),
                hstore(ARRAY[E'q"k\\', E'nl\n', 'NULL', 'ü'], ARRAY['v"\', NULL, 'NULL', '😀']));
        CREATE TYPE "We""ird" AS ("a b" int, "c""d" addr, "é" text[], "select" jsonb);
        CREATE TYPE rich AS (n numeric, b bool, ts timestamptz, d date, j json, h hstore,
                             r int4range, w "We""ird", ws "We""ird"[], f float4, i8 int8);
        CREATE TYPE dropped AS (a int, gone text, c text);
        ALTER TYPE dropped DROP ATTRIBUTE gone;
        CREATE TYPE zero AS ();
        CREATE TABLE c2 (id int PRIMARY KEY, r rich, rs rich[], dr dropped, z zero, w "We""ird");
        INSERT INTO c2 VALUES
            (1, ROW('NaN', true, '2024-01-01 00:00+00', '0001-01-01 BC', '{"x" : [1, "("]}',
                    'a=>"(b,c)"', '[1,2)', ROW(1, ROW('x,y', '"'), ARRAY['a', NULL, '"'],
                    '{"k": null}'), ARRAY[ROW(NULL, NULL, '{}', NULL)::"We""ird", NULL],
                    '-Infinity', 9223372036854775807),
             ARRAY[ROW(1.5, false, 'infinity', NULL, 'null', '', 'empty', NULL, '{}', 1e-5, -1)::rich,
                   NULL], ROW(1, 'c'), ROW(), ROW(NULL, NULL, NULL, NULL)),
            (2, NULL, '{}', ROW(NULL, NULL), NULL, ROW(0, ROW(NULL, NULL), '{}', '[]'));
    )SQL");
    CHECK(s.compare_with_to_json("c") == 4);
    CHECK(s.compare_with_to_json("c2") == 2);
}

TEST_CASE("to_json equivalence: T16 generated columns and T17 hostile identifiers", "[to_json]") {
    Scratch s("tojson_t16");
    s.conn().exec(R"SQL(
        CREATE TABLE g (id int PRIMARY KEY, cm numeric,
                        inch numeric GENERATED ALWAYS AS (cm/2.54) STORED);
        INSERT INTO g VALUES (1, 254); UPDATE g SET cm = 508 WHERE id = 1;
        CREATE TABLE "Tab""le" ("Id" int PRIMARY KEY, "naïve col" text, "a.b" text, " lead" text,
                                "select" int, U&"tab\0009col" text, "back\slash" text,
                                "{""json"":1}" text, "😀" int);
        INSERT INTO "Tab""le" VALUES (1,'x','y','z',2,'t','b','j',3);
    )SQL");
    CHECK(s.compare_with_to_json("g") == 1);
    CHECK(s.compare_with_to_json("Tab\"le") == 1);
}

TEST_CASE("to_json equivalence: text with every control character and Unicode", "[to_json]") {
    Scratch s("tojson_text");
    s.conn().exec(R"SQL(
        CREATE TABLE tx (id int PRIMARY KEY, t text, ta text[]);
        INSERT INTO tx SELECT c, chr(c) || 'x' || chr(c) || repeat(chr(c), c % 9),
                              ARRAY[chr(c), 'a' || chr(c) || 'b']
                         FROM generate_series(1, 127) c;
        INSERT INTO tx VALUES (1000, 'naïve € 😀 ' || chr(2047) || chr(65535) || chr(1114111),
                               ARRAY['😀', '€']),
            (1001, repeat(E'\\"/\b\f\n\r\t', 100), NULL), (1002, '', '{""}');
    )SQL");
    CHECK(s.compare_with_to_json("tx") == 130);
}

TEST_CASE("to_json equivalence: randomly generated rows over many types", "[to_json]") {
    Scratch s("tojson_random");
    s.ensure_hstore();
    s.conn().exec(R"SQL(
        CREATE TYPE item AS (name text, qty int, price numeric, at timestamptz, tags text[]);
        CREATE TYPE color AS ENUM ('red', 'green', 'blue "sky"');
        SELECT setseed(0.4242);
        CREATE TABLE rnd AS
        SELECT g AS id,
          CASE WHEN random() < 0.1 THEN NULL ELSE (random() * 4e9 - 2e9)::int END AS i4,
          ((random() - 0.5) * 1.8e19)::numeric::int8 AS i8,
          CASE WHEN random() < 0.05 THEN 'NaN'::float8
               ELSE (random() - 0.5) * 10 ^ (random() * 600 - 300) END AS f8,
          ((random() - 0.5) * 10 ^ (random() * 70 - 35))::float4 AS f4,
          round(((random() - 0.5) * 10 ^ (random() * 30))::numeric, (random() * 12)::int) AS n,
          random() < 0.5 AS b,
          (SELECT string_agg(chr((1 + random() * 700 + k * 0)::int), '')
             FROM generate_series(0, (random() * 20 + g * 0)::int) k) AS t,
          timestamp '0100-01-01' + random() * interval '3000 years' AS ts,
          CASE WHEN random() < 0.05 THEN '-infinity'::timestamptz
               ELSE timestamptz '1800-01-01 00:00+00' + random() * interval '400 years' END AS tz,
          date '2000-01-01' - (random() * 1000000)::int AS d,
          ARRAY(SELECT CASE WHEN random() < 0.2 THEN NULL
                            ELSE substr(E'a,b"c\\{}() NULL\t;x', (1 + random() * 17)::int,
                                        (random() * 6)::int) END
                  FROM generate_series(1, (random() * 5 + g * 0)::int)) AS ta,
          ROW(md5(g::text) || '"(', g % 7, (random() * 100)::numeric(8,2),
              timestamptz '2024-01-01 00:00+00' + g * interval '1 hour',
              ARRAY['x' || g, NULL])::item AS it,
          jsonb_build_object('k', g, 's', md5(g::text), 'a', jsonb_build_array(random() < 0.5, NULL))
              AS jb,
          ('{"a" : ' || g || ', "b":"' || g % 3 || '"}')::json AS j,
          hstore(ARRAY['k' || g, 'v "' || g % 5], ARRAY[md5(g::text), NULL]) AS h,
          make_interval(0, 0, 0, (random() * 100)::int, 0, 0, random() * 1000) AS iv,
          decode(md5(g::text), 'hex') AS by,
          (ARRAY['red', 'green', 'blue "sky"'])[1 + g % 3]::color AS col,
          int4range((random() * 10)::int, (10 + random() * 10)::int) AS rg,
          ARRAY[[g, g + 1], [NULL, g * 2]] AS m2
        FROM generate_series(1, 400) g;
    )SQL");
    CHECK(s.compare_with_to_json("rnd") == 400);
    // With numbers as strings: int8 and numeric (also the field of the composite) as text.
    s.conn().exec("CREATE TYPE item_s AS (name text, qty int, price text, at timestamptz, "
                  "tags text[])");
    CHECK(s.compare_with_to_json(
              "rnd", ValueOptions{true},
              "SELECT to_json(x)::text FROM (SELECT id, i4, i8::text AS i8, f8, f4, n::text AS n, "
              "b, t, ts, tz, d, ta, ROW((it).name, (it).qty, (it).price::text, (it).at, "
              "(it).tags)::item_s AS it, jb, j, h, iv, by, col, rg, m2 FROM rnd ORDER BY 1) x") ==
          400);
}

TEST_CASE("TypeCatalog::load follows elements, domain bases and fields, and names a bad OID",
          "[to_json]") {
    Scratch s("tojson_catalog");
    s.ensure_hstore();
    s.conn().exec(R"SQL(
        CREATE TYPE inner_t AS (h hstore, n numeric);
        CREATE DOMAIN dinner AS inner_t;
        CREATE TYPE outer_t AS (x dinner[], y int8);
    )SQL");
    uint32_t outer = uint32_t(std::stoul(s.conn().query_value(
        "SELECT " + quote_literal(s.schema() + ".outer_t") + "::regtype::oid")));
    TypeCatalog catalog;
    catalog.load(s.conn(), {outer});
    const auto& type = catalog.get(outer);
    REQUIRE(type.kind == JsonKind::Composite);
    REQUIRE(type.fields.size() == 2);
    const auto& element = *type.fields[0].type->element; // dinner[] -> dinner -> inner_t
    CHECK(element.name == "inner_t");
    CHECK(element.fields[0].type->kind == JsonKind::Hstore);
    CHECK(element.fields[1].type->is_wide_number());
    CHECK(type.fields[1].type->number == pgsync::pg::NumberType::Int8);
    size_t loaded = catalog.size();
    REQUIRE(catalog.find(23) == nullptr);
    catalog.load(s.conn(), {outer, 23}); // outer_t is known: only int4 is new
    CHECK(catalog.size() == loaded + 1);
    CHECK_THROWS_WITH(catalog.load(s.conn(), {4000000000u}),
                      Catch::Contains("type with OID 4000000000 does not exist"));
}

TEST_CASE("user types with their own cast to json map as text", "[to_json]") {
    // to_json() calls such a cast, which pgsync cannot run client-side: the value is written as
    // its text output instead, and TypeInfo::has_json_cast says so.
    Scratch s("tojson_cast");
    s.conn().exec(R"SQL(
        CREATE TYPE pt AS ENUM ('a', 'b');
        CREATE FUNCTION pt_json(pt) RETURNS json LANGUAGE sql IMMUTABLE
            AS $$ SELECT json_build_object('pt', $1::text) $$;
        CREATE CAST (pt AS json) WITH FUNCTION pt_json(pt);
    )SQL");
    uint32_t oid = uint32_t(std::stoul(
        s.conn().query_value("SELECT " + quote_literal(s.schema() + ".pt") + "::regtype::oid")));
    TypeCatalog catalog;
    catalog.load(s.conn(), {oid});
    CHECK(catalog.get(oid).has_json_cast);
    CHECK(catalog.get(oid).kind == JsonKind::Text);
    CHECK(s.conn().query_value("SELECT to_json('a'::" + quote_ident(s.schema()) + ".pt)::text") ==
          R"({"pt" : "a"})");
    std::string out;
    ValueWriter(catalog).append(out, oid, "a");
    CHECK(out == "\"a\"");
}
