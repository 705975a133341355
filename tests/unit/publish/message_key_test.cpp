// MessageKey: Nats-Msg-Id text from the log offsets of native records, the same every time the
// same records are read, apart for relation records that share an offset (rank) and for the copies
// a record sent to several channels gets; parsed back and ordered as the input is.
#include "changelog/log_offset.h"
#include "publish/message_key.h"
#include "record/record_scan.h"

#include <catch2/catch.hpp>

using namespace pgsync;
using namespace pgsync::publish;

namespace {

const std::vector<std::string> kLines = {
    R"({"op":"begin","xid":9,"commit_lsn":"0/100","commit_time":"x"})",
    R"({"op":"relation","xid":9,"commit_lsn":"0/100","schema":"s","table":"a","columns":[]})",
    R"({"op":"insert","xid":9,"commit_lsn":"0/100","lsn":"0/90","seq":0,"schema":"s","table":"a","new":{}})",
    R"({"op":"relation","xid":9,"commit_lsn":"0/100","schema":"s","table":"b","columns":[]})",
    R"({"op":"relation","xid":9,"commit_lsn":"0/100","schema":"s","table":"c","columns":[]})",
    R"({"op":"truncate","xid":9,"commit_lsn":"0/100","lsn":"0/98","seq":1,"relations":[]})",
    R"({"op":"commit","xid":9,"commit_lsn":"0/100","end_lsn":"0/110","commit_time":"x"})",
    R"({"op":"message","lsn":"1/20","transactional":false,"prefix":"p","content":""})",
};

// The canonical message id of every line, numbered as pgsync-publish numbers them.
std::vector<std::string> message_ids(const std::vector<std::string>& lines) {
    serve::OffsetTracker tracker;
    record::ScannedRecord record;
    std::vector<std::string> out;
    for (const auto& line : lines) {
        REQUIRE(record::scan_record(line, record));
        MessageKey key;
        REQUIRE(tracker.next(record, key.offset, key.rank));
        out.push_back(key.message_id());
    }
    return out;
}

} // namespace

TEST_CASE("message ids follow the log offsets, relation records sharing one told apart by rank, "
          "and are the same on every read",
          "[publish]") {
    const std::vector<std::string> expected = {
        "0/100:0:0", // begin
        "0/100:1:0", // the relation before seq 0
        "0/100:2:0", // the row with seq 0
        "0/100:3:0", // two relation records before seq 1 (a truncate of two tables)
        "0/100:3:1",
        "0/100:4:0", // the truncate, seq 1
        "0/100:5:0", // the commit after two seq'd records
        "1/20:0:0",  // a non-transactional message: its own lsn and op 0
    };
    CHECK(message_ids(kLines) == expected);
    // A restart of pgsync-stream resends the same records: the same ids, for JetStream to drop.
    CHECK(message_ids(kLines) == expected);
}

TEST_CASE("a copy's message id is the canonical one with :copy appended", "[publish]") {
    MessageKey key{{Lsn(0x1'0000'0100), 4}, 0, 0};
    CHECK(key.message_id() == "1/100:4:0");
    key.copy = 1;
    CHECK(key.message_id() == "1/100:4:0:1");
    key.copy = 12;
    key.rank = 2;
    CHECK(key.message_id() == "1/100:4:2:12");
}

TEST_CASE("MessageKey::parse reads back what message_id writes and nothing else", "[publish]") {
    for (const MessageKey& key :
         {MessageKey{{Lsn(0x100), 0}, 0, 0}, MessageKey{{Lsn(0x100), 3}, 1, 0},
          MessageKey{{Lsn(0xFFFF'FFFF'0000'0001), 99}, 0, 7}}) {
        INFO(key.message_id());
        auto parsed = MessageKey::parse(key.message_id());
        REQUIRE(parsed);
        CHECK(*parsed == key);
    }
    for (const char* bad : {"", "0/100", "0/100:1", "0/100:1:", "0/100::0", "x:1:0", "0/100:1:0:",
                            "0/100:1:0:1:2", "0/100:-1:0", "0/100:1:a", "0/100:1:0:x"}) {
        INFO(bad);
        CHECK_FALSE(MessageKey::parse(bad));
    }
}

TEST_CASE("keys order as the input: offset, then rank, then copy", "[publish]") {
    const MessageKey begin{{Lsn(0x100), 0}, 0, 0};
    const MessageKey relation{{Lsn(0x100), 3}, 0, 0};
    const MessageKey second_relation{{Lsn(0x100), 3}, 1, 0};
    const MessageKey row{{Lsn(0x100), 4}, 0, 0};
    const MessageKey row_copy{{Lsn(0x100), 4}, 0, 1};
    const MessageKey next_transaction{{Lsn(0x200), 0}, 0, 0};
    CHECK(begin < relation);
    CHECK(relation < second_relation);
    CHECK(second_relation < row);
    CHECK(row < row_copy);
    CHECK(row_copy < next_transaction);
}
