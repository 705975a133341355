// render_sql quotes every identifier, passes every constant as a cast parameter (never as SQL
// text), numbers parameters from first_param, and adds COLLATE "C" where text order matters.
#include "filter/render_sql.h"
#include "filter_fixture.h"

#include <catch2/catch.hpp>

using namespace filter_test;
using pgsync::filter::render_sql;
using pgsync::filter::SqlFilter;

TEST_CASE("render sql: quoted identifiers and cast parameters", "[filter]") {
    SqlFilter sql =
        render_sql(bound("group_name = $1 AND ts > $2", {"party_chat", "2026-11-19T00:00:00Z"}));
    CHECK(sql.sql == "(\"group_name\" COLLATE \"C\" = $1::text AND \"ts\" > $2::timestamptz)");
    CHECK(sql.params == std::vector<std::string>{"party_chat", "2026-11-19 00:00:00+00"});
}

TEST_CASE("render sql: parameters start at first_param", "[filter]") {
    SqlFilter sql = render_sql(bound("n = 1 OR n IN (2, 3)"), 4);
    CHECK(sql.sql == "(\"n\" = $4::int4 OR \"n\" IN ($5::int4, $6::int4))");
    CHECK(sql.params == std::vector<std::string>{"1", "2", "3"});
}

TEST_CASE("render sql: every text comparison under COLLATE \"C\", equality and IN too",
          "[filter]") {
    CHECK(render_sql(bound("name < 'b'")).sql == "\"name\" COLLATE \"C\" < $1::text");
    CHECK(render_sql(bound("name = 'b'")).sql == "\"name\" COLLATE \"C\" = $1::text");
    CHECK(render_sql(bound("name <> 'b'")).sql == "\"name\" COLLATE \"C\" <> $1::text");
    CHECK(render_sql(bound("name IN ('a', 'b')")).sql ==
          "\"name\" COLLATE \"C\" IN ($1::text, $2::text)");
    CHECK(render_sql(bound("label NOT BETWEEN 'a' AND 'b'")).sql ==
          "\"label\" COLLATE \"C\" NOT BETWEEN $1::text AND $2::text");
    CHECK(render_sql(bound("name NOT ILIKE 'a%'")).sql ==
          "\"name\" COLLATE \"C\" NOT ILIKE $1::text");
    CHECK(render_sql(bound("n BETWEEN 1 AND 2")).sql == "\"n\" BETWEEN $1::int4 AND $2::int4");
}

TEST_CASE("render sql: every type, NULL, NOT, IS NULL and constants", "[filter]") {
    SqlFilter sql = render_sql(
        bound("NOT (flag = 't' AND amount = 1.50 AND ratio > '-inf' AND uid = "
              "'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11' AND day >= '2026-01-02' AND at < "
              "'2026-11-19T10:00:00.5' "
              "AND n < 1.5 AND r4 = 1.1 AND small IS NOT NULL AND name = NULL) OR FALSE"));
    CHECK(sql.sql == "(NOT ((\"flag\" = $1::bool AND \"amount\" = $2::numeric AND \"ratio\" > "
                     "$3::float8 AND \"uid\" = $4::uuid AND \"day\" >= $5::date AND \"at\" < "
                     "$6::timestamp AND \"n\" < $7::numeric AND \"r4\" = $8::float4 AND \"small\" "
                     "IS NOT NULL AND \"name\" COLLATE \"C\" = NULL::text)) OR FALSE)");
    CHECK(sql.params == std::vector<std::string>{
                            "true", "0.15e1", "-Infinity", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
                            "2026-01-02", "2026-11-19 10:00:00.500000", "0.15e1", "1.1"});
}

TEST_CASE("render sql: client text never reaches the SQL", "[filter]") {
    SqlFilter sql =
        render_sql(bound("\"Mixed\" = 'x'' OR 1=1 --' AND name LIKE $1", {"%'; DROP TABLE x; --"}));
    CHECK(sql.sql ==
          "(\"Mixed\" COLLATE \"C\" = $1::text AND \"name\" COLLATE \"C\" LIKE $2::text)");
    CHECK(sql.params == std::vector<std::string>{"x' OR 1=1 --", "%'; DROP TABLE x; --"});
    CHECK(render_sql(bound("obj < 1.5")).sql == "\"obj\"::int8 < $1::numeric");
}
