// The contiguous acked prefix of published messages, the transactions it covers, and the waits
// for room and for the end, woken only when they can end.
#include "publish/ack_progress.h"

#include <algorithm>

namespace pgsync::publish {

void AckProgress::published(uint64_t index, const MessageKey& key, Clock::time_point at) {
    std::lock_guard lock(m_mutex);
    m_published = index + 1;
    m_state.push_back({key, at, State::InFlight});
}

void AckProgress::transaction_end(uint64_t published_count, Lsn end_lsn) {
    std::lock_guard lock(m_mutex);
    m_transactions.push_back({published_count, end_lsn});
    advance();
}

void AckProgress::acked(uint64_t index) {
    std::lock_guard lock(m_mutex);
    if (index < m_base || index - m_base >= m_state.size()) return;
    Message& message = m_state[index - m_base];
    if (message.state != State::InFlight) return;
    message.state = State::Acked;
    ++m_completed;
    const bool was_front = index == m_base;
    advance();
    const uint64_t in_flight = m_published - m_completed;
    if ((m_wait_room && in_flight <= m_wake_at) ||
        (m_wait_drain && (in_flight == 0 || was_front)))
        m_changed.notify_all();
}

void AckProgress::failed(uint64_t index, std::string error, std::string hint) {
    std::lock_guard lock(m_mutex);
    if (index >= m_base && index - m_base < m_state.size() &&
        m_state[index - m_base].state == State::InFlight) {
        m_state[index - m_base].state = State::Failed;
        ++m_completed;
    }
    if (!m_failure) m_failure.emplace(std::move(error), std::move(hint));
    m_changed.notify_all();
}

void AckProgress::fail(std::string error, std::string hint) {
    std::lock_guard lock(m_mutex);
    if (!m_failure) m_failure.emplace(std::move(error), std::move(hint));
    m_changed.notify_all();
}

void AckProgress::advance() {
    while (!m_state.empty() && m_state.front().state == State::Acked) {
        m_state.pop_front();
        ++m_base;
    }
    while (!m_transactions.empty() && m_transactions.front().published_count <= m_base) {
        m_settled = m_transactions.front().end_lsn;
        m_settled_moved = true;
        m_transactions.pop_front();
    }
}

bool AckProgress::front_overdue(Clock::duration timeout) const {
    return !m_state.empty() && m_state.front().state == State::InFlight &&
           Clock::now() - m_state.front().published > timeout;
}

std::optional<Lsn> AckProgress::take_settled() {
    std::lock_guard lock(m_mutex);
    if (!m_settled_moved) return std::nullopt;
    m_settled_moved = false;
    return m_settled;
}

std::optional<std::pair<std::string, std::string>> AckProgress::failure() const {
    std::lock_guard lock(m_mutex);
    return m_failure;
}

uint64_t AckProgress::in_flight() const {
    std::lock_guard lock(m_mutex);
    return m_published - m_completed;
}

std::optional<MessageKey> AckProgress::overdue(Clock::duration ack_timeout) const {
    std::lock_guard lock(m_mutex);
    if (!front_overdue(ack_timeout)) return std::nullopt;
    return m_state.front().key;
}

void AckProgress::wait_for_room(uint64_t limit, Clock::duration ack_timeout) {
    std::unique_lock lock(m_mutex);
    if (m_published - m_completed < limit) return;
    m_wake_at = limit - std::max<uint64_t>(1, limit / 4);
    m_wait_room = true;
    while (m_published - m_completed > m_wake_at && !m_failure && !front_overdue(ack_timeout))
        m_changed.wait_until(lock, m_state.front().published + ack_timeout +
                                       std::chrono::milliseconds(1));
    m_wait_room = false;
}

bool AckProgress::wait_drained(Clock::duration ack_timeout) {
    std::unique_lock lock(m_mutex);
    m_wait_drain = true;
    while (m_published != m_completed) {
        if (m_state.front().state == State::Failed || front_overdue(ack_timeout)) break;
        m_changed.wait_until(lock, m_state.front().published + ack_timeout +
                                       std::chrono::milliseconds(1));
    }
    m_wait_drain = false;
    return m_published == m_completed;
}

} // namespace pgsync::publish
