// ChangeLog stores native records durably by offset: it numbers and deduplicates what the stream
// writes, recovers from torn lines and incomplete transactions, rotates and retains whole
// segments, and serves readers from any retained offset while the writer appends.
#include "changelog/change_log.h"
#include "process.h"
#include "util/error.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace pgsync;
using namespace pgsync::serve;
namespace fs = std::filesystem;

namespace {

std::string fresh_dir(const std::string& name) {
    std::string dir = test::test_tmp_dir() + "/change_log/" + name;
    fs::remove_all(dir);
    return dir;
}

ChangeLogOptions options_for(const std::string& dir) {
    ChangeLogOptions options;
    options.dir = dir;
    return options;
}

const LogIdentity kIdentity{"7300000000000000001", "chat", "chat_slot"};

std::string lsn_text(uint64_t value) {
    return Lsn(value).str();
}

std::string txn_head(uint32_t xid, uint64_t commit) {
    return ",\"xid\":" + std::to_string(xid) + ",\"commit_lsn\":\"" + lsn_text(commit) + "\"";
}

std::string begin_line(uint32_t xid, uint64_t commit) {
    return "{\"op\":\"begin\"" + txn_head(xid, commit) +
           ",\"commit_time\":\"2026-11-20T10:00:00.123456Z\"}\n";
}

std::string relation_line(uint32_t xid, uint64_t commit) {
    return "{\"op\":\"relation\"" + txn_head(xid, commit) +
           ",\"schema\":\"public\",\"table\":\"messages\",\"replica_identity\":\"default\","
           "\"columns\":[{\"name\":\"id\",\"type\":\"integer\",\"type_oid\":23,\"key\":true}]}\n";
}

std::string insert_line(uint32_t xid, uint64_t commit, uint32_t seq) {
    return "{\"op\":\"insert\"" + txn_head(xid, commit) + ",\"lsn\":\"" +
           lsn_text(commit - 0x40 + seq) + "\",\"seq\":" + std::to_string(seq) +
           ",\"schema\":\"public\",\"table\":\"messages\",\"new\":{\"id\":" + std::to_string(seq) +
           ",\"body\":\"hello, world\"}}\n";
}

std::string commit_line(uint32_t xid, uint64_t commit) {
    return "{\"op\":\"commit\"" + txn_head(xid, commit) + ",\"end_lsn\":\"" +
           lsn_text(commit + 0x30) + "\",\"commit_time\":\"2026-11-20T10:00:00.123456Z\"}\n";
}

std::string message_line(uint64_t at) {
    return "{\"op\":\"message\",\"lsn\":\"" + lsn_text(at) +
           "\",\"transactional\":false,\"prefix\":\"app\",\"content\":\"ping\"}\n";
}

// Transaction number i: xid 1000+i, committed at 0x10000 + 0x100*i, with a relation record when
// it is the first and `rows` inserts.
uint64_t commit_of(int i) {
    return 0x10000 + 0x100 * uint64_t(i);
}
std::string transaction(int i, uint32_t rows = 2) {
    const uint32_t xid = 1000 + uint32_t(i);
    const uint64_t commit = commit_of(i);
    std::string text = begin_line(xid, commit);
    if (i == 0) text += relation_line(xid, commit);
    for (uint32_t seq = 0; seq < rows; ++seq)
        text += insert_line(xid, commit, seq);
    return text + commit_line(xid, commit);
}

std::vector<LogRecord> read_all(const ChangeLog& log, LogOffset after,
                                std::vector<std::string>* lines = nullptr) {
    auto reader = log.read_after(after);
    REQUIRE(reader);
    std::vector<LogRecord> records;
    LogRecord record;
    while (reader->next(record)) {
        if (lines) lines->emplace_back(record.line);
        record.line = {};
        records.push_back(record);
    }
    return records;
}

std::string joined(const std::vector<std::string>& lines) {
    std::string text;
    for (const auto& line : lines)
        text += line + "\n";
    return text;
}

std::vector<fs::path> segment_files(const std::string& dir) {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir))
        if (entry.path().extension() == ".ndjson") files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    return files;
}

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

std::string cat_segments(const std::string& dir) {
    std::string text;
    for (const auto& path : segment_files(dir))
        text += read_file(path);
    return text;
}

LogOffset at(uint64_t lsn, uint64_t op) {
    return {Lsn(lsn), op};
}

} // namespace

TEST_CASE("change_log: a transaction's records get their offsets and read back exactly",
          "[change_log]") {
    const std::string dir = fresh_dir("offsets");
    auto log = ChangeLog::open(options_for(dir), kIdentity);
    CHECK(log->end().is_zero());
    CHECK(log->start().is_zero());
    std::vector<LogOffset> appended;
    std::vector<uint32_t> xids;
    log->on_append([&](const std::vector<LogRecord>& batch) {
        for (const LogRecord& r : batch) {
            appended.push_back(r.offset);
            xids.push_back(r.xid);
        }
    });
    const std::string text = transaction(0) + message_line(commit_of(0) + 0x50);
    log->writer().write(text);
    log->writer().sync();

    const std::vector<LogOffset> expected = {at(0x10000, 0), at(0x10000, 1), at(0x10000, 2),
                                             at(0x10000, 4), at(0x10000, 5), at(0x10050, 0)};
    CHECK(appended == expected);
    CHECK(xids == std::vector<uint32_t>{1000, 1000, 1000, 1000, 1000, 0});
    CHECK(log->end() == at(0x10050, 0));

    std::vector<std::string> lines;
    auto records = read_all(*log, LogOffset(), &lines);
    REQUIRE(records.size() == 6);
    CHECK(joined(lines) == text);
    CHECK(records[4].commit);
    CHECK_FALSE(records[3].commit);
    // The files hold the records exactly (cat DIR/*.ndjson | jq).
    CHECK(cat_segments(dir) == text);
    REQUIRE(segment_files(dir).size() == 1);
    CHECK(segment_files(dir)[0].filename() == "0000000000010000-0000000000000000.ndjson");

    // Resuming after the first insert gives the second insert on.
    auto after = read_all(*log, at(0x10000, 2));
    REQUIRE(after.size() == 3);
    CHECK(after[0].offset == at(0x10000, 4));
    CHECK(read_all(*log, log->end()).empty());
}

TEST_CASE("change_log: a replayed transaction is appended once", "[change_log]") {
    const std::string dir = fresh_dir("dedupe");
    {
        auto log = ChangeLog::open(options_for(dir), kIdentity);
        log->writer().write(transaction(0) + transaction(1));
        // The stream resent transaction 1 from its begin after a reconnect, mid-way.
        log->writer().write(transaction(1) + transaction(2).substr(0, 150));
        log->writer().write(transaction(2).substr(150) + transaction(2));
        log->writer().sync();
        CHECK(cat_segments(dir) == transaction(0) + transaction(1) + transaction(2));
    }
    // After a restart the slot resends from its confirmed position, before the log's end.
    auto log = ChangeLog::open(options_for(dir), kIdentity);
    CHECK(log->end() == at(commit_of(2), 5));
    size_t appended = 0;
    log->on_append([&](const std::vector<LogRecord>& batch) { appended += batch.size(); });
    log->writer().write(transaction(1) + transaction(2) + transaction(3));
    log->writer().sync();
    CHECK(appended == 4);
    CHECK(cat_segments(dir) == transaction(0) + transaction(1) + transaction(2) + transaction(3));
}

TEST_CASE("change_log: reopening cuts a torn line and an incomplete transaction", "[change_log]") {
    const std::string dir = fresh_dir("recover");
    {
        auto log = ChangeLog::open(options_for(dir), kIdentity);
        log->writer().write(transaction(0) + message_line(commit_of(0) + 0x50));
        log->writer().sync();
    }
    const fs::path segment = segment_files(dir).at(0);
    const std::string whole = read_file(segment);

    SECTION("a torn last line") {
        std::ofstream(segment, std::ios::app) << transaction(1).substr(0, 40);
    }
    SECTION("records after the last commit") {
        std::ofstream(segment, std::ios::app)
            << begin_line(1001, commit_of(1)) << insert_line(1001, commit_of(1), 0);
    }
    SECTION("a transaction and a torn line") {
        std::ofstream(segment, std::ios::app)
            << begin_line(1001, commit_of(1)) << insert_line(1001, commit_of(1), 0).substr(0, 9);
    }
    auto log = ChangeLog::open(options_for(dir), kIdentity);
    CHECK(log->end() == at(commit_of(0) + 0x50, 0));
    CHECK(read_file(segment) == whole);
    // The stream sends the transaction again, whole.
    log->writer().write(transaction(1));
    log->writer().sync();
    std::vector<std::string> lines;
    read_all(*log, LogOffset(), &lines);
    CHECK(joined(lines) == whole + transaction(1));
}

TEST_CASE("change_log: another identity empties the log under a new epoch", "[change_log]") {
    const std::string dir = fresh_dir("identity");
    std::string epoch;
    {
        auto log = ChangeLog::open(options_for(dir), kIdentity);
        epoch = log->epoch();
        CHECK(epoch.size() == 16);
        log->writer().write(transaction(0));
        log->writer().sync();
    }
    {
        auto log = ChangeLog::open(options_for(dir), kIdentity);
        CHECK(log->epoch() == epoch);
        CHECK(log->end() == at(commit_of(0), 5));
    }
    LogIdentity other = kIdentity;
    other.slot = "other_slot";
    auto log = ChangeLog::open(options_for(dir), other);
    CHECK(log->epoch() != epoch);
    CHECK(log->end().is_zero());
    CHECK(read_all(*log, LogOffset()).empty());
    CHECK(segment_files(dir).empty());
    CHECK((fs::status(dir).permissions() & fs::perms::all) == fs::perms::owner_all);
}

TEST_CASE("change_log: a second open of the same directory is refused", "[change_log]") {
    const std::string dir = fresh_dir("lock");
    auto log = ChangeLog::open(options_for(dir), kIdentity);
    try {
        ChangeLog::open(options_for(dir), kIdentity);
        FAIL("opened twice");
    } catch (const Error& e) {
        CHECK(std::string(e.what()) ==
              "storage directory \"" + dir + "\" is in use by another pgsync-serve");
        CHECK_FALSE(e.hint().empty());
    }
    log.reset();
    CHECK(ChangeLog::open(options_for(dir), kIdentity) != nullptr); // released with the first
}

TEST_CASE("change_log: segments rotate at transaction boundaries and read as one log",
          "[change_log]") {
    const std::string dir = fresh_dir("rotate");
    ChangeLogOptions options = options_for(dir);
    options.segment_bytes = 2048;
    std::string all;
    {
        auto log = ChangeLog::open(options, kIdentity);
        for (int i = 0; i < 40; ++i) {
            all += transaction(i, 5);
            log->writer().write(transaction(i, 5));
        }
        log->writer().sync();
    }
    const auto files = segment_files(dir);
    CHECK(files.size() > 5);
    for (const auto& file : files) {
        const std::string text = read_file(file);
        CHECK(text.rfind("{\"op\":\"begin\"", 0) == 0); // whole transactions only
        CHECK(text.ends_with("\"}\n"));
        CHECK(text.find("\"op\":\"commit\"", text.size() - 200) != std::string::npos);
    }
    CHECK(cat_segments(dir) == all);

    auto log = ChangeLog::open(options, kIdentity);
    std::vector<std::string> lines;
    auto records = read_all(*log, LogOffset(), &lines);
    CHECK(joined(lines) == all);
    for (size_t i = 1; i < records.size(); ++i)
        CHECK(records[i - 1].offset < records[i].offset);
    // From the middle of a later segment.
    auto from = read_all(*log, at(commit_of(25), 6));
    REQUIRE_FALSE(from.empty());
    CHECK(from[0].offset == at(commit_of(25), 8));
    CHECK(from.size() == 3 + 14 * 7);
    // Beyond the end (a client saw records the log had not synced): skips until offsets pass it.
    auto reader = log->read_after(at(commit_of(41), 4));
    REQUIRE(reader);
    LogRecord record;
    CHECK_FALSE(reader->next(record));
    log->writer().write(transaction(40) + transaction(41) + transaction(42));
    REQUIRE(reader->next(record));
    CHECK(record.offset == at(commit_of(41), 5));
}

TEST_CASE("change_log: the sparse index finds records deep in a large segment", "[change_log]") {
    const std::string dir = fresh_dir("index");
    auto log = ChangeLog::open(options_for(dir), kIdentity);
    std::string text;
    for (int i = 0; i < 300; ++i)
        text += transaction(i, 10);
    log->writer().write(text);
    REQUIRE(text.size() > 4 * (64 << 10));
    for (int i : {0, 1, 150, 298}) {
        auto records = read_all(*log, at(commit_of(i), 9));
        REQUIRE_FALSE(records.empty());
        CHECK(records[0].offset == at(commit_of(i), 10));
        CHECK(records.size() == size_t(7 + (299 - i) * 12));
    }
    // Reopening rebuilds the index by scanning.
    log.reset();
    log = ChangeLog::open(options_for(dir), kIdentity);
    auto records = read_all(*log, at(commit_of(200), 0));
    REQUIRE_FALSE(records.empty());
    CHECK(records[0].offset == at(commit_of(200), 2));
}

TEST_CASE("change_log: a reader at the end sees records appended later", "[change_log]") {
    const std::string dir = fresh_dir("follow");
    ChangeLogOptions options = options_for(dir);
    options.segment_bytes = 512;
    auto log = ChangeLog::open(options, kIdentity);
    auto reader = log->read_after(LogOffset());
    REQUIRE(reader);
    LogRecord record;
    CHECK_FALSE(reader->next(record)); // an empty log
    log->writer().write(transaction(0));
    REQUIRE(reader->next(record));
    CHECK(record.offset == at(commit_of(0), 0));
    int count = 1;
    while (reader->next(record))
        ++count;
    CHECK(count == 5);
    CHECK(record.commit);
    // Into segments created after the reader reached the end.
    log->writer().write(transaction(1) + transaction(2) + transaction(3));
    CHECK(segment_files(dir).size() >= 3);
    std::vector<LogOffset> seen;
    while (reader->next(record))
        seen.push_back(record.offset);
    CHECK(seen.size() == 12);
    CHECK(seen.front() == at(commit_of(1), 0));
    CHECK(seen.back() == at(commit_of(3), 5));
}

TEST_CASE("change_log: a reader thread sees every record once, in order, while the writer "
          "appends",
          "[change_log]") {
    const std::string dir = fresh_dir("concurrent");
    ChangeLogOptions options = options_for(dir);
    options.segment_bytes = 16 << 10;
    auto log = ChangeLog::open(options, kIdentity);
    constexpr int kTransactions = 1500;
    const LogOffset last = at(commit_of(kTransactions - 1), 7);

    std::atomic<bool> failed{false};
    std::vector<std::string> lines;
    std::vector<LogOffset> offsets;
    std::thread reader_thread([&] {
        auto reader = log->read_after(LogOffset());
        LogRecord record;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        while (std::chrono::steady_clock::now() < deadline) {
            if (!reader->next(record)) {
                std::this_thread::yield();
                continue;
            }
            lines.emplace_back(record.line);
            offsets.push_back(record.offset);
            if (record.offset == last) return;
        }
        failed = true;
    });
    // Chunks of whole lines that end mid-transaction, as the output writer hands them over.
    std::string pending;
    for (int i = 0; i < kTransactions; ++i) {
        pending += transaction(i, 3);
        if (i % 3 == 2) {
            size_t cut = pending.rfind('\n', pending.size() / 2) + 1;
            log->writer().write(std::string_view(pending).substr(0, cut));
            pending.erase(0, cut);
            log->writer().sync();
        }
    }
    log->writer().write(pending);
    log->writer().sync();
    reader_thread.join();
    REQUIRE_FALSE(failed);
    REQUIRE(offsets.size() == size_t(kTransactions) * 5 + 1);
    for (size_t i = 1; i < offsets.size(); ++i)
        REQUIRE(offsets[i - 1] < offsets[i]);
    CHECK(joined(lines) == cat_segments(dir));
    CHECK(segment_files(dir).size() > 10);
}

TEST_CASE("change_log: retention by size drops whole oldest segments", "[change_log]") {
    const std::string dir = fresh_dir("retain_size");
    ChangeLogOptions options = options_for(dir);
    options.segment_bytes = 1024;
    options.retain_bytes = 4096;
    auto log = ChangeLog::open(options, kIdentity);
    auto early = log->read_after(LogOffset());
    LogRecord record;
    for (int i = 0; i < 60; ++i)
        log->writer().write(transaction(i, 3));
    log->writer().sync();
    CHECK(log->size_bytes() <= options.retain_bytes + 2 * options.segment_bytes);
    const LogOffset start = log->start();
    CHECK(start > at(commit_of(10), 0));
    CHECK(start.op == 7); // a commit: segments end at transaction boundaries
    CHECK_FALSE(log->read_after(LogOffset()));
    CHECK_FALSE(log->read_after(at(start.lsn.value(), start.op - 1)));
    auto records = read_all(*log, start);
    REQUIRE_FALSE(records.empty());
    CHECK(records[0].offset == at(start.lsn.value() + 0x100, 0));
    CHECK(records.back().offset == at(commit_of(59), 7));
    // The early reader had not opened the first segment: it finds its records gone.
    CHECK_FALSE(early->next(record));
    CHECK(early->expired());
    // The new start survives a restart.
    log.reset();
    log = ChangeLog::open(options, kIdentity);
    CHECK(log->start() == start);
    CHECK_FALSE(log->read_after(LogOffset()));
}

TEST_CASE("change_log: retention by age drops segments whose last write is too old",
          "[change_log]") {
    const std::string dir = fresh_dir("retain_age");
    ChangeLogOptions options = options_for(dir);
    options.segment_bytes = 1024;
    options.retain_age = std::chrono::hours(1);
    auto log = ChangeLog::open(options, kIdentity);
    for (int i = 0; i < 20; ++i)
        log->writer().write(transaction(i, 3));
    log->writer().sync();
    const size_t files = segment_files(dir).size();
    REQUIRE(files > 3);
    const auto now = std::chrono::system_clock::now();
    CHECK(log->enforce_retention(now) == 0);
    CHECK(log->start().is_zero());
    CHECK(log->enforce_retention(now + std::chrono::hours(2)) == files - 1);
    CHECK(segment_files(dir).size() == 1);
    CHECK_FALSE(log->read_after(LogOffset()));
    const LogOffset start = log->start();
    auto records = read_all(*log, start);
    REQUIRE_FALSE(records.empty());
    CHECK(records[0].offset > start);
    CHECK(records.back().offset == at(commit_of(19), 7));
}

TEST_CASE("a given epoch (a replica's) is the log's and kept on reopen, and a log of another "
          "epoch is emptied",
          "[change_log][replica]") {
    const std::string dir = fresh_dir("given_epoch");
    ChangeLogOptions options = options_for(dir);
    options.epoch = "0123456789ABCDEF";
    {
        auto log = ChangeLog::open(options, kIdentity);
        CHECK(log->epoch() == "0123456789ABCDEF");
        log->writer().write(transaction(0));
        log->writer().sync();
    }
    {
        auto log = ChangeLog::open(options, kIdentity);
        CHECK(log->epoch() == "0123456789ABCDEF");
        CHECK(!log->end().is_zero());
    }
    options.epoch = "FEDCBA9876543210";
    auto log = ChangeLog::open(options, kIdentity);
    CHECK(log->epoch() == "FEDCBA9876543210");
    CHECK(log->end().is_zero());
}

TEST_CASE("a log started after an offset refuses readers before it and takes records after it",
          "[change_log][replica]") {
    auto log = ChangeLog::open(options_for(fresh_dir("start_after")), kIdentity);
    const LogOffset start{Lsn(commit_of(3) - 1), std::numeric_limits<uint64_t>::max()};
    log->start_after(start);
    CHECK(log->start() == start);
    log->writer().write(transaction(3));
    log->writer().sync();
    CHECK(!log->read_after(LogOffset{Lsn(commit_of(2)), 5}));
    CHECK(read_all(*log, start).size() == 4); // begin, two inserts, commit
    CHECK_THROWS_AS(log->start_after(start), Error);
}
