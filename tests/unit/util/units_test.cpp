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
