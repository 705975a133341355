// bind resolves columns (with "did you mean"), checks types, converts constants as PostgreSQL
// casts unknown literals (with its error wording), resolves $n, and gives equal canonical texts
// to filters of equal meaning.
#include "filter_fixture.h"

#include <catch2/catch.hpp>

using namespace filter_test;
using pgsync::filter::column_type_of;
using pgsync::filter::ColumnType;

TEST_CASE("bound filter: column types map as documented", "[filter]") {
    CHECK(column_type_of(16) == ColumnType::Bool);
    CHECK(column_type_of(20) == ColumnType::Int);
    CHECK(column_type_of(26) == ColumnType::Int);
    CHECK(column_type_of(1700) == ColumnType::Numeric);
    CHECK(column_type_of(700) == ColumnType::Float);
    CHECK(column_type_of(19) == ColumnType::Text);
    CHECK(column_type_of(1043) == ColumnType::Text);
    CHECK(column_type_of(2950) == ColumnType::Uuid);
    CHECK(column_type_of(1184) == ColumnType::TimestampTz);
    CHECK_FALSE(column_type_of(1042)); // bpchar: refused, see bind
    CHECK_FALSE(column_type_of(3802));
}

TEST_CASE("bound filter: unknown columns are named, with a suggestion", "[filter]") {
    CHECK(bind_error("grup_name = 'a'") ==
          "column \"grup_name\" does not exist (did you mean \"group_name\"?)");
    CHECK(bind_error("zzzzzz = 1") == "column \"zzzzzz\" does not exist");
    // Unquoted names fold to lower case; the column "Mixed" needs quotes.
    CHECK(bind_error("Mixed = 'a'") == "column \"mixed\" does not exist (did you mean \"Mixed\"?)");
    CHECK(bound("\"Mixed\" = 'a'").referenced() == std::vector<int>{column_index("Mixed")});
}

TEST_CASE("bound filter: invalid input is refused with PostgreSQL's wording", "[filter]") {
    CHECK(bind_error("n = 'abc'") == "invalid input syntax for type integer: \"abc\"");
    CHECK(bind_error("n = '99999999999'") ==
          "value \"99999999999\" is out of range for type integer");
    CHECK(bind_error("small = '40000'") == "value \"40000\" is out of range for type smallint");
    CHECK(bind_error("flag = 'maybe'") == "invalid input syntax for type boolean: \"maybe\"");
    CHECK(bind_error("amount = '1.2.3'") == "invalid input syntax for type numeric: \"1.2.3\"");
    CHECK(bind_error("ratio = '1e400'") == "\"1e400\" is out of range for type double precision");
    CHECK(bind_error("uid = 'a0eebc99'") == "invalid input syntax for type uuid: \"a0eebc99\"");
    CHECK(bind_error("day = '2026-02-30'") == "date/time field value out of range: \"2026-02-30\"");
    CHECK(bind_error("ts = 'yesterday'") ==
          "invalid input syntax for type timestamp with time zone: \"yesterday\"");
    CHECK(bind_error("name = 5") == "cannot compare column \"name\" of type text with the number 5 "
                                    "(write the value in quotes)");
    CHECK(bind_error("n = true") == "cannot compare column \"n\" of type integer with a boolean");
    CHECK(bind_error("n LIKE '1%'") ==
          "column \"n\" has type integer, but LIKE and ILIKE need a text column");
    CHECK(bind_error("name LIKE 'ab\\'") == "LIKE pattern must not end with escape character");
    CHECK(bind_error("payload = '{}'")
              .starts_with("column \"payload\" of type with OID 3802 "
                           "cannot be used in a filter"));
    CHECK(bind_error("code = 'a'").find("blank-padded") != std::string::npos);
    CHECK(bind_error("name = $1", {std::string("a\xff")}) ==
          "invalid byte sequence for encoding \"UTF8\": 0xff (parameter $1)");
    // IS NULL works on any column type.
    CHECK(bound("payload IS NOT NULL").referenced() == std::vector<int>{column_index("payload")});
}

TEST_CASE("bound filter: parameters are resolved, missing ones are an error", "[filter]") {
    CHECK(bind_error("n = $3", {"1", "2"}) == "there is no parameter $3");
    CHECK(bind_error("n = $1", {"x"}) ==
          "invalid input syntax for type integer: \"x\" (parameter $1)");
    auto parsed = pgsync::filter::parse_where("name = 'a' AND n = $2");
    auto result = pgsync::filter::bind(*parsed.expr, columns(), {"1", "oops"});
    REQUIRE_FALSE(result.ok());
    CHECK(result.error.position == 19);
}

TEST_CASE("bound filter: accepted input forms of each type", "[filter]") {
    for (const char* text : {"t", "TRUE", "tr", "yes", "Y", "on", "1", " false ", "of", "0", "n"})
        CHECK_NOTHROW(bound(std::string("flag = '") + text + "'"));
    CHECK(bind_error("flag = 'o'") == "invalid input syntax for type boolean: \"o\"");
    for (const char* text :
         {"2026-11-19 10:00:00.123456+00", "2026-11-19 10:00:00", "2026-11-19T10:00:00Z",
          "2026-11-19T10:00:00.5+05:30", "2026-11-19", "infinity", "-infinity",
          "0044-03-15 12:00:00 BC", "2026-11-19T10:00-0800"})
        CHECK_NOTHROW(bound(std::string("ts > '") + text + "'"));
    CHECK(bind_error("ts > '2026-11-19 10:00:00.1234567'").find("fractional") != std::string::npos);
    for (const char* text :
         {"{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}", "a0eebc999c0b4ef8bb6d6bb9bd380a11",
          "a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11"})
        CHECK_NOTHROW(bound(std::string("uid = '") + text + "'"));
    for (const char* text : {"NaN", "-Infinity", " 12.50 ", "1e-3", "-0"})
        CHECK_NOTHROW(bound(std::string("amount = '") + text + "'"));
}

TEST_CASE("bound filter: canonical text identifies the meaning", "[filter]") {
    CHECK(bound("n = 5").canonical() == "cmp(\"n\" int = \"5\")");
    CHECK(bound("n = 5 AND name = 'x'").canonical() == bound("name = 'x' AND 5.0 = n").canonical());
    CHECK(bound("(n = 1 AND name = 'a') AND flag = true").canonical() !=
          bound("n = 1 AND name = 'a'").canonical());
    CHECK(bound("amount = 1.50").canonical() == bound("amount = '1.5'").canonical());
    CHECK(bound("ts = '2026-11-19T10:00:00Z'").canonical() ==
          bound("ts = '2026-11-19 11:00:00+01'").canonical());
    CHECK(bound("uid = 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'").canonical() ==
          bound("uid = 'a0eebc999c0b4ef8bb6d6bb9bd380a11'").canonical());
    CHECK(bound("n IN (3, 1, 2, 1)").canonical() == bound("n IN (1, 2, 3)").canonical());
    CHECK(bound("name = $1", {"x"}).canonical() == bound("name = 'x'").canonical());
    CHECK(bound("n = 5").canonical() != bound("n = 6").canonical());
    CHECK(bound("n < 5").canonical() != bound("n <= 5").canonical());
    CHECK(bound("name = 'a'").canonical() != bound("label = 'a'").canonical());
    // a AND (b AND c) flattens to one level.
    CHECK(bound("n = 1 AND (n = 2 AND n = 3)").canonical() ==
          bound("(n = 1 AND n = 2) AND n = 3").canonical());
}

TEST_CASE("bind: LIKE patterns and IN lists have limits, and cost what they scan", "[filter]") {
    using pgsync::filter::evaluation_cost;
    CHECK(bind_error("name LIKE $1", {std::string(1025, 'a')})
              .find("LIKE pattern is too long (1025 bytes, the limit is 1024)") !=
          std::string::npos);
    CHECK_NOTHROW(bound("name LIKE $1", {std::string(1024, 'a')}));
    std::string list;
    for (int i = 0; i < 1001; ++i)
        list += (i ? "," : "") + std::to_string(i);
    CHECK(bind_error("n IN (" + list + ")").find("IN list has 1001 values, the limit is 1000") !=
          std::string::npos);
    CHECK(evaluation_cost(bound("n = 1")) == 1);
    CHECK(evaluation_cost(bound("name LIKE $1", {std::string(1000, 'a')})) ==
          1 + 8 * (1000 / 64 + 1));
    CHECK(evaluation_cost(bound("n IN (1, 2, 3, 4)")) == 3);
}

TEST_CASE("evaluate: IN over a long list finds equal values of every spelling", "[filter]") {
    std::string list;
    for (int i = 0; i < 1000; ++i)
        list += (i ? "," : "") + std::to_string(i * 3);
    auto filter = bound("n IN (" + list + ") OR amount IN (1.5, 2, NULL)");
    auto row = [&](const char* n, const char* amount) {
        std::vector<Cell> cells(columns().size());
        cells[size_t(column_index("n"))] = {Cell::Kind::Json, n};
        cells[size_t(column_index("amount"))] = {Cell::Kind::Json, amount};
        return pgsync::filter::evaluate(filter, cells);
    };
    using pgsync::filter::Match;
    CHECK(row("2997", "0") == Match::Yes);
    CHECK(row("2998", "0") == Match::No);
    CHECK(row("1", "1.50") == Match::Yes);
    CHECK(row("1", "2.0") == Match::Yes);
    CHECK(row("1", "3") == Match::No);
}
