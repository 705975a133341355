// LogOffset's text round-trips and refuses anything else; OffsetTracker numbers a transaction's
// records as the log's offsets promise (begin 0, relation 2s+1, seq s 2s+2, commit 2n+1).
#include "changelog/log_offset.h"
#include "record/record_scan.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using namespace pgsync;
using namespace pgsync::serve;

TEST_CASE("log_offset: str and parse round-trip", "[change_log]") {
    LogOffset offset{Lsn(23886648), 4};
    CHECK(offset.str() == "23886648_4");
    CHECK(LogOffset::parse("23886648_4") == offset);
    LogOffset largest{Lsn(UINT64_MAX), UINT64_MAX};
    CHECK(LogOffset::parse(largest.str()) == largest);
    CHECK(LogOffset::parse("0_0")->is_zero());
    CHECK(LogOffset{Lsn(5), 0} < LogOffset{Lsn(5), 1});
    CHECK(LogOffset{Lsn(5), 99} < LogOffset{Lsn(6), 0});
}

TEST_CASE("log_offset: parse refuses junk", "[change_log]") {
    for (const char* bad :
         {"", "_", "1_", "_1", "1", "1__2", "1_2_3", "-1_0", "1_-2", "+1_2", " 1_2", "1_2 ",
          "0x10_1", "1.5_2", "18446744073709551616_0", "a_b", "1/2"}) {
        INFO(bad);
        CHECK_FALSE(LogOffset::parse(bad));
    }
}

TEST_CASE("log_offset: a transaction's records get the documented offsets", "[change_log]") {
    const char* lines[] = {
        R"({"op":"begin","xid":9,"commit_lsn":"0/100","commit_time":"x"})",
        R"({"op":"relation","xid":9,"commit_lsn":"0/100","schema":"s","table":"a","columns":[]})",
        R"({"op":"insert","xid":9,"commit_lsn":"0/100","lsn":"0/90","seq":0,"schema":"s","table":"a","new":{}})",
        R"({"op":"relation","xid":9,"commit_lsn":"0/100","schema":"s","table":"b","columns":[]})",
        R"({"op":"relation","xid":9,"commit_lsn":"0/100","schema":"s","table":"c","columns":[]})",
        R"({"op":"truncate","xid":9,"commit_lsn":"0/100","lsn":"0/98","seq":1,"relations":[]})",
        R"({"op":"message","xid":9,"commit_lsn":"0/100","lsn":"0/99","seq":2,"prefix":"p","content":""})",
        R"({"op":"commit","xid":9,"commit_lsn":"0/100","end_lsn":"0/110","commit_time":"x"})",
        R"({"op":"message","lsn":"0/120","transactional":false,"prefix":"p","content":""})",
        R"({"op":"begin","xid":10,"commit_lsn":"0/200","commit_time":"x"})",
        R"({"op":"commit","xid":10,"commit_lsn":"0/200","end_lsn":"0/210","commit_time":"x"})",
    };
    const std::vector<std::pair<uint64_t, uint32_t>> expected = {
        {0, 0}, {1, 0}, {2, 0}, {3, 0}, {3, 1}, {4, 0}, {6, 0}, {7, 0}, {0, 0}, {0, 0}, {1, 0}};
    const uint64_t lsns[] = {0x100, 0x100, 0x100, 0x100, 0x100, 0x100,
                             0x100, 0x100, 0x120, 0x200, 0x200};
    OffsetTracker tracker;
    record::ScannedRecord record;
    for (size_t i = 0; i < std::size(lines); ++i) {
        INFO(lines[i]);
        REQUIRE(record::scan_record(lines[i], record));
        LogOffset offset;
        uint32_t rank = 99;
        REQUIRE(tracker.next(record, offset, rank));
        CHECK(offset.lsn.value() == lsns[i]);
        CHECK(offset.op == expected[i].first);
        CHECK(rank == expected[i].second);
    }
    CHECK(tracker.at_boundary());

    // A row of another transaction, or outside one, cannot follow.
    REQUIRE(record::scan_record(lines[2], record));
    LogOffset offset;
    uint32_t rank;
    CHECK_FALSE(tracker.next(record, offset, rank));
}
