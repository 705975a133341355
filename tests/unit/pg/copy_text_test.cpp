// COPY text rows split into fields with NULLs and every backslash escape decoded.
#include "pg/copy_text.h"

#include <catch2/catch.hpp>

using pgsync::pg::CopyTextRow;

TEST_CASE("COPY text rows split on tabs and mark backslash-N as NULL", "[copy]") {
    CopyTextRow row;
    REQUIRE(row.parse("1\t\\N\t\tabc\n", 4));
    CHECK(row.value(0) == "1");
    CHECK(row.is_null(1));
    CHECK_FALSE(row.is_null(2));
    CHECK(row.value(2).empty());
    CHECK(row.value(3) == "abc");
}

TEST_CASE("COPY text escapes decode to the original bytes", "[copy]") {
    CopyTextRow row;
    REQUIRE(row.parse("a\\tb\\nc\\\\d\\r\\b\\f\\v\t\\101\\x42\\x4a\\N", 2));
    CHECK(row.value(0) == "a\tb\nc\\d\r\b\f\v");
    CHECK(row.value(1) == "ABJN");
}

TEST_CASE("a field that is backslash-N with more text is not NULL", "[copy]") {
    CopyTextRow row;
    REQUIRE(row.parse("\\\\N\t\\Nx", 2));
    CHECK(row.value(0) == "\\N");
    CHECK_FALSE(row.is_null(1));
    CHECK(row.value(1) == "Nx");
}

TEST_CASE("a row with the wrong number of fields is rejected", "[copy]") {
    CopyTextRow row;
    CHECK_FALSE(row.parse("1\t2\t3", 2));
    CHECK_FALSE(row.parse("1", 2));
    CHECK(row.parse("", 1));
}

TEST_CASE("views into unescaped fields stay valid across many escaped fields", "[copy]") {
    std::string line;
    for (int i = 0; i < 200; ++i)
        line += (i ? "\t" : "") + std::string("x\\ty");
    CopyTextRow row;
    REQUIRE(row.parse(line, 200));
    for (size_t i = 0; i < 200; ++i)
        CHECK(row.value(i) == "x\ty");
}
