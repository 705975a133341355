// Catch-up through the SQL decoding functions (issue 9): a backlog read in bounded peeks gives the
// very records the replication protocol gives, resumes after a kill with nothing lost, and hands
// over to the replication protocol without writing anything twice. Tiny --catch-up-batch sizes
// make a backlog of a few MB span many peeks.
#include "pg_test.h"
#include "stream_support.h"
#include "util/lsn.h"

#include <catch2/catch.hpp>
#include <csignal>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

using namespace pgsync;
using namespace pgsync::test;
using nlohmann::json;

namespace {

// A second slot at the same position as the fixture's, so two readers decode the same WAL.
std::string copy_slot(pg::Connection& db, const std::string& slot) {
    const std::string copy = unique_name("slot_copy");
    db.exec_params("SELECT pg_copy_logical_replication_slot($1, $2)", {slot, copy});
    return copy;
}

// Every kind of record the stream writes, spread over a few MB of WAL: large and small
// transactions, a rolled-back one and a rolled-back savepoint, DDL between rows, a truncate, and
// transactional and non-transactional messages.
void write_backlog(pg::Connection& db, const std::string& t) {
    for (int i = 0; i < 12; ++i) {
        const std::string from = std::to_string(i * 1000 + 1), to = std::to_string(i * 1000 + 1000);
        db.exec("INSERT INTO " + t + " SELECT g, repeat('v', 100) FROM generate_series(" + from +
                ", " + to + ") g");
        if (i == 3) db.exec("SELECT pg_logical_emit_message(false, 'catch_up', 'standalone')");
        if (i == 4)
            db.exec("BEGIN; SELECT pg_logical_emit_message(true, 'catch_up', 'in txn'); UPDATE " +
                    t + " SET v = 'u' WHERE id % 7 = 0; COMMIT");
        if (i == 5)
            db.exec("BEGIN; INSERT INTO " + t +
                    " SELECT g, 'gone' FROM generate_series(900001, 905000) g; ROLLBACK");
        if (i == 6)
            db.exec("BEGIN; DELETE FROM " + t + " WHERE id % 5 = 0; SAVEPOINT s; DELETE FROM " + t +
                    " WHERE id % 5 = 1; ROLLBACK TO s; COMMIT");
        if (i == 7) db.exec("ALTER TABLE " + t + " ADD COLUMN extra int DEFAULT 7");
        if (i == 9) db.exec("TRUNCATE " + t);
    }
    db.exec("SELECT pg_logical_emit_message(false, 'catch_up', 'last')");
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        lines.push_back(line);
    return lines;
}

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// The records of a file that a killed writer appended to: a line cut by the kill is left out.
std::vector<json> parse_lenient(const std::string& text) {
    std::vector<json> records;
    for (const std::string& line : lines_of(text)) {
        json record = json::parse(line, nullptr, false);
        if (!record.is_discarded()) records.push_back(std::move(record));
    }
    return records;
}

std::string confirmed_flush(pg::Connection& db, const std::string& slot) {
    return db
        .exec_params("SELECT confirmed_flush_lsn::text FROM pg_replication_slots "
                     "WHERE slot_name = $1",
                     {slot})
        .str(0, 0);
}

} // namespace

TEST_CASE("catch-up over many SQL peeks writes byte for byte what the replication protocol writes",
          "[stream][catch-up]") {
    auto db = connect_test_db();
    const std::string t = unique_name("st_catch");
    db.exec("CREATE TABLE " + t + " (id int PRIMARY KEY, v text)");
    auto f = make_stream_fixture(db, {t});
    const std::string streamed_slot = copy_slot(db, f.slot);
    write_backlog(db, t);

    // A tiny logical_decoding_work_mem makes the server stream the large transactions in chunks
    // to both readers: kept raw while catching up, rendered as they arrive while streaming.
    ProcessOptions small_decoding_memory;
    small_decoding_memory.env["PGOPTIONS"] = "-c logical_decoding_work_mem=64kB";
    auto caught_up =
        stream_to_now(db, f, {"--catch-up-batch", "64kB", "-v"}, small_decoding_memory);
    INFO(caught_up.err);
    REQUIRE(caught_up.exit_code == 0);
    CHECK(caught_up.err.find("catching up on slot") != std::string::npos);
    CHECK(caught_up.err.find("peeking at slot") != std::string::npos);
    auto streamed = stream_to_now(db, {streamed_slot, f.publication}, {"--catch-up-batch", "0"},
                                  small_decoding_memory);
    INFO(streamed.err);
    REQUIRE(streamed.exit_code == 0);
    CHECK(streamed.err.find("catching up") == std::string::npos);
    long stream_txns = 0;
    for (int i = 0; i < 50 && stream_txns == 0; ++i) { // the statistics lag a little
        if (i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
        auto r = db.exec_params("SELECT coalesce(stream_txns, 0) FROM pg_stat_replication_slots "
                                "WHERE slot_name = $1",
                                {streamed_slot});
        if (r.rows()) stream_txns = std::stol(r.str(0, 0));
    }
    CHECK(stream_txns >= 1);

    const auto a = lines_of(caught_up.out), b = lines_of(streamed.out);
    CHECK(a.size() == b.size());
    for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
        INFO("record " << i);
        CHECK(a[i] == b[i]);
        if (a[i] != b[i]) break;
    }
    auto records = parse_ndjson(caught_up.out);
    CHECK(records_of(records, "message").size() == 3);
    CHECK(records_of(records, "truncate").size() == 1);
    // The slot was advanced as far as the output was flushed.
    CHECK(*Lsn::parse(confirmed_flush(db, f.slot)) >=
          *Lsn::parse(records.back()["lsn"].get<std::string>()));
    db.exec_params("SELECT pg_drop_replication_slot($1)", {streamed_slot});
    drop_stream_fixture(db, f);
}

TEST_CASE("catch-up killed mid-backlog resumes from the slot: every commit arrives, in order",
          "[stream][catch-up]") {
    auto db = connect_test_db();
    const std::string t = unique_name("st_catch_kill");
    db.exec("CREATE TABLE " + t + " (id int PRIMARY KEY, v text)");
    auto f = make_stream_fixture(db, {t});
    const std::string start = confirmed_flush(db, f.slot);
    // A backlog long enough that a kill polled every 5 ms lands in its middle even on a fast run
    // (400 transactions were sometimes all written before the first kill).
    constexpr int kTransactions = 2000;
    for (int i = 0; i < kTransactions; ++i)
        db.exec("INSERT INTO " + t + " SELECT g, repeat('k', 200) FROM generate_series(" +
                std::to_string(i * 50 + 1) + ", " + std::to_string(i * 50 + 50) + ") g");
    const std::string end = current_wal_lsn(db);
    const std::string out = test_tmp_dir() + "/" + t + ".ndjson";
    std::remove(out.c_str());

    // Kill -9 once the first peeks have written something, and again a moment later.
    for (int round = 0; round < 2; ++round) {
        LiveProcess stream({tool_path("pgsync-stream"), "-d", test_dsn(), "-S", f.slot, "-P",
                            f.publication, "--endpos", end, "--no-loop", "--catch-up-batch", "64kB",
                            "-o", out});
        // The first kill as soon as the slot has moved (so the catch-up advanced it, and a fast
        // machine has not finished the backlog yet); the second a moment later.
        for (int i = 0; i < 400; ++i) {
            if (round == 0 ? confirmed_flush(db, f.slot) != start
                           : slurp(out).size() >= size_t(400000))
                break;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        stream.signal(SIGKILL);
        stream.wait(10);
    }
    // Killed while catching up: some transactions were written, not all.
    size_t written = 0;
    for (const auto& r : parse_lenient(slurp(out)))
        if (r["op"] == "commit") ++written;
    CHECK(written > 0);
    CHECK(written < size_t(kTransactions));
    CHECK(confirmed_flush(db, f.slot) != start); // the slot advanced during the catch-up
    auto last = run_process({tool_path("pgsync-stream"), "-d", test_dsn(), "-S", f.slot, "-P",
                             f.publication, "--endpos", end, "--no-loop", "--catch-up-batch",
                             "64kB", "-o", out});
    INFO(last.err);
    REQUIRE(last.exit_code == 0);

    // At least once: each committed row is there; a resumed run may repeat whole transactions
    // that were written but not yet confirmed, never part of one, and never goes back further.
    std::set<int> ids;
    std::vector<Lsn> commits;
    for (const auto& r : parse_lenient(slurp(out))) {
        if (r["op"] == "insert") ids.insert(r["new"]["id"].get<int>());
        if (r["op"] == "commit") commits.push_back(*Lsn::parse(r["end_lsn"].get<std::string>()));
    }
    CHECK(ids.size() == size_t(kTransactions) * 50);
    CHECK(*ids.begin() == 1);
    CHECK(*ids.rbegin() == kTransactions * 50);
    std::set<Lsn> distinct(commits.begin(), commits.end());
    CHECK(distinct.size() == size_t(kTransactions));
    int rewinds = 0;
    for (size_t i = 1; i < commits.size(); ++i)
        if (commits[i] <= commits[i - 1]) ++rewinds;
    CHECK(rewinds <= 2); // once per kill at most
    drop_stream_fixture(db, f);
}

TEST_CASE("catch-up hands over to the replication protocol: live commits after it arrive once",
          "[stream][catch-up]") {
    auto db = connect_test_db();
    const std::string t = unique_name("st_catch_live");
    db.exec("CREATE TABLE " + t + " (id int PRIMARY KEY, v text)");
    auto f = make_stream_fixture(db, {t});
    for (int i = 0; i < 40; ++i)
        db.exec("INSERT INTO " + t + " SELECT g, repeat('h', 200) FROM generate_series(" +
                std::to_string(i * 500 + 1) + ", " + std::to_string(i * 500 + 500) + ") g");
    // A non-transactional message last: delivered by the catch-up, it must not come again.
    db.exec("SELECT pg_logical_emit_message(false, 'catch_up', 'handover')");

    LiveProcess stream({tool_path("pgsync-stream"), "-d", test_dsn(), "-S", f.slot, "-P",
                        f.publication, "--catch-up-batch", "64kB"});
    std::vector<std::string> lines;
    auto read_until = [&](const std::string& needle) {
        while (auto line = stream.read_line(60)) {
            lines.push_back(*line);
            if (line->find(needle) != std::string::npos) return true;
        }
        return false;
    };
    REQUIRE(read_until("\"handover\""));
    for (int i = 0;
         i < 200 && stream.err().find("switching to the replication protocol") == std::string::npos;
         ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    INFO(stream.err());
    REQUIRE(stream.err().find("switching to the replication protocol") != std::string::npos);
    for (int i = 0; i < 5; ++i)
        db.exec("INSERT INTO " + t + " VALUES (" + std::to_string(100001 + i) + ", 'live')");
    REQUIRE(read_until("100005"));
    REQUIRE(read_until("\"op\":\"commit\""));
    stream.signal(SIGTERM);
    CHECK(stream.wait(30) == 0);

    std::multiset<int> ids;
    size_t messages = 0;
    for (const auto& line : lines) {
        auto r = json::parse(line);
        if (r["op"] == "insert") ids.insert(r["new"]["id"].get<int>());
        if (r["op"] == "message") ++messages;
    }
    CHECK(ids.size() == 20005);
    CHECK(std::set<int>(ids.begin(), ids.end()).size() == 20005); // nothing twice
    CHECK(messages == 1);
    drop_stream_fixture(db, f);
}
