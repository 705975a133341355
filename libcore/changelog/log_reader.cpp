// Readers of the change log: from any retained offset, across segments, up to the bytes the
// writer has published, and on into segments created after they started.
#include "changelog/log_state.h"
#include "util/error.h"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <optional>
#include <unistd.h>

namespace pgsync::serve {

class ChangeLog::SegmentReader final : public ChangeLog::Reader {
public:
    SegmentReader(const ChangeLog::Impl& log, LogOffset after) : m_log(log), m_after(after) {}

    // Positions the reader for `after`; false when it is no longer retained. Under log.mutex.
    bool seek() {
        if (m_after < m_log.start) return false;
        if (m_log.segments.empty()) return true; // next() waits for the first segment
        auto it = std::upper_bound(
            m_log.segments.begin(), m_log.segments.end(), m_after,
            [](LogOffset after, const SegmentPtr& segment) { return after < segment->first(); });
        const SegmentPtr& segment = it == m_log.segments.begin() ? *it : *(it - 1);
        if (segment->index.empty()) {
            open(segment, 0, OffsetTracker());
        } else {
            const SegmentIndexEntry& entry = segment->seek(m_after);
            open(segment, entry.byte, entry.tracker);
        }
        return true;
    }

    bool next(LogRecord& out) override {
        if (m_expired) return false;
        for (;;) {
            if (m_lines) {
                std::string_view line;
                uint64_t byte = 0;
                while (m_lines->next(m_segment->published(), line, byte)) {
                    LogPosition position;
                    if (!record::scan_record(line, m_record) ||
                        !m_tracker.next(m_record, position.offset, position.rank))
                        throw Error("change log segment \"" + m_segment->path() +
                                    "\" is corrupt at byte " + std::to_string(byte));
                    if (position.offset <= m_after) continue;
                    out = {position.offset, line, m_record.xid, m_record.op == "commit"};
                    return true;
                }
            }
            if (!advance()) return false;
        }
    }

    bool expired() const override { return m_expired; }

private:
    // Moves to the next segment once this one is read to its end; false when there is none yet.
    bool advance() {
        std::lock_guard lock(m_log.mutex);
        if (!m_segment) {
            if (m_log.segments.empty()) return false;
            if (m_after < m_log.start) return expire();
            open(m_log.segments.front(), 0, OffsetTracker());
            return true;
        }
        auto it = std::upper_bound(
            m_log.segments.begin(), m_log.segments.end(), m_segment->first(),
            [](LogOffset first, const SegmentPtr& segment) { return first < segment->first(); });
        if (it == m_log.segments.end()) return false;
        // The writer publishes a segment's last bytes before it creates the next one.
        if (m_segment->published() > m_lines->consumed()) return true;
        // Retention dropped segments past this one before the reader got to them.
        if (m_log.start > m_segment->last.offset) return expire();
        open(*it, 0, OffsetTracker());
        return true;
    }

    bool expire() {
        m_expired = true;
        m_lines.reset();
        return false;
    }

    void open(const SegmentPtr& segment, uint64_t byte, const OffsetTracker& tracker) {
        int fd;
        do {
            fd = ::open(segment->path().c_str(), O_RDONLY | O_CLOEXEC);
        } while (fd < 0 && errno == EINTR);
        if (fd < 0) throw_file_error("open", segment->path());
        m_lines.emplace(UniqueFd(fd), segment->path(), byte);
        m_segment = segment;
        m_tracker = tracker;
    }

    const ChangeLog::Impl& m_log;
    const LogOffset m_after;
    SegmentPtr m_segment;
    std::optional<SegmentLines> m_lines;
    OffsetTracker m_tracker;
    record::ScannedRecord m_record;
    bool m_expired = false;
};

std::unique_ptr<ChangeLog::Reader> ChangeLog::read_after(LogOffset after) const {
    auto reader = std::make_unique<SegmentReader>(*m_impl, after);
    std::lock_guard lock(m_impl->mutex);
    if (!reader->seek()) return nullptr;
    return reader;
}
} // namespace pgsync::serve
