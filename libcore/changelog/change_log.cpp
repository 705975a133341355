// ChangeLog: opening and recovering the storage directory (lock, identity, segments cut back to
// the last whole transaction), the writer the replication stream appends through, readers that
// follow it from any retained offset, and retention.
#include "changelog/change_log.h"

#include "changelog/log_state.h"
#include "util/durable_file.h"
#include "util/error.h"
#include "util/log.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <dirent.h>
#include <fcntl.h>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pgsync::serve {
namespace {

std::string new_epoch() {
    std::random_device random; // /dev/urandom (or the CPU's generator) on Linux
    char buf[17];
    std::snprintf(buf, sizeof buf, "%08X%08X", unsigned(random()), unsigned(random()));
    return buf;
}

bool is_epoch(const std::string& text) {
    return text.size() == 16 && std::all_of(text.begin(), text.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
           });
}

// What recovery found in a segment: where its last whole transaction ends, and whether everything
// in it was whole records ending at a transaction boundary.
struct SegmentScan {
    uint64_t size = 0;
    uint64_t boundary_byte = 0; // after the last commit or non-transactional message
    uint64_t bad_byte = 0;      // where the first bad (or torn) line starts, when not clean
    bool clean = true;
};

SegmentScan scan_segment(LogSegment& segment) {
    UniqueFd fd = open_file(segment.path(), O_RDONLY, "open");
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) throw_file_error("stat", segment.path());
    SegmentScan scan;
    scan.size = uint64_t(st.st_size);
    SegmentLines lines(std::move(fd), segment.path(), 0);
    OffsetTracker tracker;
    LogPosition previous;
    std::string_view line;
    uint64_t byte = 0;
    record::ScannedRecord record;
    while (lines.next(scan.size, line, byte)) {
        const OffsetTracker before = tracker;
        LogPosition position;
        const bool first = byte == 0;
        if (!record::scan_record(line, record) ||
            !tracker.next(record, position.offset, position.rank) ||
            (first ? position.offset != segment.first() : position <= previous)) {
            scan.clean = false;
            scan.bad_byte = byte;
            break;
        }
        segment.add_to_index(position, byte, before);
        previous = position;
        if (tracker.at_boundary()) {
            scan.boundary_byte = lines.consumed();
            segment.last = position;
        }
    }
    if (scan.clean && lines.consumed() != scan.size) {
        scan.clean = false; // a torn last line
        scan.bad_byte = lines.consumed();
    }
    if (scan.boundary_byte != scan.size) scan.clean = false;
    std::erase_if(segment.index,
                  [&](const SegmentIndexEntry& entry) { return entry.byte >= scan.boundary_byte; });
    return scan;
}

} // namespace

void ChangeLog::Impl::write_identity(LogOffset new_start) {
    nlohmann::json json = {{"epoch", epoch},
                           {"system_id", identity.system_id},
                           {"database", identity.database},
                           {"slot", identity.slot},
                           {"start", new_start.str()}};
    write_file_durably(path_of("log.json"), json.dump() + "\n");
}

size_t ChangeLog::Impl::enforce_retention(std::chrono::system_clock::time_point now) {
    std::lock_guard lock(mutex);
    uint64_t total = 0;
    for (const SegmentPtr& segment : segments)
        total += segment->published();
    size_t drop = 0;
    // Never the last segment: the writer appends to it.
    while (drop + 1 < segments.size()) {
        const LogSegment& oldest = *segments[drop];
        struct stat st;
        bool too_old = true; // a segment whose file is gone is dropped from the list as well
        if (::stat(oldest.path().c_str(), &st) == 0) {
            const auto modified = std::chrono::system_clock::time_point(
                std::chrono::seconds(st.st_mtim.tv_sec) +
                std::chrono::duration_cast<std::chrono::system_clock::duration>(
                    std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
            too_old = modified + options.retain_age < now;
        }
        if (total <= options.retain_bytes && !too_old) break;
        total -= oldest.published();
        ++drop;
    }
    if (drop == 0) return 0;
    // The new start is durable before any file goes, so a crash in between cannot make a reader
    // skip records silently: recovery finishes the removal.
    const LogOffset new_start = segments[drop - 1]->last.offset;
    write_identity(new_start);
    for (size_t i = 0; i < drop; ++i) {
        if (::unlink(segments[i]->path().c_str()) != 0 && errno != ENOENT)
            throw_file_error("remove", segments[i]->path());
        log::debug("change log: dropped segment \"" + segments[i]->path() + "\"");
    }
    segments.erase(segments.begin(), segments.begin() + std::ptrdiff_t(drop));
    start = new_start;
    return drop;
}

void ChangeLog::Impl::recover() {
    std::vector<SegmentPtr> found;
    {
        std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(options.dir.c_str()), ::closedir);
        if (!dir) throw_file_error("open directory", options.dir);
        while (const dirent* entry = ::readdir(dir.get())) {
            const std::string name = entry->d_name;
            if (auto first = LogSegment::parse_file_name(name))
                found.push_back(std::make_shared<LogSegment>(path_of(name), *first));
            else if (name.ends_with(".tmp"))
                ::unlink(path_of(name).c_str());
        }
    }
    std::sort(found.begin(), found.end(),
              [](const SegmentPtr& a, const SegmentPtr& b) { return a->first() < b->first(); });

    for (size_t i = 0; i < found.size(); ++i) {
        LogSegment& segment = *found[i];
        const SegmentScan scan = scan_segment(segment);
        const bool last = i + 1 == found.size();
        if (!scan.clean && !last)
            throw Error("change log segment \"" + segment.path() + "\" is corrupt at byte " +
                            std::to_string(scan.bad_byte),
                        "Move the storage directory aside: pgsync-serve then starts a new log "
                        "and clients load their shapes again.");
        if (scan.boundary_byte < scan.size) {
            // A crash mid-transaction or mid-line: the slot resends that transaction.
            log::info("change log: cut " + std::to_string(scan.size - scan.boundary_byte) +
                      " bytes of an incomplete transaction from \"" + segment.path() + "\"");
            UniqueFd fd = open_file(segment.path(), O_WRONLY, "open");
            if (::ftruncate(fd.get(), off_t(scan.boundary_byte)) != 0)
                throw_file_error("truncate", segment.path());
            if (::fsync(fd.get()) != 0) throw_file_error("fsync", segment.path());
        }
        segment.publish(scan.boundary_byte);
    }
    if (!found.empty() && found.back()->published() == 0) {
        if (::unlink(found.back()->path().c_str()) != 0)
            throw_file_error("remove", found.back()->path());
        found.pop_back();
    }
    // Segments a retention pass had given up before a crash.
    while (!found.empty() && found.front()->last.offset <= start) {
        if (::unlink(found.front()->path().c_str()) != 0 && errno != ENOENT)
            throw_file_error("remove", found.front()->path());
        found.erase(found.begin());
    }
    if (::fsync(dir_fd.get()) != 0) throw_file_error("fsync", options.dir);

    segments = std::move(found);
    if (segments.empty()) {
        // Whatever retention gave up is not taken again when the stream resends it.
        end = appended = {start, 0};
        return;
    }
    current = segments.back();
    current_fd = open_file(current->path(), O_WRONLY | O_APPEND, "open");
    current_size = current->published();
    end = appended = current->last;
    rotate = current_size >= options.segment_bytes;
}

std::unique_ptr<ChangeLog> ChangeLog::open(const ChangeLogOptions& options,
                                           const LogIdentity& identity) {
    auto log = std::unique_ptr<ChangeLog>(new ChangeLog());
    log->m_impl = std::make_unique<Impl>();
    Impl& impl = *log->m_impl;
    impl.options = options;
    impl.identity = identity;
    const std::string& dir = options.dir;

    std::error_code error;
    const std::filesystem::path parent = std::filesystem::path(dir).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, error);
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
        throw_file_error("create storage directory", dir);
    impl.dir_fd = open_file(dir, O_RDONLY | O_DIRECTORY, "open storage directory");
    impl.lock_fd = open_file(impl.path_of("lock"), O_RDWR | O_CREAT, "create");
    if (::flock(impl.lock_fd.get(), LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            throw Error("storage directory \"" + dir + "\" is in use by another pgsync-serve",
                        "Stop the other pgsync-serve, or give this one its own --storage-dir.");
        throw_file_error("lock", impl.path_of("lock"));
    }

    // The stored identity; anything unreadable counts as none.
    bool same = false;
    {
        const std::string path = impl.path_of("log.json");
        std::FILE* file = std::fopen(path.c_str(), "rb");
        if (file) {
            std::string text;
            char buf[4096];
            size_t n;
            while ((n = std::fread(buf, 1, sizeof buf, file)) > 0)
                text.append(buf, n);
            std::fclose(file);
            try {
                const auto json = nlohmann::json::parse(text);
                const std::string epoch = json.at("epoch").get<std::string>();
                const auto start = LogOffset::parse(json.at("start").get<std::string>());
                same = is_epoch(epoch) && start &&
                       (options.epoch.empty() || epoch == options.epoch) &&
                       json.at("system_id").get<std::string>() == identity.system_id &&
                       json.at("database").get<std::string>() == identity.database &&
                       json.at("slot").get<std::string>() == identity.slot;
                if (same) {
                    impl.epoch = epoch;
                    impl.start = *start;
                }
            } catch (const nlohmann::json::exception&) {
                same = false;
            }
        }
    }
    if (same && options.discard) {
        log::warning("change log in \"" + dir +
                     "\" is discarded: the slot moved past what it holds; clients must refetch");
        same = false;
    }
    if (!same) {
        // The segments of another log (or of none known) are never served: remove them first, so
        // a crash before the new identity is written removes them again.
        std::unique_ptr<DIR, int (*)(DIR*)> listing(::opendir(dir.c_str()), ::closedir);
        if (!listing) throw_file_error("open directory", dir);
        size_t removed = 0;
        while (const dirent* entry = ::readdir(listing.get())) {
            if (!LogSegment::parse_file_name(entry->d_name)) continue;
            const std::string path = impl.path_of(entry->d_name);
            if (::unlink(path.c_str()) != 0) throw_file_error("remove", path);
            ++removed;
        }
        if (::fsync(impl.dir_fd.get()) != 0) throw_file_error("fsync", dir);
        if (removed)
            log::info("change log: removed " + std::to_string(removed) +
                      " segments of another slot or database from \"" + dir + "\"");
        impl.epoch = options.epoch.empty() ? new_epoch() : options.epoch;
        impl.start = LogOffset();
        impl.write_identity(impl.start);
    }
    impl.recover();
    return log;
}

ChangeLog::~ChangeLog() = default;

const std::string& ChangeLog::epoch() const {
    return m_impl->epoch;
}

LogOffset ChangeLog::start() const {
    std::lock_guard lock(m_impl->mutex);
    return m_impl->start;
}

LogOffset ChangeLog::end() const {
    std::lock_guard lock(m_impl->mutex);
    return m_impl->end.offset;
}

ChunkSink& ChangeLog::writer() {
    return *m_impl;
}

void ChangeLog::start_after(LogOffset after) {
    Impl& impl = *m_impl;
    std::lock_guard lock(impl.mutex);
    if (!impl.segments.empty() || !impl.end.offset.is_zero())
        throw Error("could not set the start of the change log in \"" + impl.options.dir +
                    "\": it is not empty");
    impl.write_identity(after);
    impl.start = after;
    impl.end = impl.appended = {after, 0};
}

void ChangeLog::on_append(std::function<void(const std::vector<LogRecord>&)> callback) {
    m_impl->on_append = std::move(callback);
}

size_t ChangeLog::enforce_retention(std::chrono::system_clock::time_point now) {
    return m_impl->enforce_retention(now);
}

uint64_t ChangeLog::size_bytes() const {
    std::lock_guard lock(m_impl->mutex);
    uint64_t total = 0;
    for (const SegmentPtr& segment : m_impl->segments)
        total += segment->published();
    return total;
}

} // namespace pgsync::serve
