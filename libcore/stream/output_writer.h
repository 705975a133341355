// OutputWriter: a thread that writes queued chunks of whole lines to the sink, so a blocked stdout
// never stalls the replication loop (S2). It reports, as a position, the end_lsn of the last commit
// whose lines are written (and fsynced, for a file): nothing is ever reported before it is durable.
#pragma once

#include "util/lsn.h"
#include "util/chunk_sink.h"

#include <chrono>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace pgsync::stream {

class OutputWriter {
public:
    // fsync_file: sync a regular file after each batch before reporting positions durable.
    // min_sync_interval: sync at most this often (0: whenever the queue drains).
    OutputWriter(ChunkSink& sink, size_t max_queued_bytes,
                 std::chrono::milliseconds min_sync_interval = {});
    ~OutputWriter(); // stops the thread; what is still queued is dropped (not reported durable)

    // Queues a chunk; commit_end is the end_lsn of the commit that ends it (invalid
    // mid-transaction).
    void push(std::string&& chunk, Lsn commit_end);
    bool full() const { return m_queued_bytes.load() >= m_max_bytes; }
    // An empty buffer to fill with the next chunk: one the thread has written, if any.
    std::string take_buffer();
    bool empty() const { return m_queued_bytes.load() == 0; }

    // The end_lsn of the last commit written and synced.
    Lsn durable() const { return Lsn(m_durable.load()); }
    // Rethrows a write error from the thread (EPIPE when the consumer went away, ENOSPC, …).
    void check() const;
    // Waits until everything queued is written and synced, or the thread failed.
    void drain();
    // Asks the thread to reopen the sink's file before its next write (SIGHUP).
    void request_reopen() { m_reopen = true; }

private:
    void run();
    const std::chrono::milliseconds m_min_sync_interval;

    struct Chunk {
        std::string data;
        Lsn commit_end;
    };

    ChunkSink& m_sink;
    const size_t m_max_bytes;
    std::atomic<size_t> m_queued_bytes{0};
    std::atomic<uint64_t> m_durable{0};
    std::atomic<bool> m_reopen{false};
    bool m_synced = true; // nothing written is left unsynced (under m_mutex)
    mutable std::mutex m_mutex;
    std::condition_variable m_wake;
    std::condition_variable m_idle;
    std::deque<Chunk> m_queue;
    std::vector<std::string> m_spare; // written buffers kept for reuse (a few, not too large)
    bool m_stop = false;
    bool m_busy = false;
    std::exception_ptr m_error;
    std::thread m_thread;
};

} // namespace pgsync::stream
