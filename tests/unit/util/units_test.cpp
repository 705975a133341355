// Sizes and durations as flags and pgsync.yaml take them.
#include "util/units.h"

#include <catch2/catch.hpp>

using namespace pgsync;

TEST_CASE("sizes: PostgreSQL's units, base 1024, junk refused", "[util][units]") {
    CHECK(parse_size("0") == 0u);
    CHECK(parse_size("512") == 512u);
    CHECK(parse_size("4kB") == 4096u);
    CHECK(parse_size("64MB") == 64ull << 20);
    CHECK(parse_size("1 GB") == 1ull << 30);
    CHECK(parse_size("2TB") == 2ull << 40);
    CHECK_FALSE(parse_size(""));
    CHECK_FALSE(parse_size("MB"));
    CHECK_FALSE(parse_size("5 parsecs"));
    CHECK_FALSE(parse_size("-1MB"));
    CHECK_FALSE(parse_size("99999999999999999TB"));
}

TEST_CASE("durations: s m h d, a unit is required", "[util][units]") {
    CHECK(parse_duration("30s") == std::chrono::seconds(30));
    CHECK(parse_duration("15m") == std::chrono::seconds(900));
    CHECK(parse_duration("12h") == std::chrono::seconds(43200));
    CHECK(parse_duration("7d") == std::chrono::seconds(604800));
    CHECK_FALSE(parse_duration("7"));
    CHECK_FALSE(parse_duration("7 weeks"));
    CHECK_FALSE(parse_duration("d"));
}

TEST_CASE("millisecond durations: ms besides s m h d, and a bare 0", "[util][units]") {
    CHECK(parse_milliseconds("500ms") == std::chrono::milliseconds(500));
    CHECK(parse_milliseconds("2s") == std::chrono::milliseconds(2000));
    CHECK(parse_milliseconds("1m") == std::chrono::milliseconds(60000));
    CHECK(parse_milliseconds("0") == std::chrono::milliseconds(0));
    CHECK(parse_milliseconds("0s") == std::chrono::milliseconds(0));
    CHECK_FALSE(parse_milliseconds("500"));
    CHECK_FALSE(parse_milliseconds("2 fortnights"));
    CHECK_FALSE(parse_milliseconds("ms"));
    CHECK_FALSE(parse_milliseconds("9999999999999999999d"));
}
