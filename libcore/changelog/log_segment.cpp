// LogSegment's naming and sparse index, and the file helpers of the change log: an fd holder and a
// buffered reader of whole lines that never reads past what the writer published.
#include "changelog/log_segment.h"

#include "util/error.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace pgsync::serve {

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
        if (m_fd >= 0) ::close(m_fd);
        m_fd = other.release();
    }
    return *this;
}

UniqueFd::~UniqueFd() {
    if (m_fd >= 0) ::close(m_fd);
}

int UniqueFd::release() {
    int fd = m_fd;
    m_fd = -1;
    return fd;
}

void throw_file_error(std::string_view action, const std::string& path) {
    const int error = errno;
    throw Error("could not " + std::string(action) + " \"" + path + "\": " + std::strerror(error));
}

UniqueFd open_file(const std::string& path, int flags, std::string_view action) {
    int fd;
    do {
        fd = ::open(path.c_str(), flags | O_CLOEXEC, 0600);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) throw_file_error(action, path);
    return UniqueFd(fd);
}

void write_all(int fd, std::string_view data, const std::string& path) {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            throw_file_error("write to", path);
        }
        data.remove_prefix(size_t(n));
    }
}

std::string LogSegment::file_name(LogOffset first) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "%016llX-%016llX.ndjson",
                  static_cast<unsigned long long>(first.lsn.value()),
                  static_cast<unsigned long long>(first.op));
    return buf;
}

std::optional<LogOffset> LogSegment::parse_file_name(std::string_view name) {
    constexpr std::string_view kSuffix = ".ndjson";
    if (name.size() != 33 + kSuffix.size() || name[16] != '-' || name.substr(33) != kSuffix)
        return std::nullopt;
    auto hex = [](std::string_view digits, uint64_t& out) {
        for (char c : digits)
            if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'))) return false;
        return std::from_chars(digits.data(), digits.data() + digits.size(), out, 16).ec ==
               std::errc();
    };
    uint64_t lsn = 0, op = 0;
    if (!hex(name.substr(0, 16), lsn) || !hex(name.substr(17, 16), op)) return std::nullopt;
    return LogOffset{Lsn(lsn), op};
}

void LogSegment::add_to_index(const LogPosition& position, uint64_t byte,
                              const OffsetTracker& before) {
    if (!index.empty() && byte < index.back().byte + kIndexBytes) return;
    index.push_back({position, byte, before});
}

const SegmentIndexEntry& LogSegment::seek(LogOffset after) const {
    // The first entry whose record is past `after`; reading starts at the entry before it (whose
    // record is at or before `after`, so nothing past `after` lies before it).
    auto it = std::upper_bound(
        index.begin(), index.end(), after,
        [](LogOffset a, const SegmentIndexEntry& entry) { return a < entry.position.offset; });
    return it == index.begin() ? index.front() : *(it - 1);
}

SegmentLines::SegmentLines(UniqueFd fd, std::string path, uint64_t byte)
    : m_fd(std::move(fd)), m_path(std::move(path)), m_buffer_byte(byte) {}

bool SegmentLines::next(uint64_t limit, std::string_view& line, uint64_t& line_byte) {
    constexpr size_t kReadBytes = 64 << 10;
    for (;;) {
        size_t newline = m_buffer.find('\n', m_begin + m_scanned);
        if (newline != std::string::npos) {
            line = std::string_view(m_buffer).substr(m_begin, newline - m_begin);
            line_byte = m_buffer_byte + m_begin;
            m_begin = newline + 1;
            m_scanned = 0;
            return true;
        }
        m_scanned = m_buffer.size() - m_begin;
        const uint64_t end = m_buffer_byte + m_buffer.size();
        if (end >= limit) return false;
        if (m_begin > 0) { // keep only the partial line; its capacity stays for the next read
            m_buffer.erase(0, m_begin);
            m_buffer_byte += m_begin;
            m_begin = 0;
        }
        const size_t want = size_t(std::min<uint64_t>(limit - end, kReadBytes));
        const size_t old_size = m_buffer.size();
        m_buffer.resize(old_size + want);
        ssize_t got;
        do {
            got = ::pread(m_fd.get(), m_buffer.data() + old_size, want, off_t(end));
        } while (got < 0 && errno == EINTR);
        if (got < 0) {
            m_buffer.resize(old_size);
            throw_file_error("read", m_path);
        }
        m_buffer.resize(old_size + size_t(got));
        if (got == 0) return false; // shorter than limit: cut by recovery, or being removed
    }
}

} // namespace pgsync::serve
