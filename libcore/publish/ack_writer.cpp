// Appending acknowledgements to a FIFO or a file, keeping the highest one a full FIFO refused.
#include "publish/ack_writer.h"

#include "util/error.h"
#include "util/log.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pgsync::publish {

AckWriter::AckWriter(std::string path) : m_path(std::move(path)) {
    if (m_path.empty()) return;
    struct stat st {};
    m_fifo = ::stat(m_path.c_str(), &st) == 0 && S_ISFIFO(st.st_mode);
    m_fd = m_fifo ? ::open(m_path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC)
                  : ::open(m_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (m_fd < 0)
        throw Error("could not open ack file \"" + m_path + "\": " + std::strerror(errno),
                    "Give --ack-file the FIFO or file that pgsync-stream reads with --ack-file.");
}

AckWriter::~AckWriter() {
    if (m_fd < 0) return;
    try {
        if (!finish(kExitWait))
            log::warning("could not write the last acknowledgement " + m_pending.str() +
                         " to ack file \"" + m_path + "\": nobody read it within " +
                         std::to_string(kExitWait.count()) + " ms");
    } catch (const Error& error) {
        log::warning(error.what());
    }
    ::close(m_fd);
}

bool AckWriter::try_write(Lsn lsn) {
    const std::string line = lsn.str() + "\n";
    while (true) {
        // A line is far below PIPE_BUF, so a FIFO takes it whole or not at all.
        const ssize_t n = ::write(m_fd, line.data(), line.size());
        if (n == ssize_t(line.size())) {
            m_last = lsn;
            return true;
        }
        if (n >= 0) // a short write to a regular file: never for a line this small
            throw Error("could not write to ack file \"" + m_path + "\": short write");
        if (errno == EINTR) continue;
        if (errno == EAGAIN && m_fifo) return false;
        throw Error("could not write to ack file \"" + m_path + "\": " + std::strerror(errno));
    }
}

void AckWriter::write(Lsn lsn) {
    if (m_fd < 0 || lsn <= m_last) return;
    if (lsn > m_pending) m_pending = lsn;
    retry();
}

void AckWriter::retry() {
    if (m_fd < 0 || !m_pending.is_valid()) return;
    if (try_write(m_pending)) m_pending = Lsn();
}

bool AckWriter::finish(std::chrono::milliseconds timeout) {
    retry();
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (m_pending.is_valid()) {
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        // POLLOUT on a FIFO: room for at least PIPE_BUF bytes, so the line fits.
        pollfd pfd{m_fd, POLLOUT, 0};
        if (::poll(&pfd, 1, int(left.count())) < 0 && errno != EINTR)
            throw Error("could not wait for ack file \"" + m_path + "\": " + std::strerror(errno));
        retry();
    }
    return true;
}

} // namespace pgsync::publish
