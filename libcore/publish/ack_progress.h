// AckProgress: which transactions JetStream has stored whole. Messages are numbered in publish
// order; a transaction is settled once every message up to and including its last one was acked,
// so the end_lsn it reports never passes a message that is in flight or failed. Thread-safe: acks
// arrive on cnats' thread, the publisher reads on its own.
#pragma once

#include "util/lsn.h"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

namespace pgsync::publish {

class AckProgress {
public:
    // Message `index` (0, 1, ... in publish order) was handed to NATS.
    void published(uint64_t index);
    // A transaction whose last message is the one before `published_count` (every message
    // published so far) ends at end_lsn.
    void transaction_end(uint64_t published_count, Lsn end_lsn);
    // From cnats' thread: message index was stored, or failed with error (then nothing at or
    // after it is ever settled).
    void acked(uint64_t index);
    void failed(uint64_t index, std::string error, std::string hint);

    // The end_lsn of the last settled transaction, if it moved since the last call.
    std::optional<Lsn> take_settled();
    // The first failure's message and hint, or nullopt.
    std::optional<std::pair<std::string, std::string>> failure() const;
    uint64_t in_flight() const;
    // Waits until fewer than limit messages are in flight, a failure is known, or timeout.
    void wait_below(uint64_t limit, std::chrono::milliseconds timeout);
    // Waits until nothing is in flight or timeout; false on timeout.
    bool wait_drained(std::chrono::milliseconds timeout);

private:
    void advance(); // under m_mutex

    mutable std::mutex m_mutex;
    std::condition_variable m_changed;
    uint64_t m_base = 0;            // messages below it are all acked
    std::deque<uint8_t> m_state;    // from m_base: 0 in flight, 1 acked
    uint64_t m_published = 0;       // next index
    uint64_t m_completed = 0;       // acked or failed
    struct TransactionEnd {
        uint64_t published_count;
        Lsn end_lsn;
    };
    std::deque<TransactionEnd> m_transactions;
    std::optional<Lsn> m_settled;
    bool m_settled_moved = false;
    std::optional<std::pair<std::string, std::string>> m_failure;
};

} // namespace pgsync::publish
