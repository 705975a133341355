// AckWriter: writes settled transactions' end_lsn, one per line, to the --ack-file that
// pgsync-stream reads (a FIFO or a regular file; pgsync-stream(1), ACKNOWLEDGEMENT).
#pragma once

#include "util/lsn.h"

#include <chrono>
#include <string>

namespace pgsync::publish {

class AckWriter {
public:
    // Opens path: a FIFO read-write and non-blocking (so it never waits for a reader and never
    // gets SIGPIPE or ENXIO), anything else for appending, created with mode 0600 when missing.
    // An empty path writes nothing. Throws pgsync::Error when it cannot be opened.
    explicit AckWriter(std::string path);
    AckWriter(const AckWriter&) = delete;
    AckWriter& operator=(const AckWriter&) = delete;
    // Waits up to kExitWait for a FIFO to take the pending acknowledgement (finish()).
    ~AckWriter();

    // Acknowledges lsn: writes it as a line now when it can. A FIFO that is full (nobody reading)
    // never blocks: the highest acknowledgement not yet written is kept as pending and written by
    // the next write() or retry() that finds room (acknowledgements are cumulative, so the
    // highest covers every one before it). Throws pgsync::Error on any other write failure.
    void write(Lsn lsn);
    // Writes the pending acknowledgement if the FIFO has room now; never blocks. Cheap when
    // nothing is pending: call it whenever convenient (the publish loop, each pass).
    void retry();
    // Waits up to timeout for the pending acknowledgement to be written; true when nothing is
    // pending any more.
    bool finish(std::chrono::milliseconds timeout);

    // The last LSN written (invalid before any), and the one waiting for room (invalid if none).
    Lsn last() const { return m_last; }
    Lsn pending() const { return m_pending; }

    static constexpr std::chrono::milliseconds kExitWait{2000};

private:
    // One attempt; false when the FIFO is full.
    bool try_write(Lsn lsn);

    std::string m_path;
    int m_fd = -1;
    bool m_fifo = false;
    Lsn m_last;
    Lsn m_pending;
};

} // namespace pgsync::publish
