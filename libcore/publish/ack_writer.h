// AckWriter: writes settled transactions' end_lsn, one per line, to the --ack-file that
// pgsync-stream reads (a FIFO or a regular file; pgsync-stream(1), ACKNOWLEDGEMENT).
#pragma once

#include "util/lsn.h"

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
    ~AckWriter();

    // Writes lsn as a line. Acknowledgements are cumulative, so a FIFO that is full (nobody
    // reading) drops this one: the next covers it; write() at the end retries briefly.
    void write(Lsn lsn);
    // The last LSN written (invalid before any).
    Lsn last() const { return m_last; }

private:
    std::string m_path;
    int m_fd = -1;
    bool m_fifo = false;
    Lsn m_last;
};

} // namespace pgsync::publish
