// The writer thread: takes every queued chunk at once, writes them, syncs, then publishes the
// last commit position it covered.
#include "stream/output_writer.h"

#include <chrono>

namespace pgsync::stream {

OutputWriter::OutputWriter(ChunkSink& sink, size_t max_queued_bytes,
                           std::chrono::milliseconds min_sync_interval)
    : m_min_sync_interval(min_sync_interval), m_sink(sink), m_max_bytes(max_queued_bytes),
      m_thread([this] { run(); }) {}

OutputWriter::~OutputWriter() {
    {
        std::lock_guard lock(m_mutex);
        m_stop = true;
    }
    m_wake.notify_all();
    m_thread.join();
}

void OutputWriter::push(std::string&& chunk, Lsn commit_end) {
    if (chunk.empty() && !commit_end.is_valid()) return;
    const size_t size = chunk.size();
    {
        std::lock_guard lock(m_mutex);
        m_queue.push_back({std::move(chunk), commit_end});
        m_queued_bytes += size;
    }
    m_wake.notify_one();
}

std::string OutputWriter::take_buffer() {
    std::lock_guard lock(m_mutex);
    if (m_spare.empty()) return {};
    std::string buffer = std::move(m_spare.back());
    m_spare.pop_back();
    return buffer;
}

void OutputWriter::check() const {
    std::lock_guard lock(m_mutex);
    if (m_error) std::rethrow_exception(m_error);
}

void OutputWriter::drain() {
    std::unique_lock lock(m_mutex);
    m_idle.wait(lock, [&] { return (m_queue.empty() && !m_busy && m_synced) || m_error; });
    if (m_error) std::rethrow_exception(m_error);
}

void OutputWriter::run() {
    using Clock = std::chrono::steady_clock;
    std::deque<Chunk> batch;
    Lsn unsynced; // the last commit written but not yet synced
    Clock::time_point last_sync{};
    for (;;) {
        bool queue_empty;
        {
            std::unique_lock lock(m_mutex);
            m_busy = false;
            m_synced = !unsynced.is_valid();
            m_idle.notify_all();
            // With written but unsynced commits, wake up to sync them even if nothing new comes.
            auto ready = [&] { return m_stop || !m_queue.empty(); };
            if (unsynced.is_valid())
                m_wake.wait_for(lock, std::chrono::milliseconds(100), ready);
            else
                m_wake.wait(lock, ready);
            if (m_stop) return;
            batch.swap(m_queue);
            m_busy = true;
            queue_empty = batch.empty();
        }
        try {
            if (m_reopen.exchange(false)) m_sink.reopen();
            size_t bytes = 0;
            for (auto& chunk : batch) {
                m_sink.write(chunk.data);
                bytes += chunk.data.size();
                if (chunk.commit_end.is_valid()) unsynced = chunk.commit_end;
            }
            m_queued_bytes -= bytes;
            {
                std::lock_guard lock(m_mutex);
                queue_empty = m_queue.empty();
            }
            // fsync (a no-op unless the sink is a file) only for commits, like pg_recvlogical: at
            // most every 100 ms while output keeps coming, and always once the queue drains
            // (unless the last sync is more recent than m_min_sync_interval).
            const auto now = Clock::now();
            const auto since = now - last_sync;
            if (unsynced.is_valid() &&
                ((queue_empty && since >= m_min_sync_interval) ||
                 since >= std::max<Clock::duration>(std::chrono::milliseconds(100),
                                                    m_min_sync_interval))) {
                m_sink.sync();
                m_durable = unsynced.value();
                unsynced = Lsn();
                last_sync = now;
            }
            std::lock_guard lock(m_mutex);
            for (auto& chunk : batch) {
                if (m_spare.size() >= 8 || chunk.data.capacity() > (1u << 20)) break;
                chunk.data.clear();
                m_spare.push_back(std::move(chunk.data));
            }
            batch.clear();
        } catch (...) {
            std::lock_guard lock(m_mutex);
            m_error = std::current_exception();
            m_busy = false;
            m_idle.notify_all();
            return;
        }
    }
}

} // namespace pgsync::stream
