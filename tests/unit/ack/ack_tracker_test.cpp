// AckTracker confirms only commit boundaries that are flushed (and acknowledged, with an ack
// file), clamps acknowledgements of unwritten positions, and confirms an idle keepalive's WAL end.
#include "ack/ack_tracker.h"
#include "stderr_capture.h"
#include "util/error.h"

#include <catch2/catch.hpp>
#include <cstdio>
#include <fcntl.h>
#include <string>
#include <unistd.h>

using pgsync::Lsn;
using pgsync::ack::AckMode;
using pgsync::ack::AckTracker;

namespace {

Lsn at(uint64_t value) {
    return Lsn(value);
}

using pgsync::test::StderrCapture;

size_t count(const std::string& haystack, const std::string& needle) {
    size_t n = 0;
    for (size_t at = haystack.find(needle); at != std::string::npos;
         at = haystack.find(needle, at + 1))
        ++n;
    return n;
}

} // namespace

TEST_CASE("flush mode confirms the last flushed commit, not a written one", "[ack]") {
    AckTracker tracker(AckMode::Flush, at(0x100));
    CHECK(tracker.confirmable() == at(0x100));
    tracker.commit_written(at(0x200));
    CHECK(tracker.confirmable() == at(0x100));
    CHECK_FALSE(tracker.idle());
    tracker.flushed();
    CHECK(tracker.confirmable() == at(0x200));
    CHECK(tracker.idle());
    tracker.commit_written(at(0x300));
    tracker.commit_written(at(0x400));
    CHECK(tracker.confirmable() == at(0x200));
    tracker.flushed();
    CHECK(tracker.confirmable() == at(0x400));
}

TEST_CASE("flush mode ignores acknowledgements and keeps no per-commit state", "[ack]") {
    AckTracker tracker(AckMode::Flush);
    for (uint64_t i = 1; i <= 100000; ++i)
        tracker.commit_written(at(i * 0x10));
    CHECK(tracker.unacknowledged_count() == 0);
    tracker.acknowledged(at(0x50));
    CHECK(tracker.confirmable() == Lsn());
    tracker.flushed();
    CHECK(tracker.confirmable() == at(100000 * 0x10));
}

TEST_CASE("an ack between two commits confirms the lower commit", "[ack]") {
    AckTracker tracker(AckMode::Acknowledge, at(0x100));
    tracker.commit_written(at(0x200));
    tracker.commit_written(at(0x300));
    tracker.commit_written(at(0x400));
    tracker.flushed();
    tracker.acknowledged(at(0x2FF)); // e.g. a row's lsn inside the second transaction
    CHECK(tracker.confirmable() == at(0x200));
    tracker.acknowledged(at(0x300));
    CHECK(tracker.confirmable() == at(0x300));
    tracker.acknowledged(at(0x3A0));
    CHECK(tracker.confirmable() == at(0x300));
    CHECK_FALSE(tracker.idle());
    tracker.acknowledged(at(0x400));
    CHECK(tracker.confirmable() == at(0x400));
    CHECK(tracker.idle());
}

TEST_CASE("an ack below the first commit confirms nothing new", "[ack]") {
    AckTracker tracker(AckMode::Acknowledge, at(0x100));
    tracker.commit_written(at(0x200));
    tracker.flushed();
    tracker.acknowledged(at(0x1FF));
    CHECK(tracker.confirmable() == at(0x100));
}

TEST_CASE("ack mode confirms only what is both acknowledged and flushed", "[ack]") {
    AckTracker tracker(AckMode::Acknowledge);
    tracker.commit_written(at(0x200));
    tracker.commit_written(at(0x300));
    tracker.acknowledged(at(0x300));
    CHECK(tracker.confirmable() == Lsn()); // acknowledged, but we never saw the flush
    tracker.flushed();
    CHECK(tracker.confirmable() == at(0x300));

    tracker.commit_written(at(0x400));
    tracker.flushed();
    CHECK(tracker.confirmable() == at(0x300)); // flushed, not acknowledged
    tracker.commit_written(at(0x500));
    tracker.acknowledged(at(0x500));
    CHECK(tracker.confirmable() == at(0x400)); // acked up to 0x500, flushed up to 0x400
    tracker.flushed();
    CHECK(tracker.confirmable() == at(0x500));
}

TEST_CASE("an ack beyond the last written commit is clamped, with one warning per value", "[ack]") {
    AckTracker tracker(AckMode::Acknowledge, at(0x100));
    tracker.commit_written(at(0x200));
    tracker.flushed();
    StderrCapture capture;
    tracker.acknowledged(at(0x900));
    tracker.acknowledged(at(0x900));
    CHECK(tracker.confirmable() == at(0x200));
    CHECK(tracker.last_acknowledged() == at(0x200));

    // The clamped ack does not cover a commit written after it: the consumer has not seen it.
    tracker.commit_written(at(0x300));
    tracker.flushed();
    CHECK(tracker.confirmable() == at(0x200));
    tracker.acknowledged(at(0xA00));
    CHECK(tracker.confirmable() == at(0x300));
    std::string err = capture.text();
    CHECK(count(err, "warning: acknowledged position 0/900 is beyond the last transaction "
                     "written (end_lsn 0/200); counting it as 0/200") == 1);
    CHECK(count(err, "acknowledged position 0/A00") == 1);
    CHECK(count(err, "hint: ") == 2);
}

TEST_CASE("acks arriving out of order never move the position back", "[ack]") {
    AckTracker tracker(AckMode::Acknowledge);
    for (uint64_t lsn : {0x100, 0x200, 0x300, 0x400})
        tracker.commit_written(at(lsn));
    tracker.flushed();
    tracker.acknowledged(at(0x300));
    tracker.acknowledged(at(0x100));
    tracker.acknowledged(at(0x200));
    CHECK(tracker.confirmable() == at(0x300));
    CHECK(tracker.last_acknowledged() == at(0x300));
    CHECK(tracker.unacknowledged_count() == 1);
}

TEST_CASE("commits out of order are a caller bug", "[ack]") {
    AckTracker tracker(AckMode::Acknowledge, at(0x100));
    tracker.commit_written(at(0x200));
    CHECK_THROWS_AS(tracker.commit_written(at(0x200)), pgsync::Error);
    CHECK_THROWS_AS(tracker.commit_written(at(0x150)), pgsync::Error);
}

TEST_CASE("memory is one entry per unacknowledged commit", "[ack]") {
    AckTracker tracker(AckMode::Acknowledge);
    for (uint64_t i = 1; i <= 100000; ++i) {
        tracker.commit_written(at(i * 0x10));
        if (i % 100 == 0) {
            tracker.flushed();
            tracker.acknowledged(at(i * 0x10));
            CHECK(tracker.unacknowledged_count() == 0);
            CHECK(tracker.confirmable() == at(i * 0x10));
        }
    }
    tracker.commit_written(at(0x10 * 100001));
    CHECK(tracker.unacknowledged_count() == 1);
}

TEST_CASE("an idle stream confirms the keepalive's WAL end", "[ack]") {
    for (AckMode mode : {AckMode::Flush, AckMode::Acknowledge}) {
        AckTracker tracker(mode, at(0x100));
        tracker.set_idle_position(at(0x5000));
        CHECK(tracker.confirmable() == at(0x5000));
        tracker.set_idle_position(at(0x4000)); // older: ignored
        CHECK(tracker.confirmable() == at(0x5000));
        tracker.set_idle_position(at(0x6000));
        CHECK(tracker.confirmable() == at(0x6000));
    }
}

TEST_CASE("a keepalive's WAL end waits for every earlier commit to be acknowledged", "[ack]") {
    AckTracker tracker(AckMode::Acknowledge, at(0x100));
    tracker.commit_written(at(0x200));
    tracker.flushed();
    tracker.set_idle_position(at(0x5000));
    CHECK_FALSE(tracker.idle());
    CHECK(tracker.confirmable() == at(0x100));
    tracker.acknowledged(at(0x200));
    CHECK(tracker.idle());
    CHECK(tracker.confirmable() == at(0x5000));

    // A new transaction after the idle position: confirmable stays at the idle position until
    // the new commit is acknowledged, and never goes back to a lower commit.
    tracker.commit_written(at(0x6000));
    tracker.flushed();
    CHECK(tracker.confirmable() == at(0x5000));
    tracker.set_idle_position(at(0x7000)); // not idle: a candidate only
    CHECK(tracker.confirmable() == at(0x5000));
    tracker.acknowledged(at(0x6000));
    CHECK(tracker.confirmable() == at(0x7000));
}

TEST_CASE("in flush mode the keepalive's WAL end waits for the flush", "[ack]") {
    AckTracker tracker(AckMode::Flush, at(0x100));
    tracker.commit_written(at(0x200));
    tracker.set_idle_position(at(0x300));
    CHECK(tracker.confirmable() == at(0x100));
    tracker.flushed();
    CHECK(tracker.confirmable() == at(0x300));
}

TEST_CASE("a keepalive at or before the last written commit adds nothing", "[ack]") {
    AckTracker tracker(AckMode::Acknowledge, at(0x100));
    tracker.commit_written(at(0x200));
    tracker.flushed();
    tracker.set_idle_position(at(0x200));
    tracker.set_idle_position(at(0x180));
    CHECK(tracker.confirmable() == at(0x100));
    tracker.acknowledged(at(0x200));
    CHECK(tracker.confirmable() == at(0x200));
}

TEST_CASE("reset starts again at the new position and keeps the highest ack", "[ack]") {
    AckTracker tracker(AckMode::Acknowledge, at(0x100));
    tracker.commit_written(at(0x200));
    tracker.commit_written(at(0x300));
    tracker.commit_written(at(0x400));
    tracker.acknowledged(at(0x300)); // never flushed-confirmed before the connection dropped
    tracker.set_idle_position(at(0x900));
    CHECK(tracker.confirmable() == at(0x100));

    tracker.reset(at(0x100)); // reconnect at the slot's confirmed position
    CHECK(tracker.confirmable() == at(0x100));
    CHECK(tracker.idle());
    // The server sends the same transactions again; the consumer's earlier ack still covers 0x300.
    tracker.commit_written(at(0x200));
    tracker.commit_written(at(0x300));
    tracker.commit_written(at(0x400));
    tracker.flushed();
    CHECK(tracker.confirmable() == at(0x300));
    CHECK(tracker.unacknowledged_count() == 1);
    tracker.acknowledged(at(0x400));
    CHECK(tracker.confirmable() == at(0x400));
}
