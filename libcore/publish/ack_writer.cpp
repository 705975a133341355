// Appending acknowledgements to a FIFO or a file.
#include "publish/ack_writer.h"

#include "util/error.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
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
    if (m_fd >= 0) ::close(m_fd);
}

void AckWriter::write(Lsn lsn) {
    if (m_fd < 0 || lsn <= m_last) return;
    std::string line = lsn.str() + "\n";
    for (int attempt = 0; attempt < 50; ++attempt) {
        const ssize_t n = ::write(m_fd, line.data(), line.size());
        if (n == ssize_t(line.size())) {
            m_last = lsn;
            return;
        }
        if (n >= 0) // a short write to a regular file: never for a line this small
            throw Error("could not write to ack file \"" + m_path + "\": short write");
        if (errno == EINTR) continue;
        if (errno == EAGAIN && m_fifo) return; // full: nobody reads; the next ack covers this
        throw Error("could not write to ack file \"" + m_path + "\": " + std::strerror(errno));
    }
}

} // namespace pgsync::publish
