// OutputSink implementation over write(2)/fsync(2)/poll(2).
#include "util/output_sink.h"

#include "util/error.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pgsync {

OutputSink OutputSink::to_fd(int fd, std::string name) {
    return OutputSink(fd, false, std::move(name));
}

OutputSink OutputSink::to_file(const std::string& path) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        throw Error("could not open output file \"" + path + "\": " + std::strerror(errno),
                    "Check that the directory exists and is writable.");
    return OutputSink(fd, true, "file \"" + path + "\"", path);
}

OutputSink OutputSink::append_to_file(const std::string& path) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        throw Error("could not open output file \"" + path + "\": " + std::strerror(errno),
                    "Check that the directory exists and is writable.");
    return OutputSink(fd, true, "file \"" + path + "\"", path);
}

void OutputSink::reopen() {
    std::lock_guard lock(m_mutex);
    if (m_path.empty()) return;
    int fd = ::open(m_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        throw Error("could not reopen output file \"" + m_path + "\": " + std::strerror(errno));
    ::fsync(m_fd);
    ::close(m_fd);
    m_fd = fd;
}

OutputSink::OutputSink(OutputSink&& other) noexcept
    : m_fd(other.m_fd), m_owned(other.m_owned), m_name(std::move(other.m_name)),
      m_path(std::move(other.m_path)) {
    other.m_fd = -1;
    other.m_owned = false;
}

OutputSink::~OutputSink() {
    if (m_owned && m_fd >= 0) ::close(m_fd);
}

void OutputSink::write(std::string_view data) {
    std::lock_guard lock(m_mutex);
    size_t done = 0;
    while (done < data.size()) {
        ssize_t n = ::write(m_fd, data.data() + done, data.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            int err = errno;
            throw Error("could not write to " + m_name + ": " + std::strerror(err),
                        err == EPIPE ? "The program reading the output exited before the end."
                                     : std::string());
        }
        done += size_t(n);
    }
}

void OutputSink::sync() {
    std::lock_guard lock(m_mutex);
    struct stat st {};
    if (fstat(m_fd, &st) != 0 || !S_ISREG(st.st_mode)) return;
    if (::fsync(m_fd) != 0) throw Error("could not fsync " + m_name + ": " + std::strerror(errno));
}

bool OutputSink::is_pipe() const {
    struct stat st {};
    return fstat(m_fd, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
}

OutputSink::WaitResult OutputSink::wait_reader_closed(double timeout_seconds,
                                                      const StopFlag* stop) {
    using clock = std::chrono::steady_clock;
    const bool pipe = is_pipe();
    const auto deadline = clock::now() + std::chrono::milliseconds(int64_t(timeout_seconds * 1000));
    for (;;) {
        if (stop && *stop) return WaitResult::Stopped;
        int wait_ms = 250;
        if (timeout_seconds > 0) {
            auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
            if (left.count() <= 0) return WaitResult::TimedOut;
            wait_ms = int(std::min<int64_t>(left.count(), wait_ms));
        }
        if (pipe) {
            // A pipe's write end reports POLLERR (or POLLHUP) once every reader has closed it.
            pollfd pfd{m_fd, 0, 0};
            int rc = ::poll(&pfd, 1, wait_ms);
            if (rc > 0 && (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)))
                return WaitResult::ReaderClosed;
        } else {
            ::poll(nullptr, 0, wait_ms);
        }
    }
}

} // namespace pgsync
