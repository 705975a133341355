// AckFile: the consumer's acknowledgements, one LSN per line appended to a regular file or
// written into a FIFO (--ack-file). Reads what arrived since the last call and reports the highest.
#pragma once

#include "util/lsn.h"

#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>

namespace pgsync::ack {

class AckFile {
public:
    // Opens path: a FIFO (opened read-write and non-blocking, so writers may come and go without
    // ever causing end-of-file) or a regular file, created empty with mode 0600 when missing.
    // Lines already in a regular file are from an earlier run and are skipped. Throws
    // pgsync::Error: runtime when the path cannot be created or opened, usage when it is another
    // kind of file.
    explicit AckFile(std::string path);

    AckFile(const AckFile&) = delete;
    AckFile& operator=(const AckFile&) = delete;
    AckFile(AckFile&& other) noexcept = default;
    AckFile& operator=(AckFile&& other) noexcept = default;
    ~AckFile() = default;

    // The FIFO's descriptor, to wait on with poll(2) for POLLIN; -1 for a regular file, which the
    // caller polls by calling read_new() every ~100 ms.
    int poll_fd() const { return m_is_fifo ? m_fd.get() : -1; }

    // Reads every complete line that arrived since the last call and returns the highest LSN
    // among them, or nullopt when there is none. A partial last line is kept until its newline
    // arrives. A regular file that shrinks (truncation) is read again from its start; one
    // replaced by a new file at the path (rotation) is read to its end, then the new file is read
    // from its start. A line that is not an LSN (surrounding white space is fine, empty lines are
    // skipped) is reported with log::warning and ignored. Throws pgsync::Error on a read error.
    std::optional<Lsn> read_new();

    const std::string& path() const { return m_path; }
    bool is_fifo() const { return m_is_fifo; }

private:
    // Owns one file descriptor; closes it on destruction.
    class Fd {
    public:
        Fd() = default;
        explicit Fd(int fd) : m_fd(fd) {}
        Fd(Fd&& other) noexcept : m_fd(other.m_fd) { other.m_fd = -1; }
        Fd& operator=(Fd&& other) noexcept;
        Fd(const Fd&) = delete;
        Fd& operator=(const Fd&) = delete;
        ~Fd();
        int get() const { return m_fd; }

    private:
        int m_fd = -1;
    };

    void open_path(bool create_missing, bool skip_existing);
    // Reads m_fd up to end-of-file (or EAGAIN), feeding complete lines into *highest; with
    // highest null, lines are only counted (an earlier run's lines, skipped at open).
    void read_available(std::optional<Lsn>* highest);
    void take_line(std::string_view line, std::optional<Lsn>* highest);
    bool reopen_if_replaced(); // true when the path now names another file, opened from its start

    std::string m_path;
    Fd m_fd;
    bool m_is_fifo = false;
    dev_t m_device = 0;
    ino_t m_inode = 0;
    off_t m_offset = 0;             // regular file: bytes consumed so far
    std::string m_partial;          // the last line read, until its newline arrives
    bool m_skip_to_newline = false; // the rest of the current line is to be ignored
    uint64_t m_line_number = 0;     // lines completed in the current file, for warnings
};

} // namespace pgsync::ack
