// NatsIngest: a pgsync-serve replica's ingest. It reads the JetStream stream that pgsync-publish
// writes (one message per native record, design in pgsync-publish(1)) in stream order and writes
// the canonical copy of each record into the change log, instead of a replication slot. What it
// made durable is remembered as a stream sequence in --storage-dir, so a restart resumes there.
#pragma once

#include "changelog/change_log.h"
#include "serve/ingest/replica_source.h"
#include "util/stop_flag.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace pgsync::serve {

struct NatsIngestOptions {
    ReplicaSource source;
    std::string storage_dir;                       // where the sequence mark is kept
    std::chrono::milliseconds sync_interval{500};  // log syncs (and mark writes) at most this often
    std::chrono::milliseconds reconnect_wait{250}; // cnats' wait between reconnect rounds
};

class NatsIngest {
public:
    // Connects and reads the stream's info. Throws pgsync::Error when no NATS server of the list
    // can be reached, JetStream is off, or the stream does not exist.
    explicit NatsIngest(NatsIngestOptions options);
    ~NatsIngest();
    NatsIngest(const NatsIngest&) = delete;
    NatsIngest& operator=(const NatsIngest&) = delete;

    // The log's epoch and identity: the same on every replica of the stream (replica_source.h).
    const std::string& epoch() const;
    LogIdentity identity(const std::string& database) const;

    // Reads the stream into log until stop is set (then syncs the log and remembers where it is). A
    // lost connection is not an error: cnats reconnects (connected() is false meanwhile) and
    // reading resumes after the last record taken. Throws pgsync::Error when the log cannot
    // continue: the stream was deleted or created again, it no longer holds the sequence this
    // replica needs, a message is not a native record, or the log cannot be written.
    void run(ChangeLog& log, const StopFlag& stop);

    // Thread-safe, for /v1/health and /metrics.
    bool connected() const { return m_connected.load(); }
    // The stream's last sequence (as last read, about every second) minus the last one taken.
    int64_t lag_messages() const { return m_lag.load(); }

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
    std::atomic<bool> m_connected{true};
    std::atomic<int64_t> m_lag{0};
};

} // namespace pgsync::serve
