// LogSegment: one file of the change log, named by its first record's offset
// ("<lsn as 16 hex>-<op as 16 hex>.ndjson", so names sort in log order), holding whole
// native-record lines; with its sparse index (offset → byte) and the byte length published to
// readers. Also the file-descriptor and line-reading helpers the log's writer, readers and recovery
// share.
#pragma once

#include "changelog/log_offset.h"

#include <atomic>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgsync::serve {

// A record's place in the log: its offset and, for the rare records that share one, their rank.
struct LogPosition {
    LogOffset offset;
    uint32_t rank = 0;
    auto operator<=>(const LogPosition&) const = default;
};

class UniqueFd {
public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) : m_fd(fd) {}
    UniqueFd(UniqueFd&& other) noexcept : m_fd(other.release()) {}
    UniqueFd& operator=(UniqueFd&& other) noexcept;
    ~UniqueFd();
    int get() const { return m_fd; }
    int release();
    explicit operator bool() const { return m_fd >= 0; }

private:
    int m_fd = -1;
};

// Throws pgsync::Error "could not <action> "<path>": <strerror(errno)>".
[[noreturn]] void throw_file_error(std::string_view action, const std::string& path);
// open(2) with O_CLOEXEC (mode 0600 when creating); throws as above with `action`.
UniqueFd open_file(const std::string& path, int flags, std::string_view action);
// Writes all of data (retrying short writes); throws naming path.
void write_all(int fd, std::string_view data, const std::string& path);

struct SegmentIndexEntry {
    LogPosition position; // of the record starting at byte
    uint64_t byte = 0;
    OffsetTracker tracker; // the numbering state before that record
};

class LogSegment {
public:
    // An index entry at least every kIndexBytes: a seek reads at most this much to find its record.
    static constexpr uint64_t kIndexBytes = 64 << 10;

    LogSegment(std::string path, LogOffset first) : m_path(std::move(path)), m_first(first) {}

    static std::string file_name(LogOffset first);
    // The first offset from a segment's file name; nullopt for other files.
    static std::optional<LogOffset> parse_file_name(std::string_view name);

    const std::string& path() const { return m_path; }
    LogOffset first() const { return m_first; }

    // The bytes readers may read: whole lines, written by the writer before it publishes them.
    uint64_t published() const { return m_published.load(std::memory_order_acquire); }
    void publish(uint64_t bytes) { m_published.store(bytes, std::memory_order_release); }

    // Guarded by the ChangeLog's mutex.
    LogPosition last;                     // the last record's position
    std::vector<SegmentIndexEntry> index; // ascending; the first record always has an entry
    void add_to_index(const LogPosition& position, uint64_t byte, const OffsetTracker& before);
    // Where to start reading for the records after `after`: the last entry at or before it.
    const SegmentIndexEntry& seek(LogOffset after) const;

private:
    std::string m_path;
    LogOffset m_first;
    std::atomic<uint64_t> m_published{0};
};

// Reads the complete lines of a segment file up to a limit the caller raises as the writer
// publishes more. Lines stay valid until the next call.
class SegmentLines {
public:
    SegmentLines(UniqueFd fd, std::string path, uint64_t byte);
    // The next complete line (without '\n') ending before limit; false when there is none yet.
    bool next(uint64_t limit, std::string_view& line, uint64_t& line_byte);
    // The byte after the last line returned.
    uint64_t consumed() const { return m_buffer_byte + m_begin; }

private:
    UniqueFd m_fd;
    std::string m_path;
    std::string m_buffer;
    uint64_t m_buffer_byte; // the file byte of m_buffer[0]
    size_t m_begin = 0;     // the first unreturned byte in m_buffer
    size_t m_scanned = 0;   // bytes from m_begin known to hold no '\n'
};

} // namespace pgsync::serve
