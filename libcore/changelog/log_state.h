// ChangeLog's shared state (ChangeLog::Impl): the segment list, start and end that readers see
// under its mutex, and the writer thread's own state. Private to serve/change_log.cpp,
// log_writer.cpp and log_reader.cpp.
#pragma once

#include "changelog/change_log.h"
#include "changelog/log_segment.h"
#include "record/record_scan.h"

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace pgsync::serve {

using SegmentPtr = std::shared_ptr<LogSegment>;

struct ChangeLog::Impl final : ChunkSink {
    ChangeLogOptions options;
    LogIdentity identity;
    std::string epoch;
    UniqueFd dir_fd;
    UniqueFd lock_fd;
    std::function<void(const std::vector<LogRecord>&)> on_append;

    // Guarded by mutex (with each segment's last and index).
    mutable std::mutex mutex;
    std::vector<SegmentPtr> segments; // in log order; the last is the one being written
    LogOffset start;
    LogPosition end;

    // The writer thread's own state.
    struct Pending {
        LogPosition position;
        size_t byte; // in out
        size_t size;
        OffsetTracker before;
        uint32_t xid;
        bool commit;
    };
    SegmentPtr current;
    UniqueFd current_fd;
    uint64_t current_size = 0;
    OffsetTracker tracker;  // numbers incoming records, replayed ones included
    LogPosition appended;   // the last record appended (end, once flushed)
    bool rotate = false;    // the current segment is full: the next record starts a new one
    bool dir_dirty = false; // a segment was created since the directory was last fsynced
    bool broken = false;    // a write failed: the file may hold a partial line
    std::string partial;    // a line split across write() calls
    std::string out;        // records to append
    std::vector<Pending> pending;
    std::vector<LogRecord> batch;
    record::ScannedRecord scanned;

    std::string path_of(const std::string& name) const { return options.dir + "/" + name; }

    void write(std::string_view data) override;
    void sync() override;
    void reopen() override {}

    void append_line(std::string_view line);
    void flush();
    void start_segment(LogOffset first);
    void write_identity(LogOffset new_start);
    void recover();
    size_t enforce_retention(std::chrono::system_clock::time_point now);
    void check_usable() const; // throws once a write failed
};

} // namespace pgsync::serve
