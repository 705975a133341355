// The writer thread: takes every queued chunk at once, writes them, syncs, then publishes the
// last commit position it covered.
#include "stream/output_writer.h"

namespace pgsync::stream {

OutputWriter::OutputWriter(OutputSink& sink, size_t max_queued_bytes)
    : m_sink(sink), m_max_bytes(max_queued_bytes), m_thread([this] { run(); }) {}

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

void OutputWriter::check() const {
    std::lock_guard lock(m_mutex);
    if (m_error) std::rethrow_exception(m_error);
}

void OutputWriter::drain() {
    std::unique_lock lock(m_mutex);
    m_idle.wait(lock, [&] { return (m_queue.empty() && !m_busy) || m_error; });
    if (m_error) std::rethrow_exception(m_error);
}

void OutputWriter::run() {
    std::deque<Chunk> batch;
    for (;;) {
        {
            std::unique_lock lock(m_mutex);
            m_busy = false;
            m_idle.notify_all();
            m_wake.wait(lock, [&] { return m_stop || !m_queue.empty(); });
            if (m_stop) return;
            batch.swap(m_queue);
            m_busy = true;
        }
        try {
            if (m_reopen.exchange(false)) m_sink.reopen();
            Lsn last;
            size_t bytes = 0;
            for (auto& chunk : batch) {
                m_sink.write(chunk.data);
                bytes += chunk.data.size();
                if (chunk.commit_end.is_valid()) last = chunk.commit_end;
            }
            m_sink.sync(); // no-op unless the sink is a regular file
            m_queued_bytes -= bytes;
            if (last.is_valid()) m_durable = last.value();
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
