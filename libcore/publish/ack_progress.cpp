// The contiguous acked prefix of published messages, and the transactions it covers.
#include "publish/ack_progress.h"

namespace pgsync::publish {

void AckProgress::published(uint64_t index) {
    std::lock_guard lock(m_mutex);
    m_published = index + 1;
    m_state.push_back(0);
}

void AckProgress::transaction_end(uint64_t published_count, Lsn end_lsn) {
    std::lock_guard lock(m_mutex);
    m_transactions.push_back({published_count, end_lsn});
    advance();
}

void AckProgress::acked(uint64_t index) {
    std::lock_guard lock(m_mutex);
    if (index >= m_base && index - m_base < m_state.size() && m_state[index - m_base] == 0) {
        m_state[index - m_base] = 1;
        ++m_completed;
        advance();
    }
    m_changed.notify_all();
}

void AckProgress::failed(uint64_t index, std::string error, std::string hint) {
    std::lock_guard lock(m_mutex);
    if (index >= m_base && index - m_base < m_state.size() && m_state[index - m_base] == 0) {
        m_state[index - m_base] = 2;
        ++m_completed;
    }
    if (!m_failure) m_failure.emplace(std::move(error), std::move(hint));
    m_changed.notify_all();
}

void AckProgress::advance() {
    while (!m_state.empty() && m_state.front() == 1) {
        m_state.pop_front();
        ++m_base;
    }
    while (!m_transactions.empty() && m_transactions.front().published_count <= m_base) {
        m_settled = m_transactions.front().end_lsn;
        m_settled_moved = true;
        m_transactions.pop_front();
    }
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

void AckProgress::wait_below(uint64_t limit, std::chrono::milliseconds timeout) {
    std::unique_lock lock(m_mutex);
    m_changed.wait_for(lock, timeout,
                       [&] { return m_published - m_completed < limit || m_failure; });
}

bool AckProgress::wait_drained(std::chrono::milliseconds timeout) {
    std::unique_lock lock(m_mutex);
    return m_changed.wait_for(lock, timeout, [&] { return m_published == m_completed; });
}

} // namespace pgsync::publish
