// evaluate decides like PostgreSQL's WHERE on cells as record/value_json writes them: three-valued
// logic for NULL, Unknown only when an Absent cell decides, exact numeric, PostgreSQL float order,
// byte-order text, LIKE/ILIKE, and time values with any offset.
#include "filter/evaluator.h"
#include "filter_fixture.h"

#include <catch2/catch.hpp>

using namespace filter_test;
using pgsync::filter::evaluate;
using pgsync::filter::Match;

namespace {

Match eval(const std::string& where, const Row& row, const Params& params = {}) {
    return evaluate(bound(where, params), row.cells());
}

} // namespace

TEST_CASE("evaluator: comparisons on integers, including numeric constants", "[filter]") {
    Row row;
    row.json("n", "42").json("id", "9223372036854775807");
    CHECK(eval("n = 42", row) == Match::Yes);
    CHECK(eval("n <> 42", row) == Match::No);
    CHECK(eval("n > 41 AND n < 43 AND n >= 42 AND n <= 42", row) == Match::Yes);
    CHECK(eval("40 < n", row) == Match::Yes);
    CHECK(eval("n = 42.0", row) == Match::Yes);
    CHECK(eval("n = 42.5", row) == Match::No);
    CHECK(eval("n < 42.5", row) == Match::Yes);
    CHECK(eval("n > 41.999999999999999999999", row) == Match::Yes);
    CHECK(eval("id = 9223372036854775807", row) == Match::Yes);
    CHECK(eval("id < 9223372036854775808", row) == Match::Yes);
    // numbers_as_strings writes int8 quoted.
    CHECK(eval("id = '9223372036854775807'", Row().json("id", "\"9223372036854775807\"")) ==
          Match::Yes);
}

TEST_CASE("evaluator: SQL three-valued logic on NULL cells and NULL constants", "[filter]") {
    Row row;
    row.null("n").json("name", "\"x\"");
    CHECK(eval("n = 1", row) == Match::No);
    CHECK(eval("NOT n = 1", row) == Match::No);
    CHECK(eval("n <> 1", row) == Match::No);
    CHECK(eval("n IS NULL", row) == Match::Yes);
    CHECK(eval("n IS NOT NULL", row) == Match::No);
    CHECK(eval("n = 1 OR name = 'x'", row) == Match::Yes);
    CHECK(eval("NOT (n = 1 AND name = 'y')", row) == Match::Yes); // NULL AND FALSE is FALSE
    CHECK(eval("NOT (n = 1 OR name = 'y')", row) == Match::No);   // NULL OR FALSE is NULL
    CHECK(eval("name = NULL", row) == Match::No);
    CHECK(eval("NOT name = NULL", row) == Match::No);
    CHECK(eval("name = $1", row, {std::nullopt}) == Match::No);
    CHECK(eval("name IN ('x', NULL)", row) == Match::Yes);
    CHECK(eval("name IN ('y', NULL)", row) == Match::No);
    CHECK(eval("name NOT IN ('y', NULL)", row) == Match::No);
    CHECK(eval("name NOT IN ('y', 'z')", row) == Match::Yes);
    CHECK(eval("name NOT BETWEEN NULL AND 'a'", row) == Match::Yes); // x > 'a'
    CHECK(eval("name BETWEEN NULL AND 'z'", row) == Match::No);
}

TEST_CASE("evaluator: Unknown only when an absent cell decides the result", "[filter]") {
    Row row;
    row.json("n", "1"); // every other cell Absent
    CHECK(eval("n = 1 OR name = 'b'", row) == Match::Yes);
    CHECK(eval("n = 2 AND name = 'b'", row) == Match::No);
    CHECK(eval("n = 1 AND name = 'b'", row) == Match::Unknown);
    CHECK(eval("n = 2 OR name = 'b'", row) == Match::Unknown);
    CHECK(eval("NOT name = 'b'", row) == Match::Unknown);
    CHECK(eval("name IS NULL", row) == Match::Unknown);
    CHECK(eval("TRUE", row) == Match::Yes);
    CHECK(eval("FALSE OR n = 1", row) == Match::Yes);
}

TEST_CASE("evaluator: numeric compares exactly, NaN above everything", "[filter]") {
    CHECK(eval("amount = 1.5", Row().json("amount", "1.50")) == Match::Yes);
    CHECK(eval("amount = '0001.500'", Row().json("amount", "1.5")) == Match::Yes);
    CHECK(eval("amount > 0.1", Row().json("amount", "0.10000000000000000000000000001")) ==
          Match::Yes);
    CHECK(eval("amount = 1e2", Row().json("amount", "100")) == Match::Yes);
    CHECK(eval("amount < 0", Row().json("amount", "-0.001")) == Match::Yes);
    CHECK(eval("amount = 0", Row().json("amount", "-0.000")) == Match::Yes);
    Row nan;
    nan.json("amount", "\"NaN\"");
    CHECK(eval("amount = 'NaN'", nan) == Match::Yes);
    CHECK(eval("amount > 1e100", nan) == Match::Yes);
    CHECK(eval("amount > 'Infinity'", nan) == Match::Yes);
    CHECK(eval("amount < 'NaN'", Row().json("amount", "\"Infinity\"")) == Match::Yes);
    CHECK(eval("amount < -1e100", Row().json("amount", "\"-Infinity\"")) == Match::Yes);
}

TEST_CASE("evaluator: floats compare as PostgreSQL orders them", "[filter]") {
    CHECK(eval("ratio = 0.1", Row().json("ratio", "0.1")) == Match::Yes);
    CHECK(eval("ratio = 'NaN'", Row().json("ratio", "\"NaN\"")) == Match::Yes);
    CHECK(eval("ratio > 'Infinity'", Row().json("ratio", "\"NaN\"")) == Match::Yes);
    CHECK(eval("ratio < 'NaN'", Row().json("ratio", "\"Infinity\"")) == Match::Yes);
    CHECK(eval("ratio = 0", Row().json("ratio", "-0")) == Match::Yes);
    // A float4 column reads 1.1 as the float nearest 1.1, and so does its constant.
    CHECK(eval("r4 = 1.1", Row().json("r4", "1.1")) == Match::Yes);
    CHECK(eval("r4 = '1.1'", Row().json("r4", "1.1")) == Match::Yes);
}

TEST_CASE("evaluator: text in byte order, JSON escapes undone", "[filter]") {
    Row row;
    row.json("name", "\"a\\\"b\\\\c\\n\\u00e9\"");
    CHECK(eval("name = 'a\"b\\c\n\xc3\xa9'", row) == Match::Yes);
    CHECK(eval("name > 'a'", row) == Match::Yes);
    CHECK(eval("name = 'B'", Row().json("name", "\"b\"")) == Match::No);
    CHECK(eval("name > 'Z'", Row().json("name", "\"a\"")) == Match::Yes); // 'a' (0x61) > 'Z' (0x5a)
    CHECK(eval("name < 'ab'", Row().json("name", "\"a\"")) == Match::Yes);
    CHECK(eval("name > 'z'", Row().json("name", "\"\xc3\xa9\"")) == Match::Yes);
    CHECK(eval("name = '\xf0\x9f\x98\x80'", Row().json("name", "\"\\ud83d\\ude00\"")) ==
          Match::Yes);
}

TEST_CASE("evaluator: LIKE and ILIKE", "[filter]") {
    auto like = [](const std::string& value, const std::string& pattern, bool ilike = false) {
        Row row;
        row.json("name", "\"" + value + "\"");
        return eval(std::string("name ") + (ilike ? "ILIKE" : "LIKE") + " $1", row, {pattern}) ==
               Match::Yes;
    };
    CHECK(like("party_chat", "party%"));
    CHECK(like("party_chat", "%chat"));
    CHECK(like("party_chat", "%y_c%"));
    CHECK_FALSE(like("party_chat", "party"));
    CHECK(like("100%", "100\\%"));
    CHECK_FALSE(like("1000", "100\\%"));
    CHECK(like("a_b", "a\\_b"));
    CHECK_FALSE(like("axb", "a\\_b"));
    CHECK(like("\xc3\xa9", "_")); // _ is one character, not one byte
    CHECK_FALSE(like("\xc3\xa9", "__"));
    CHECK(like("abcabcabd", "%abd"));
    CHECK(like("", "%"));
    CHECK_FALSE(like("", "_"));
    CHECK(like("Party", "party", true));
    CHECK(like("PARTY_chat", "party\\_%", true));
    CHECK_FALSE(like("\xc3\x89", "\xc3\xa9", true)); // É vs é: ASCII folding only
    CHECK(eval("name NOT LIKE 'a%'", Row().json("name", "\"b\"")) == Match::Yes);
}

TEST_CASE("evaluator: uuid, bool, date and timestamps", "[filter]") {
    Row row;
    row.json("uid", "\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\"")
        .json("flag", "true")
        .json("day", "\"2026-11-19\"")
        .json("at", "\"2026-11-19T10:00:00.123456\"")
        .json("ts", "\"2026-11-19T10:00:00.5+00:00\"");
    CHECK(eval("uid = 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'", row) == Match::Yes);
    CHECK(eval("uid > 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a10'", row) == Match::Yes);
    CHECK(eval("flag = true", row) == Match::Yes);
    CHECK(eval("flag = 'yes' AND flag > false", row) == Match::Yes);
    CHECK(eval("day = '2026-11-19' AND day < 'infinity' AND day > '2026-11-18 BC'", row) ==
          Match::Yes);
    CHECK(eval("at = '2026-11-19 10:00:00.123456'", row) == Match::Yes);
    // For timestamp without time zone an offset in the input is ignored, as PostgreSQL does.
    CHECK(eval("at = '2026-11-19 10:00:00.123456+05'", row) == Match::Yes);
    CHECK(eval("ts = '2026-11-19T10:00:00.5Z'", row) == Match::Yes);
    CHECK(eval("ts = '2026-11-19 15:30:00.5+05:30'", row) == Match::Yes);
    CHECK(eval("ts < '2026-11-19 10:00:01'", row) == Match::Yes);
    CHECK(eval("ts = '2026-11-19T11:00:00.5+01:00'",
               Row().json("ts", "\"2026-11-19T10:00:00.5+00:00\"")) == Match::Yes);
    CHECK(eval("ts > '294000-01-01'", Row().json("ts", "\"infinity\"")) == Match::Yes);
    CHECK(eval("ts < '4713-01-01 BC'", Row().json("ts", "\"-infinity\"")) == Match::Yes);
    CHECK(eval("day < '0001-01-01'", Row().json("day", "\"0044-03-15 BC\"")) == Match::Yes);
    // A value that does not read as its type matches neither the condition nor its negation.
    CHECK(eval("n = 1", Row().json("n", "\"garbage\"")) == Match::No);
    CHECK(eval("NOT n = 1", Row().json("n", "\"garbage\"")) == Match::No);
}
