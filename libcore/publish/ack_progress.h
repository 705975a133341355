// AckProgress: which transactions JetStream has stored whole. Messages are numbered in publish
// order; a transaction is settled once every message up to and including its last one was acked,
// so the end_lsn it reports never passes a message that is in flight or failed. It also bounds
// and times what is in flight: the oldest message unacked for longer than the ack timeout is
// overdue. Thread-safe: acks arrive on cnats' thread, the publisher reads on its own.
#pragma once

#include "publish/message_key.h"
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
    using Clock = std::chrono::steady_clock;

    // Message `index` (0, 1, ... in publish order), `key`, was handed to NATS at `at`.
    void published(uint64_t index, const MessageKey& key, Clock::time_point at);
    // A transaction whose last message is the one before `published_count` (every message
    // published so far) ends at end_lsn.
    void transaction_end(uint64_t published_count, Lsn end_lsn);
    // From cnats' thread: message index was stored, or failed with error (then nothing at or
    // after it is ever settled).
    void acked(uint64_t index);
    void failed(uint64_t index, std::string error, std::string hint);
    // A failure that is no one message's (the oldest being overdue): nothing more is settled.
    void fail(std::string error, std::string hint);

    // The end_lsn of the last settled transaction, if it moved since the last call.
    std::optional<Lsn> take_settled();
    // The first failure's message and hint, or nullopt.
    std::optional<std::pair<std::string, std::string>> failure() const;
    uint64_t in_flight() const;
    // The oldest message in flight, when it was published more than ack_timeout ago.
    std::optional<MessageKey> overdue(Clock::duration ack_timeout) const;

    // Returns once fewer than limit messages are in flight, a failure is known, or the oldest
    // in flight is overdue. At the limit it waits until no more than three quarters of limit
    // are in flight, so that the publisher wakes once per batch of acks, not once per ack.
    void wait_for_room(uint64_t limit, Clock::duration ack_timeout);
    // Returns once nothing is in flight (true), or nothing more can settle: the oldest message
    // in flight failed or is overdue (false).
    bool wait_drained(Clock::duration ack_timeout);

private:
    enum class State : uint8_t { InFlight, Acked, Failed };
    struct Message {
        MessageKey key;
        Clock::time_point published;
        State state;
    };
    void advance();                                    // under m_mutex
    bool front_overdue(Clock::duration timeout) const; // under m_mutex

    mutable std::mutex m_mutex;
    std::condition_variable m_changed;
    uint64_t m_base = 0;         // messages below it are all acked
    std::deque<Message> m_state; // from m_base
    uint64_t m_published = 0;    // next index
    uint64_t m_completed = 0;    // acked or failed
    // Acks notify only the waits that can end: the publisher waiting for room (in flight at most
    // m_wake_at), or for the end (nothing in flight, or the oldest message settled).
    uint64_t m_wake_at = 0;
    bool m_wait_room = false, m_wait_drain = false;
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
