// AckProgress's bound and timeout: at the bound the publisher wakes once a quarter of the window
// is acked, not per ack; the oldest message unacked past the ack timeout is overdue, and ends
// every wait; the end returns as soon as nothing more can settle.
#include "publish/ack_progress.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

using namespace pgsync;
using namespace pgsync::publish;
using namespace std::chrono_literals;

namespace {

MessageKey key_of(uint64_t index) {
    MessageKey key;
    key.offset.lsn = Lsn(0x100 + index);
    return key;
}

void publish_messages(AckProgress& progress, uint64_t& next, int count) {
    for (int i = 0; i < count; ++i, ++next)
        progress.published(next, key_of(next), AckProgress::Clock::now());
}

} // namespace

TEST_CASE("at the bound, wait_for_room returns once three quarters of it are in flight",
          "[publish]") {
    AckProgress progress;
    uint64_t next = 0;
    publish_messages(progress, next, 7);
    const auto start = std::chrono::steady_clock::now();
    progress.wait_for_room(8, 10s); // under the bound: at once
    CHECK(std::chrono::steady_clock::now() - start < 1s);
    publish_messages(progress, next, 1);

    std::atomic<int> acked{0};
    std::thread acker([&] {
        for (uint64_t i = 0; i < 2; ++i) {
            std::this_thread::sleep_for(20ms);
            acked = int(i) + 1;
            progress.acked(i);
        }
    });
    progress.wait_for_room(8, 10s); // 8 in flight: waits until 6 (8 - 8/4)
    CHECK(acked == 2);
    CHECK(progress.in_flight() == 6);
    acker.join();
}

TEST_CASE("the oldest message unacked past the ack timeout is overdue and ends the waits",
          "[publish]") {
    AckProgress progress;
    uint64_t next = 0;
    publish_messages(progress, next, 4);
    CHECK_FALSE(progress.overdue(10s));
    progress.acked(0);
    progress.acked(2);
    const auto start = std::chrono::steady_clock::now();
    progress.wait_for_room(4, 50ms); // 2 in flight, under the bound
    progress.wait_for_room(2, 50ms); // at the bound: message 1 becomes overdue
    CHECK(std::chrono::steady_clock::now() - start >= 50ms);
    CHECK(std::chrono::steady_clock::now() - start < 5s);
    auto overdue = progress.overdue(50ms);
    REQUIRE(overdue);
    CHECK(overdue->message_id() == key_of(1).message_id()); // the oldest, not the last
    CHECK_FALSE(progress.wait_drained(50ms));
    progress.acked(1);
    progress.acked(3);
    CHECK_FALSE(progress.overdue(50ms));
    CHECK(progress.wait_drained(50ms));
}

TEST_CASE("wait_drained returns at once when the oldest message in flight failed", "[publish]") {
    AckProgress progress;
    uint64_t next = 0;
    publish_messages(progress, next, 3);
    progress.transaction_end(next, Lsn(0x110));
    progress.failed(0, "refused", "");
    const auto start = std::chrono::steady_clock::now();
    CHECK_FALSE(progress.wait_drained(10s)); // 1 and 2 can never settle: no reason to wait
    CHECK(std::chrono::steady_clock::now() - start < 1s);
    CHECK_FALSE(progress.take_settled());
    REQUIRE(progress.failure());
}
