// AckProgress: a transaction is settled only once every message up to its last one was acked,
// whatever order the acks arrive in, and never past a failed message.
#include "publish/ack_progress.h"

#include <catch2/catch.hpp>

using namespace pgsync;
using namespace pgsync::publish;
using namespace std::chrono_literals;

namespace {

// Publishes count messages numbered from next, as the publisher does.
void publish_messages(AckProgress& progress, uint64_t& next, int count) {
    for (int i = 0; i < count; ++i)
        progress.published(next++, MessageKey{}, AckProgress::Clock::now());
}

} // namespace

TEST_CASE("a transaction settles once every message up to its last is acked", "[publish]") {
    AckProgress progress;
    uint64_t next = 0;
    publish_messages(progress, next, 3); // transaction A: 0, 1, 2
    progress.transaction_end(next, Lsn(0x110));
    publish_messages(progress, next, 2); // transaction B: 3, 4
    progress.transaction_end(next, Lsn(0x210));
    CHECK_FALSE(progress.take_settled());
    CHECK(progress.in_flight() == 5);

    progress.acked(0);
    progress.acked(1);
    CHECK_FALSE(progress.take_settled());
    progress.acked(2);
    CHECK(progress.take_settled() == Lsn(0x110));
    CHECK_FALSE(progress.take_settled()); // reported once
    progress.acked(3);
    progress.acked(4);
    CHECK(progress.take_settled() == Lsn(0x210));
    CHECK(progress.in_flight() == 0);
    CHECK(progress.wait_drained(0ms));
}

TEST_CASE("acks out of order settle nothing until the gap before them is acked", "[publish]") {
    AckProgress progress;
    uint64_t next = 0;
    publish_messages(progress, next, 2);
    progress.transaction_end(next, Lsn(0x110));
    publish_messages(progress, next, 2);
    progress.transaction_end(next, Lsn(0x210));
    // B's messages and half of A's are acked: neither is settled while message 0 is in flight.
    progress.acked(3);
    progress.acked(2);
    progress.acked(1);
    CHECK_FALSE(progress.take_settled());
    CHECK(progress.in_flight() == 1);
    // The gap closes: both settle at once, reported as the later one (acks are cumulative).
    progress.acked(0);
    CHECK(progress.take_settled() == Lsn(0x210));
    // A second ack of the same message changes nothing.
    progress.acked(0);
    CHECK(progress.in_flight() == 0);
}

TEST_CASE("a transaction ended after its messages were acked settles at its end", "[publish]") {
    AckProgress progress;
    uint64_t next = 0;
    publish_messages(progress, next, 2);
    progress.acked(0);
    progress.acked(1);
    CHECK_FALSE(progress.take_settled()); // its commit is not read yet
    progress.transaction_end(next, Lsn(0x110));
    CHECK(progress.take_settled() == Lsn(0x110));
}

TEST_CASE("a failed message stops progress: nothing at or after it settles", "[publish]") {
    AckProgress progress;
    uint64_t next = 0;
    publish_messages(progress, next, 2);
    progress.transaction_end(next, Lsn(0x110));
    publish_messages(progress, next, 2);
    progress.transaction_end(next, Lsn(0x210));
    publish_messages(progress, next, 1);
    progress.transaction_end(next, Lsn(0x310));
    progress.acked(0);
    progress.acked(1);
    CHECK(progress.take_settled() == Lsn(0x110));
    progress.failed(2, "refused", "a hint");
    progress.failed(3, "second", ""); // only the first failure is kept
    progress.acked(4);
    CHECK_FALSE(progress.take_settled());
    auto failure = progress.failure();
    REQUIRE(failure);
    CHECK(failure->first == "refused");
    CHECK(failure->second == "a hint");
    // Failed messages are complete: nothing is in flight, so the publisher stops waiting.
    CHECK(progress.in_flight() == 0);
    CHECK(progress.wait_drained(0ms));
}
