// ChangeLog: pgsync-serve's durable log under --storage-dir. The replication stream writes native
// change records into it (it is the stream's ChunkSink); records are fsynced before the slot is
// confirmed, and every client resumes from it by LogOffset. Segment files of whole transactions,
// dropped whole by retention (size and age). An epoch names the log's identity: it changes when
// the log is recreated (new slot, other database, re-snapshot), so offsets from another life are
// refused, never silently resumed from (cdc-hard-cases F4).
//
// On disk: DIR/lock (flock), DIR/log.json (identity, epoch, start) and segment files named by their
// first record's offset (serve/log_segment.h) whose lines are the native records exactly, so
// `cat DIR/*.ndjson | jq` reads the whole log in order.
#pragma once

#include "changelog/log_offset.h"
#include "util/chunk_sink.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgsync::serve {

struct LogIdentity {       // what the log belongs to; stored in DIR/log.json
    std::string system_id; // IDENTIFY_SYSTEM's systemid
    std::string database;
    std::string slot;
};

struct ChangeLogOptions {
    std::string dir;
    uint64_t segment_bytes = 64ull << 20;           // a new segment after a commit past this size
    uint64_t retain_bytes = 1ull << 30;             // oldest segments dropped past this total
    std::chrono::seconds retain_age{7 * 24 * 3600}; // and segments whose last record is older
    bool discard = false; // start a new epoch even when the identity matches (the slot moved)
    // A replica's epoch, derived from its source (serve/ingest/replica_source.h) so that every
    // replica of one source has the same one; empty: a random epoch for each new log. A stored log
    // of another epoch is emptied like one of another identity.
    std::string epoch;
};

// One record as appended or read: its offset and its line (no newline). The views point into a
// buffer valid for the duration of the callback / until the next read. Offsets never decrease;
// consecutive relation records before one row share an offset (serve/log_offset.h), so a reader
// resuming after that offset skips all of them.
struct LogRecord {
    LogOffset offset;
    std::string_view line;
    uint32_t xid = 0;    // 0 for a non-transactional message
    bool commit = false; // the transaction's last record
};

class ChangeLog {
public:
    // Opens or creates the log in options.dir. When the stored identity differs from identity (or
    // there is none) the log is emptied and gets a new epoch; a torn last line (crash mid-write)
    // and an incomplete last transaction (the stream sends it again) are cut off. Throws
    // pgsync::Error naming the directory when it cannot be used (permissions, a second pgsync-serve
    // holding its lock).
    static std::unique_ptr<ChangeLog> open(const ChangeLogOptions& options,
                                           const LogIdentity& identity);
    ~ChangeLog();

    const std::string& epoch() const;
    // Records strictly after start() are retained (a zero offset when nothing was ever dropped);
    // end() is the last record's offset (zero when empty). Thread-safe.
    LogOffset start() const;
    LogOffset end() const;

    // The writer, for stream::run_stream: write() takes whole native-record lines, drops those at
    // or before end() (a replay after a restart), appends the rest and calls on_append for each
    // batch it appended (after write(2), before sync); sync() makes them durable. A failed write
    // (ENOSPC, EIO) throws pgsync::Error naming the file, and every later write or sync throws too:
    // reopen the log to recover. Set on_append before the writer is used.
    ChunkSink& writer();
    // For a log that is empty (end() is zero): records at or before after are declared dropped, so
    // that start() is after and a reader resuming before it is refused instead of silently reading
    // from a later record. A replica whose log begins mid-way through its source calls this before
    // the first write. Throws pgsync::Error when log.json cannot be written.
    void start_after(LogOffset after);
    void on_append(std::function<void(const std::vector<LogRecord>&)> callback);

    // A sequential reader of records strictly after `after`, across segments, safe while the
    // writer appends (it reads only what the writer has published). Returns null when `after` is
    // before start() (no longer retained). An `after` past end() is allowed (records a client saw
    // before a crash that the log had not synced come again): it reads from where offsets pass it.
    // A Reader must not outlive its ChangeLog; one Reader is used by one thread at a time.
    class Reader {
    public:
        virtual ~Reader() = default;
        // Fills out with the next record; false at the current end (call again later for more).
        // Throws pgsync::Error naming the file when a segment cannot be read.
        virtual bool next(LogRecord& out) = 0;
        // True once retention dropped a segment before this reader got to it: next() then returns
        // false for good, and the client must start over.
        virtual bool expired() const = 0;
    };
    std::unique_ptr<Reader> read_after(LogOffset after) const;

    // Drops whole segments past the retention limits; called by the writer after a rotation and
    // by the server on a timer. Returns the number of segments dropped.
    size_t enforce_retention(std::chrono::system_clock::time_point now);

    uint64_t size_bytes() const;

private:
    ChangeLog() = default;
    struct Impl;
    class SegmentReader;
    std::unique_ptr<Impl> m_impl;
};

} // namespace pgsync::serve
