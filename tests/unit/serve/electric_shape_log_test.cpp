// ShapeLog serves an Electric shape's requests: snapshot chunks one at a time, transactions in
// batches up to a byte budget, strictly after an exclusive offset (0_inf between the two
// regions), as the inside of a JSON array; a reader never sees part of an entry the writer is
// appending, and the file goes with the log.
#include "process.h"
#include "serve/electric/shape_log.h"
#include "serve/electric/shape_request.h"
#include "util/error.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

using namespace pgsync;
using namespace pgsync::serve;
using namespace pgsync::serve::electric;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string fresh_path(const std::string& name) {
    std::string dir = test::test_tmp_dir() + "/electric_shape_log/" + name;
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir + "/shape.log";
}

// An entry of `count` messages numbered from `first`: ",{"n":first},{"n":first+1},...".
std::string entry(int first, int count = 1) {
    std::string out;
    for (int n = first; n < first + count; ++n)
        out += ",{\"n\":" + std::to_string(n) + "}";
    return out;
}

LogOffset chunk(uint64_t k) {
    return {Lsn(0), k};
}

LogOffset at(uint64_t lsn, uint64_t op) {
    return {Lsn(lsn), op};
}

// The slice's messages as the array a response holds.
json as_array(const ShapeLog::Slice& slice) {
    return json::parse("[" + slice.messages + "]");
}

std::vector<int> numbers(const ShapeLog::Slice& slice) {
    std::vector<int> out;
    for (const json& message : as_array(slice))
        out.push_back(message.at("n").get<int>());
    return out;
}

} // namespace

TEST_CASE("electric shape log: read_first returns the first entry alone", "[electric]") {
    ShapeLog log(fresh_path("first"));
    ShapeLog::Slice empty = log.read_first();
    CHECK(empty.entries == 0);
    CHECK(empty.messages.empty());
    CHECK(empty.at_end);

    log.append(chunk(0), Lsn(0), entry(0, 2));
    log.append(chunk(1), Lsn(0), entry(2, 2));
    log.append(at(100, 4), Lsn(100), entry(4));
    ShapeLog::Slice first = log.read_first();
    CHECK(first.entries == 1);
    CHECK(first.end == chunk(0));
    CHECK(first.last_lsn == Lsn(0));
    CHECK_FALSE(first.at_end);
    CHECK(numbers(first) == std::vector<int>{0, 1});
}

TEST_CASE("electric shape log: a snapshot chunk is read alone however large the budget",
          "[electric]") {
    ShapeLog log(fresh_path("chunks"));
    log.append(chunk(0), Lsn(0), entry(0, 3));
    log.append(chunk(1), Lsn(0), entry(3, 3));
    log.append(chunk(2), Lsn(0), entry(6, 1));
    log.append(at(100, 2), Lsn(100), entry(7));

    ShapeLog::Slice second = log.read_after(chunk(0), 1 << 20);
    CHECK(second.entries == 1);
    CHECK(second.end == chunk(1));
    CHECK(second.last_lsn == Lsn(0));
    CHECK_FALSE(second.at_end);
    CHECK(numbers(second) == std::vector<int>{3, 4, 5});

    ShapeLog::Slice third = log.read_after(chunk(1), 1 << 20);
    CHECK(third.entries == 1);
    CHECK(third.end == chunk(2));
    CHECK(numbers(third) == std::vector<int>{6});
    CHECK_FALSE(third.at_end);
}

TEST_CASE("electric shape log: transactions are batched up to the byte budget, at least one",
          "[electric]") {
    ShapeLog log(fresh_path("batches"));
    const std::string a = entry(0, 2), b = entry(2, 1), c = entry(3, 3);
    log.append(at(100, 4), Lsn(100), a);
    log.append(at(200, 2), Lsn(200), b);
    log.append(at(300, 8), Lsn(300), c);
    const LogOffset before = kSnapshotEnd;

    ShapeLog::Slice all = log.read_after(before, 1 << 20);
    CHECK(all.entries == 3);
    CHECK(all.end == at(300, 8));
    CHECK(all.last_lsn == Lsn(300));
    CHECK(all.at_end);
    CHECK(numbers(all) == std::vector<int>{0, 1, 2, 3, 4, 5});

    // Exactly the first two fit.
    ShapeLog::Slice two = log.read_after(before, a.size() + b.size());
    CHECK(two.entries == 2);
    CHECK(two.end == at(200, 2));
    CHECK(two.last_lsn == Lsn(200));
    CHECK_FALSE(two.at_end);
    CHECK(numbers(two) == std::vector<int>{0, 1, 2});

    // One byte short of the second: the first alone.
    ShapeLog::Slice one = log.read_after(before, a.size() + b.size() - 1);
    CHECK(one.entries == 1);
    CHECK(one.end == at(100, 4));
    CHECK(one.last_lsn == Lsn(100));

    // A budget smaller than any entry still returns one.
    ShapeLog::Slice least = log.read_after(at(100, 4), 1);
    CHECK(least.entries == 1);
    CHECK(least.end == at(200, 2));
    CHECK(numbers(least) == std::vector<int>{2});
    least = log.read_after(at(200, 2), 0);
    CHECK(least.entries == 1);
    CHECK(least.end == at(300, 8));
    CHECK(least.at_end);
    CHECK(numbers(least) == std::vector<int>{3, 4, 5});
}

TEST_CASE("electric shape log: a slice is the inside of a JSON array without a leading comma",
          "[electric]") {
    ShapeLog log(fresh_path("array"));
    log.append(chunk(0), Lsn(0), ",{\"key\":\"a,b\",\"value\":{\"x\":\"[,]\"}}");
    log.append(at(100, 0), Lsn(100), entry(0, 2));
    log.append(at(200, 0), Lsn(200), entry(2, 1));

    ShapeLog::Slice first = log.read_first();
    REQUIRE_FALSE(first.messages.empty());
    CHECK(first.messages.front() == '{');
    json chunk_messages = as_array(first);
    REQUIRE(chunk_messages.size() == 1);
    CHECK(chunk_messages[0]["value"]["x"] == "[,]");

    ShapeLog::Slice transactions = log.read_after(chunk(0), 1 << 20);
    CHECK(transactions.messages.front() == '{');
    CHECK(transactions.messages == "{\"n\":0},{\"n\":1},{\"n\":2}");
    CHECK(as_array(transactions).size() == 3);
}

TEST_CASE("electric shape log: reading resumes strictly after an offset between, at or past "
          "the entries",
          "[electric]") {
    ShapeLog log(fresh_path("after"));
    log.append(at(100, 4), Lsn(100), entry(0));
    log.append(at(200, 2), Lsn(200), entry(1));
    log.append(at(300, 8), Lsn(300), entry(2));

    SECTION("between two entries") {
        ShapeLog::Slice slice = log.read_after(at(100, 5), 1 << 20);
        CHECK(numbers(slice) == std::vector<int>{1, 2});
        slice = log.read_after(at(150, 0), 1 << 20);
        CHECK(numbers(slice) == std::vector<int>{1, 2});
        slice = log.read_after(at(299, 99), 1 << 20);
        CHECK(numbers(slice) == std::vector<int>{2});
    }
    SECTION("equal to an entry") {
        ShapeLog::Slice slice = log.read_after(at(200, 2), 1 << 20);
        CHECK(slice.entries == 1);
        CHECK(numbers(slice) == std::vector<int>{2});
        CHECK(slice.end == at(300, 8));
    }
    SECTION("equal to the last entry or past the end") {
        for (LogOffset after : {at(300, 8), at(300, 9), at(1000, 0)}) {
            INFO("after " << after.str());
            ShapeLog::Slice slice = log.read_after(after, 1 << 20);
            CHECK(slice.entries == 0);
            CHECK(slice.at_end);
            CHECK(slice.end == after);
            CHECK(slice.messages.empty());
            CHECK(slice.last_lsn == Lsn(0));
        }
    }
}

TEST_CASE("electric shape log: 0_inf sorts after the snapshot chunks and before every "
          "transaction",
          "[electric]") {
    CHECK(chunk(0) < kSnapshotEnd);
    CHECK(chunk(1000000) < kSnapshotEnd);
    CHECK(kSnapshotEnd < at(1, 0));

    ShapeLog log(fresh_path("snapshot_end"));
    log.append(chunk(0), Lsn(0), entry(0));
    log.append(chunk(1), Lsn(0), entry(1));
    CHECK_FALSE(log.has_after(kSnapshotEnd));
    ShapeLog::Slice none = log.read_after(kSnapshotEnd, 1 << 20);
    CHECK(none.entries == 0);
    CHECK(none.at_end);
    CHECK(none.end == kSnapshotEnd);

    log.append(at(100, 2), Lsn(100), entry(2));
    log.append(at(100, 6), Lsn(100), entry(3));
    CHECK(log.has_after(kSnapshotEnd));
    ShapeLog::Slice live = log.read_after(kSnapshotEnd, 1 << 20);
    CHECK(live.entries == 2);
    CHECK(live.end == at(100, 6));
    CHECK(live.last_lsn == Lsn(100));
    CHECK(live.at_end);
    CHECK(numbers(live) == std::vector<int>{2, 3});
}

TEST_CASE("electric shape log: end, has_after, bytes and entries follow the appends",
          "[electric]") {
    ShapeLog log(fresh_path("counters"));
    CHECK(log.end() == LogOffset{});
    CHECK(log.end().is_zero());
    CHECK_FALSE(log.has_after(LogOffset{}));
    CHECK(log.bytes() == 0);
    CHECK(log.entries() == 0);

    const std::string first = entry(0, 2), second = entry(2, 1), third = entry(3, 1);
    log.append(chunk(0), Lsn(0), first);
    CHECK(log.end() == chunk(0));
    CHECK(log.entries() == 1);
    CHECK(log.bytes() == first.size());
    CHECK_FALSE(log.has_after(chunk(0)));

    log.append(at(100, 2), Lsn(100), second);
    log.append(at(200, 4), Lsn(200), third);
    CHECK(log.end() == at(200, 4));
    CHECK(log.entries() == 3);
    CHECK(log.bytes() == first.size() + second.size() + third.size());
    CHECK(log.has_after(chunk(0)));
    CHECK(log.has_after(kSnapshotEnd));
    CHECK(log.has_after(at(200, 3)));
    CHECK_FALSE(log.has_after(at(200, 4)));
    CHECK_FALSE(log.has_after(at(300, 0)));
}

TEST_CASE("electric shape log: the file starts empty and is removed with the log", "[electric]") {
    const std::string path = fresh_path("file");
    {
        std::ofstream stale(path);
        stale << "left over from an earlier run";
    }
    {
        ShapeLog log(path);
        REQUIRE(fs::exists(path));
        CHECK(fs::file_size(path) == 0);
        CHECK(log.read_first().entries == 0);
        log.append(chunk(0), Lsn(0), entry(0, 3));
        CHECK(fs::file_size(path) == log.bytes());
        CHECK(numbers(log.read_first()) == std::vector<int>{0, 1, 2});
    }
    CHECK_FALSE(fs::exists(path));
}

TEST_CASE("electric shape log: a file that cannot be created is an error naming it", "[electric]") {
    const std::string path = fresh_path("missing_dir") + ".d/no/such/dir/shape.log";
    try {
        ShapeLog log(path);
        FAIL("no error");
    } catch (const Error& e) {
        CHECK_THAT(e.what(), Catch::Contains(path));
    }
}

TEST_CASE("electric shape log: a reader during appends sees whole entries in order", "[electric]") {
    ShapeLog log(fresh_path("concurrent"));
    constexpr int kEntries = 3000;
    // Entry i holds 1 + i % 3 messages; the messages are numbered 0, 1, 2, ... across entries.
    std::vector<int> firsts;
    int next = 0;
    for (int i = 0; i < kEntries; ++i) {
        firsts.push_back(next);
        next += 1 + i % 3;
    }
    const int total = next;
    const LogOffset last = at(1000 + uint64_t(kEntries - 1), 2);

    std::atomic<bool> write_failed{false};
    std::thread writer([&] {
        try {
            for (int i = 0; i < kEntries; ++i)
                log.append(at(1000 + uint64_t(i), 2), Lsn(1000 + uint64_t(i)),
                           entry(firsts[size_t(i)], 1 + i % 3));
        } catch (...) {
            write_failed = true;
        }
    });

    // Assertions are counted, not made, inside the loop: thousands of slices.
    LogOffset after = kSnapshotEnd;
    int expected = 0;
    size_t slices = 0, unparsable = 0, out_of_order = 0, offsets_back = 0, wrong_end = 0;
    while (after != last && !write_failed) {
        ShapeLog::Slice slice = log.read_after(after, 64);
        if (slice.entries == 0) {
            if (slice.end != after) ++wrong_end;
            std::this_thread::yield();
            continue;
        }
        ++slices;
        json messages = json::parse("[" + slice.messages + "]", nullptr, false);
        if (messages.is_discarded()) {
            ++unparsable;
            break;
        }
        for (const json& message : messages)
            if (message.at("n").get<int>() != expected++) ++out_of_order;
        if (!(after < slice.end)) ++offsets_back;
        if (slice.last_lsn != slice.end.lsn) ++wrong_end;
        after = slice.end;
    }
    writer.join();

    REQUIRE_FALSE(write_failed);
    CHECK(unparsable == 0);
    CHECK(out_of_order == 0);
    CHECK(offsets_back == 0);
    CHECK(wrong_end == 0);
    CHECK(expected == total);
    CHECK(after == last);
    CHECK(slices > 0);
    CHECK(log.entries() == size_t(kEntries));
}
