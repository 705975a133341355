// The change log's writer (ChangeLog::Impl as the stream's ChunkSink): numbers each incoming
// record, drops what the log already holds, appends whole lines, publishes them to readers, rotates
// segments at transaction boundaries and makes them durable on sync().
#include "changelog/log_state.h"
#include "util/error.h"

#include <cerrno>
#include <fcntl.h>
#include <unistd.h>

namespace pgsync::serve {

void ChangeLog::Impl::check_usable() const {
    if (broken)
        throw Error("could not write to the change log in \"" + options.dir +
                        "\": an earlier write failed",
                    "Restart pgsync-serve; it recovers the log from its last commit.");
}

void ChangeLog::Impl::write(std::string_view data) {
    check_usable();
    if (!partial.empty()) {
        size_t newline = data.find('\n');
        if (newline == std::string_view::npos) {
            partial.append(data);
            return;
        }
        partial.append(data.substr(0, newline));
        append_line(partial);
        partial.clear();
        data.remove_prefix(newline + 1);
    }
    while (!data.empty()) {
        size_t newline = data.find('\n');
        if (newline == std::string_view::npos) {
            partial.assign(data);
            break;
        }
        append_line(data.substr(0, newline));
        data.remove_prefix(newline + 1);
    }
    flush();
}

void ChangeLog::Impl::append_line(std::string_view line) {
    auto refuse = [&](const char* why) {
        throw Error("could not append to the change log in \"" + options.dir + "\": " + why, {},
                    kExitRuntime, std::string(line.substr(0, 200)));
    };
    if (!record::scan_record(line, scanned)) refuse("not a native change record");
    const OffsetTracker before = tracker;
    LogPosition position;
    if (!tracker.next(scanned, position.offset, position.rank))
        refuse("change record out of transaction order");
    if (position <= appended) return; // already in the log: the slot resent it after a restart
    if (rotate || !current) {
        flush();
        start_segment(position.offset);
    }
    pending.push_back(
        {position, out.size(), line.size(), before, scanned.xid, scanned.op == "commit"});
    out.append(line);
    out += '\n';
    appended = position;
    if (tracker.at_boundary() && current_size + out.size() >= options.segment_bytes) rotate = true;
}

void ChangeLog::Impl::flush() {
    if (out.empty()) return;
    try {
        write_all(current_fd.get(), out, current->path());
    } catch (...) {
        broken = true;
        // Best effort: cut the partial line so the file stays whole records.
        if (::ftruncate(current_fd.get(), off_t(current_size)) != 0) {
        }
        throw;
    }
    {
        std::lock_guard lock(mutex);
        for (const Pending& p : pending)
            current->add_to_index(p.position, current_size + p.byte, p.before);
        current->last = appended;
        end = appended;
        current_size += out.size();
        current->publish(current_size);
    }
    if (on_append) {
        batch.clear();
        for (const Pending& p : pending)
            batch.push_back(
                {p.position.offset, std::string_view(out).substr(p.byte, p.size), p.xid, p.commit});
        on_append(batch);
    }
    pending.clear();
    out.clear();
}

void ChangeLog::Impl::start_segment(LogOffset first) {
    if (current_fd) {
        // The full segment's tail was written after the last sync(), which covers only the new one.
        if (::fdatasync(current_fd.get()) != 0) throw_file_error("fsync", current->path());
    }
    const std::string path = path_of(LogSegment::file_name(first));
    current_fd = open_file(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, "create");
    auto segment = std::make_shared<LogSegment>(path, first);
    segment->last = {first, 0};
    {
        std::lock_guard lock(mutex);
        segments.push_back(segment);
    }
    const bool rotated = current != nullptr;
    current = std::move(segment);
    current_size = 0;
    rotate = false;
    dir_dirty = true;
    if (rotated) {
        // The new segment's name must be durable before retention's unlinks can be.
        if (::fsync(dir_fd.get()) != 0) throw_file_error("fsync", options.dir);
        dir_dirty = false;
        enforce_retention(std::chrono::system_clock::now());
    }
}

void ChangeLog::Impl::sync() {
    check_usable();
    if (current_fd && ::fdatasync(current_fd.get()) != 0)
        throw_file_error("fsync", current->path());
    if (dir_dirty) {
        if (::fsync(dir_fd.get()) != 0) throw_file_error("fsync", options.dir);
        dir_dirty = false;
    }
}

} // namespace pgsync::serve
