// Lsn parses and formats PostgreSQL's "X/X" text and orders positions numerically.
#include "util/lsn.h"

#include <catch2/catch.hpp>

using pgsync::Lsn;

TEST_CASE("Lsn round-trips pg_lsn text", "[lsn]") {
    auto lsn = Lsn::parse("16/B374D848");
    REQUIRE(lsn);
    CHECK(lsn->value() == 0x16B374D848ull);
    CHECK(lsn->str() == "16/B374D848");
    CHECK(Lsn::parse("0/0")->value() == 0);
    CHECK(Lsn(0xFFFFFFFFFFFFFFFFull).str() == "FFFFFFFF/FFFFFFFF");
}

TEST_CASE("Lsn rejects text that is not an LSN", "[lsn]") {
    for (const char* bad :
         {"", "/", "1/", "/1", "12", "1/2/3", "G/1", "1/ 2", "123456789/1", "1/123456789", "-1/2"})
        CHECK_FALSE(Lsn::parse(bad));
}

TEST_CASE("Lsn orders numerically, not as text", "[lsn]") {
    CHECK(*Lsn::parse("0/A") > *Lsn::parse("0/9"));
    CHECK(*Lsn::parse("1/0") > *Lsn::parse("0/FFFFFFFF"));
}

TEST_CASE("Lsn::append_to writes the same text as str() without allocating a string", "[lsn]") {
    for (uint64_t v :
         {0ull, 1ull, 0xABCDEFull, 0x16B374D848ull, 0xFFFFFFFFFFFFFFFFull, 0x100000000ull}) {
        std::string out = "x";
        pgsync::Lsn(v).append_to(out);
        CHECK(out == "x" + pgsync::Lsn(v).str());
    }
}
