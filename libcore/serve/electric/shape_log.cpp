// The per-shape log file and its in-memory index.
#include "serve/electric/shape_log.h"

#include "util/error.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace pgsync::serve::electric {

ShapeLog::ShapeLog(std::string path) : m_path(std::move(path)) {
    m_fd = ::open(m_path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (m_fd < 0)
        throw Error("could not create shape log \"" + m_path + "\": " + std::strerror(errno),
                    "Check that the storage directory is writable and not full.");
}

ShapeLog::~ShapeLog() {
    if (m_fd >= 0) {
        ::close(m_fd);
        ::unlink(m_path.c_str());
    }
}

void ShapeLog::append(LogOffset offset, Lsn lsn, std::string_view messages) {
    uint64_t position;
    {
        std::lock_guard lock(m_mutex);
        position = m_size;
    }
    // Written before the entry is published: readers never see an entry whose bytes are not
    // there. (Not fsynced: the shape log is rebuilt, never trusted, after a restart.)
    size_t done = 0;
    while (done < messages.size()) {
        ssize_t n = ::pwrite(m_fd, messages.data() + done, messages.size() - done,
                             off_t(position + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0)
            throw Error("could not write shape log \"" + m_path + "\": " + std::strerror(errno),
                        "Check that the storage directory's file system is not full.");
        done += size_t(n);
    }
    std::lock_guard lock(m_mutex);
    m_entries.push_back({offset, lsn, position, messages.size()});
    m_size = position + messages.size();
}

size_t ShapeLog::first_after(LogOffset after) const {
    auto it = std::upper_bound(m_entries.begin(), m_entries.end(), after,
                               [](const LogOffset& a, const Entry& e) { return a < e.offset; });
    return size_t(it - m_entries.begin());
}

ShapeLog::Slice ShapeLog::read_after(LogOffset after, size_t max_bytes) const {
    std::unique_lock lock(m_mutex);
    Slice slice = read_range(first_after(after), max_bytes, false);
    if (!slice.entries) slice.end = after;
    return slice;
}

ShapeLog::Slice ShapeLog::read_first() const {
    std::unique_lock lock(m_mutex);
    return read_range(0, 0, true);
}

// Under the caller's lock (the writer appends past what is read, so it waits only briefly).
ShapeLog::Slice ShapeLog::read_range(size_t i, size_t max_bytes, bool alone) const {
    Slice slice;
    if (i >= m_entries.size()) {
        slice.at_end = true;
        return slice;
    }
    const uint64_t begin = m_entries[i].position;
    const bool snapshot_chunk = !m_entries[i].offset.lsn.is_valid();
    size_t last = i;
    uint64_t length = m_entries[i].length;
    if (!snapshot_chunk && !alone)
        while (last + 1 < m_entries.size() && m_entries[last + 1].offset.lsn.is_valid() &&
               length + m_entries[last + 1].length <= max_bytes) {
            ++last;
            length += m_entries[last].length;
        }
    slice.entries = last - i + 1;
    slice.end = m_entries[last].offset;
    slice.last_lsn = m_entries[last].lsn;
    slice.at_end = last + 1 == m_entries.size();
    // Entries are contiguous in the file: one read; the first message's comma is dropped.
    std::string raw(length, '\0');
    size_t done = 0;
    while (done < length) {
        ssize_t n = ::pread(m_fd, raw.data() + done, length - done, off_t(begin + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0)
            throw Error("could not read shape log \"" + m_path + "\": " +
                        (n == 0 ? std::string("unexpected end of file") : std::strerror(errno)));
        done += size_t(n);
    }
    if (!raw.empty() && raw[0] == ',') raw.erase(0, 1);
    slice.messages = std::move(raw);
    return slice;
}

LogOffset ShapeLog::end() const {
    std::lock_guard lock(m_mutex);
    return m_entries.empty() ? LogOffset{} : m_entries.back().offset;
}

bool ShapeLog::has_after(LogOffset after) const {
    std::lock_guard lock(m_mutex);
    return !m_entries.empty() && after < m_entries.back().offset;
}

uint64_t ShapeLog::bytes() const {
    std::lock_guard lock(m_mutex);
    return m_size;
}

size_t ShapeLog::entries() const {
    std::lock_guard lock(m_mutex);
    return m_entries.size();
}

} // namespace pgsync::serve::electric
