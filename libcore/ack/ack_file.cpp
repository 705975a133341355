// AckFile: reading acknowledgement lines from a growing regular file or a FIFO, with partial
// lines, truncation and rotation handled, and bad lines reported but never fatal.
#include "ack/ack_file.h"

#include "util/error.h"
#include "util/log.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pgsync::ack {
namespace {

// An LSN is at most 17 characters; a "line" longer than this is not an acknowledgement, and
// keeping it whole would let a runaway writer grow our memory without bound.
constexpr size_t kMaxLine = 256;
constexpr size_t kReadChunk = 64 * 1024;

std::string_view trim(std::string_view s) {
    constexpr std::string_view kSpace = " \t\r\n\v\f";
    size_t first = s.find_first_not_of(kSpace);
    if (first == std::string_view::npos) return {};
    return s.substr(first, s.find_last_not_of(kSpace) - first + 1);
}

// The line as it can be shown in a one-line diagnostic: short, printable.
std::string printable(std::string_view s) {
    constexpr size_t kShown = 64;
    std::string out;
    for (char c : s.substr(0, kShown))
        out += (c >= 0x20 && c < 0x7f) ? c : '?';
    if (s.size() > kShown) out += "...";
    return out;
}

} // namespace

AckFile::Fd& AckFile::Fd::operator=(Fd&& other) noexcept {
    if (this != &other) {
        if (m_fd >= 0) ::close(m_fd);
        m_fd = other.m_fd;
        other.m_fd = -1;
    }
    return *this;
}

AckFile::Fd::~Fd() {
    if (m_fd >= 0) ::close(m_fd);
}

AckFile::AckFile(std::string path) : m_path(std::move(path)) {
    open_path(/*create_missing=*/true, /*skip_existing=*/true);
}

void AckFile::open_path(bool create_missing, bool skip_existing) {
    const std::string quoted = "\"" + m_path + "\"";
    auto open_error = [&](int err) {
        return Error("could not open ack file " + quoted + ": " + std::strerror(err),
                     err == ENOENT || err == EACCES || err == EROFS
                         ? "Check that the directory exists and that pgsync-stream may create "
                           "and read files in it."
                         : std::string());
    };

    struct stat st {};
    if (::stat(m_path.c_str(), &st) != 0) {
        if (errno != ENOENT || !create_missing) throw open_error(errno);
        int fd = ::open(m_path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST) throw open_error(errno);
        if (fd >= 0) ::close(fd); // reopened below like any existing file
        if (::stat(m_path.c_str(), &st) != 0) throw open_error(errno);
    }

    int fd = -1;
    if (S_ISFIFO(st.st_mode)) {
        // Read-write: we are a writer too, so the FIFO never reports end-of-file when the
        // consumer closes it, and a consumer's open(O_WRONLY) never blocks waiting for a reader.
        fd = ::open(m_path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
    } else if (S_ISREG(st.st_mode)) {
        fd = ::open(m_path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    } else {
        throw usage_error("ack file " + quoted + " is not a regular file or a FIFO",
                          "Give the path of a file the consumer appends to, or of a FIFO made "
                          "with mkfifo.");
    }
    if (fd < 0) throw open_error(errno);
    Fd owned(fd);
    if (::fstat(fd, &st) != 0) throw open_error(errno); // what was opened, not what was stat'ed

    m_fd = std::move(owned);
    m_is_fifo = S_ISFIFO(st.st_mode);
    m_device = st.st_dev;
    m_inode = st.st_ino;
    m_offset = 0;
    m_partial.clear();
    m_skip_to_newline = false;
    m_line_number = 0;
    if (skip_existing && !m_is_fifo) {
        // Complete lines already there acknowledge an earlier run's transactions; read past them
        // (counting lines, for warnings) but keep a partial last line: the consumer is writing it.
        read_available(nullptr);
    }
}

std::optional<Lsn> AckFile::read_new() {
    std::optional<Lsn> highest;
    if (!m_is_fifo) {
        struct stat st {};
        if (::fstat(m_fd.get(), &st) != 0)
            throw Error("could not read ack file \"" + m_path + "\": " + std::strerror(errno));
        if (st.st_size < m_offset) {
            // Truncated in place: everything in it now is new. (A file truncated and then
            // rewritten past our offset between two calls cannot be told apart from growth.)
            log::debug("ack file \"" + m_path + "\" was truncated; reading it from the start");
            if (::lseek(m_fd.get(), 0, SEEK_SET) < 0)
                throw Error("could not read ack file \"" + m_path + "\": " + std::strerror(errno));
            m_offset = 0;
            m_partial.clear();
            m_skip_to_newline = false;
            m_line_number = 0;
        }
    }
    read_available(&highest);
    // Rotation: the old file is read to its end first, so nothing appended before the rename is
    // lost.
    if (!m_is_fifo && reopen_if_replaced()) read_available(&highest);
    return highest;
}

bool AckFile::reopen_if_replaced() {
    struct stat st {};
    if (::stat(m_path.c_str(), &st) != 0) {
        if (errno == ENOENT) return false; // renamed away, new one not there yet: keep reading
        throw Error("could not read ack file \"" + m_path + "\": " + std::strerror(errno));
    }
    if (st.st_dev == m_device && st.st_ino == m_inode) return false;
    if (!m_partial.empty() || m_skip_to_newline)
        log::warning("ignoring the unfinished line " + std::to_string(m_line_number + 1) +
                     " of ack file \"" + m_path + "\": the file was replaced before it ended");
    log::debug("ack file \"" + m_path + "\" was replaced; reading the new file from the start");
    open_path(/*create_missing=*/false, /*skip_existing=*/false);
    return true;
}

void AckFile::read_available(std::optional<Lsn>* highest) {
    char buffer[kReadChunk];
    for (;;) {
        ssize_t n = ::read(m_fd.get(), buffer, sizeof buffer);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return; // FIFO: nothing more for now
            throw Error("could not read ack file \"" + m_path + "\": " + std::strerror(errno));
        }
        if (n == 0) return; // regular file: its current end
        if (!m_is_fifo) m_offset += n;

        std::string_view data(buffer, size_t(n));
        while (!data.empty()) {
            size_t newline = data.find('\n');
            std::string_view piece = data.substr(0, newline);
            if (newline == std::string_view::npos) {
                // The line goes on in a later read.
                if (!m_skip_to_newline) {
                    m_partial.append(piece);
                    if (m_partial.size() > kMaxLine) {
                        if (highest)
                            log::warning("ignoring line " + std::to_string(m_line_number + 1) +
                                         " of ack file \"" + m_path + "\": longer than " +
                                         std::to_string(kMaxLine) + " bytes (\"" +
                                         printable(m_partial) + "\")");
                        m_partial.clear();
                        m_skip_to_newline = true;
                    }
                }
                break;
            }
            data.remove_prefix(newline + 1);
            if (m_skip_to_newline) {
                m_skip_to_newline = false;
                ++m_line_number;
            } else if (m_partial.empty()) {
                take_line(piece, highest);
            } else {
                m_partial.append(piece);
                take_line(m_partial, highest);
                m_partial.clear();
            }
        }
    }
}

void AckFile::take_line(std::string_view line, std::optional<Lsn>* highest) {
    ++m_line_number;
    if (!highest) return; // skipping an earlier run's lines
    std::string_view text = trim(line);
    if (text.empty()) return;
    std::optional<Lsn> lsn = Lsn::parse(text);
    if (!lsn) {
        log::warning("ignoring line " + std::to_string(m_line_number) + " of ack file \"" + m_path +
                         "\": \"" + printable(text) + "\" is not an LSN",
                     "Append the end_lsn of commit records, one per line, such as 0/16B37D0.");
        return;
    }
    if (!*highest || *lsn > **highest) *highest = lsn;
}

} // namespace pgsync::ack
