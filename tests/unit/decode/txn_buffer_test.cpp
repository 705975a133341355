// TxnBuffer keeps streamed transactions apart, replays each in append order, drops aborted
// transactions and subtransactions (R6, R7), spills past its memory budget with identical replay,
// and closes its spill files on clear().
#include "decode/pgoutput.h"
#include "decode/txn_buffer.h"
#include "golden_messages.h"
#include "util/error.h"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

using pgsync::Error;
using pgsync::decode::TxnBuffer;

namespace {

constexpr uint32_t kTop = 1000;
constexpr uint32_t kOther = 2000;

std::vector<std::string> replayed(TxnBuffer& buffer, uint32_t top_xid) {
    std::vector<std::string> out;
    buffer.replay(top_xid, [&](std::string_view message) { out.emplace_back(message); });
    return out;
}

// A message whose bytes say which one it is, of a size that varies with it.
std::string message(int n) {
    std::string text = "m" + std::to_string(n) + ":";
    text.append(static_cast<size_t>(n * 37 % 300), static_cast<char>('a' + n % 26));
    return text;
}

size_t open_fds() {
    size_t count = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd"))
        ++count;
    return count;
}

// An empty directory for spill files, removed at the end of the test.
struct TempDir {
    std::filesystem::path path;
    TempDir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "txnbuf-XXXXXX").string();
        path = ::mkdtemp(pattern.data());
    }
    ~TempDir() { std::filesystem::remove_all(path); }
};

} // namespace

TEST_CASE("replay yields each transaction's messages in append order while xids interleave",
          "[txn_buffer]") {
    TxnBuffer buffer;
    std::vector<std::string> top, other;
    for (int i = 0; i < 100; ++i) {
        uint32_t xid = i % 3 == 0 ? kOther : kTop;
        buffer.append(xid, xid, message(i));
        (xid == kTop ? top : other).push_back(message(i));
    }
    CHECK(buffer.transaction_count() == 2);
    CHECK(replayed(buffer, kTop) == top);
    CHECK(replayed(buffer, kOther) == other);
    CHECK(replayed(buffer, 9999).empty());
    buffer.erase(kTop);
    CHECK(replayed(buffer, kTop).empty());
    CHECK(replayed(buffer, kOther) == other);
    buffer.erase(kOther);
    CHECK(buffer.empty());
    CHECK(buffer.memory_bytes() == 0);
}

TEST_CASE("Stream Abort with subxid equal to xid drops the whole transaction", "[txn_buffer]") {
    TxnBuffer buffer;
    buffer.append(kTop, kTop, "a");
    buffer.append(kTop, kTop + 1, "b");
    buffer.append(kOther, kOther, "c");
    buffer.abort(kTop, kTop);
    CHECK(replayed(buffer, kTop).empty());
    CHECK(replayed(buffer, kOther) == std::vector<std::string>{"c"});
    buffer.abort(kOther, kOther);
    CHECK(buffer.empty());
    CHECK(buffer.memory_bytes() == 0);
    buffer.abort(kTop, kTop); // an abort of nothing buffered is harmless
}

TEST_CASE("a subtransaction abort drops it and the subtransactions first seen after it only",
          "[txn_buffer]") {
    for (size_t budget : {TxnBuffer::kDefaultMemoryBudget, size_t{0}}) {
        INFO("memory budget " << budget);
        TempDir dir;
        TxnBuffer buffer(budget, dir.path.string());
        buffer.append(kTop, kTop, "top 1");
        buffer.append(kTop, kTop + 1, "released savepoint");    // SAVEPOINT a … RELEASE a
        buffer.append(kTop, kTop + 2, "rolled back");           // SAVEPOINT b
        buffer.append(kTop, kTop + 3, "nested in rolled back"); // SAVEPOINT c inside b
        buffer.append(kTop, kTop, "top 2");
        CHECK(buffer.spilled(kTop) == (budget == 0));
        buffer.abort(kTop, kTop + 2); // ROLLBACK TO b
        CHECK(replayed(buffer, kTop) ==
              std::vector<std::string>{"top 1", "released savepoint", "top 2"});
        // The aborted subtransactions never come back; if bytes did, they are not replayed.
        buffer.append(kTop, kTop + 3, "late");
        buffer.append(kTop, kTop + 4, "after rollback");
        CHECK(replayed(buffer, kTop) ==
              std::vector<std::string>{"top 1", "released savepoint", "top 2", "after rollback"});
        buffer.abort(kTop, kTop + 99); // a subtransaction with nothing buffered
        CHECK(replayed(buffer, kTop).size() == 4);
    }
}

TEST_CASE("R7: 5000 rows, a rolled-back savepoint of 5000 rows, one more row: 5001 replay",
          "[txn_buffer]") {
    for (size_t budget : {TxnBuffer::kDefaultMemoryBudget, size_t{4096}}) {
        INFO("memory budget " << budget);
        TempDir dir;
        TxnBuffer buffer(budget, dir.path.string());
        for (int i = 1; i <= 5000; ++i)
            buffer.append(kTop, kTop, "row " + std::to_string(i));
        for (int i = 5001; i <= 10000; ++i)
            buffer.append(kTop, kTop + 1, "row " + std::to_string(i));
        buffer.abort(kTop, kTop + 1);
        buffer.append(kTop, kTop, "row 10001");
        CHECK(buffer.spilled(kTop) == (budget == 4096));
        auto rows = replayed(buffer, kTop);
        REQUIRE(rows.size() == 5001);
        CHECK(rows.front() == "row 1");
        CHECK(rows[4999] == "row 5000");
        CHECK(rows.back() == "row 10001");
    }
}

TEST_CASE("past a tiny budget transactions spill to disk and replay identically", "[txn_buffer]") {
    TempDir dir;
    TxnBuffer reference;
    TxnBuffer small(2048, dir.path.string());
    std::vector<std::string> big_values = {std::string(70000, 'x'), std::string(5000, 'y')};
    for (int i = 0; i < 3000; ++i) {
        uint32_t xid = kTop + static_cast<uint32_t>(i % 5);
        std::string m = i % 997 == 0 ? big_values[size_t(i) % 2] + std::to_string(i) : message(i);
        reference.append(xid, xid, m);
        small.append(xid, xid, m);
        // At most the budget after each append (the brief allows one message more).
        REQUIRE(small.memory_bytes() <= 2048);
    }
    for (uint32_t xid = kTop; xid < kTop + 5; ++xid) {
        CHECK(small.spilled(xid));
        auto expected = replayed(reference, xid);
        CHECK(expected.size() == 600);
        CHECK(replayed(small, xid) == expected);
        // Appends after a replay still land after what was replayed.
        small.append(xid, xid, "after replay");
        reference.append(xid, xid, "after replay");
        CHECK(replayed(small, xid) == replayed(reference, xid));
    }
    CHECK(reference.memory_bytes() > 2048);
}

TEST_CASE("one message larger than the whole budget is spilled, not kept", "[txn_buffer]") {
    TempDir dir;
    TxnBuffer buffer(1024, dir.path.string());
    std::string huge(300000, 'h');
    buffer.append(kTop, kTop, huge);
    CHECK(buffer.spilled(kTop));
    CHECK(buffer.memory_bytes() <= 1024);
    buffer.append(kTop, kTop, "small");
    buffer.append(kTop, kTop, huge); // bypasses the write buffer
    CHECK(replayed(buffer, kTop) == std::vector<std::string>{huge, "small", huge});
}

TEST_CASE("clear() forgets every transaction and closes the spill files", "[txn_buffer]") {
    TempDir dir;
    size_t before = open_fds();
    TxnBuffer buffer(512, dir.path.string());
    for (int i = 0; i < 400; ++i)
        buffer.append(kTop + uint32_t(i % 4), kTop + uint32_t(i % 4), message(i));
    CHECK(buffer.spilled(kTop));
    CHECK(open_fds() >= before + 4);
    // Spill files are unlinked at once: nothing is visible in the directory.
    CHECK(std::filesystem::is_empty(dir.path));
    buffer.clear();
    CHECK(buffer.empty());
    CHECK(buffer.memory_bytes() == 0);
    CHECK(open_fds() == before);
    CHECK(replayed(buffer, kTop).empty());
}

TEST_CASE("a spill directory that cannot hold files fails naming it, with a hint", "[txn_buffer]") {
    TempDir dir;
    std::string missing = (dir.path / "missing").string();
    TxnBuffer buffer(16, missing);
    try {
        buffer.append(kTop, kTop, std::string(100, 'x'));
        FAIL("no error");
    } catch (const Error& e) {
        CHECK(std::string(e.what()) == "could not create a spill file in spill directory \"" +
                                           missing + "\": No such file or directory");
        CHECK_FALSE(e.hint().empty());
    }
}

TEST_CASE("the spill directory defaults to $TMPDIR, else /tmp", "[txn_buffer]") {
    const char* saved = std::getenv("TMPDIR");
    std::string saved_value = saved ? saved : "";
    ::setenv("TMPDIR", "/var/tmp", 1);
    CHECK(TxnBuffer().spill_directory() == "/var/tmp");
    ::unsetenv("TMPDIR");
    CHECK(TxnBuffer().spill_directory() == "/tmp");
    CHECK(TxnBuffer(1, "/srv/spill").spill_directory() == "/srv/spill");
    if (saved) ::setenv("TMPDIR", saved_value.c_str(), 1);
}

TEST_CASE("golden R7 stream: buffered, aborted and replayed messages give the 1001 rows",
          "[txn_buffer]") {
    using namespace pgsync::decode;
    const auto bytes = pgsync::test::read_golden_messages("v2_stream.bin");
    for (size_t budget : {TxnBuffer::kDefaultMemoryBudget, size_t{1024}}) {
        INFO("memory budget " << budget);
        TempDir dir;
        TxnBuffer buffer(budget, dir.path.string());
        bool in_stream = false;
        uint32_t stream_xid = 0;
        std::vector<std::string> committed;
        for (const std::string& b : bytes) {
            Message message = parse_message(b, in_stream);
            if (auto* start = std::get_if<StreamStart>(&message)) {
                in_stream = true;
                stream_xid = start->xid;
            } else if (std::holds_alternative<StreamStop>(message)) {
                in_stream = false;
            } else if (auto* abort = std::get_if<StreamAbort>(&message)) {
                buffer.abort(abort->xid, abort->subxid);
            } else if (auto* commit = std::get_if<StreamCommit>(&message)) {
                buffer.replay(commit->xid, [&](std::string_view stored) {
                    Message replayed_message = parse_message(stored, true);
                    if (auto* insert = std::get_if<Insert>(&replayed_message))
                        committed.push_back(std::string(insert->new_tuple[0].data) + "=" +
                                            std::string(insert->new_tuple[1].data));
                    else
                        committed.push_back(message_name(stored[0]));
                });
                buffer.erase(commit->xid);
            } else if (in_stream) {
                uint32_t sub = std::visit(
                    [](const auto& m) -> uint32_t {
                        if constexpr (requires { m.xid; })
                            return m.xid;
                        else
                            return 0;
                    },
                    message);
                buffer.append(stream_xid, sub, b);
            }
        }
        CHECK(buffer.empty()); // the whole-transaction abort dropped 0x1FB11
        REQUIRE(committed.size() == 1003);
        CHECK(committed[0] == "Relation");
        CHECK(committed[1] == "1=a");
        CHECK(committed[1000] == "1000=a");
        CHECK(committed[1001] == "Relation"); // resent under the restarted savepoint
        CHECK(committed[1002] == "2001=c");
    }
}
