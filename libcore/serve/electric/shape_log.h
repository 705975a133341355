// ShapeLog: one Electric shape's own log, what every request of the shape is served from: its
// snapshot chunks (offsets 0_0, 0_1, ...) and then one entry per transaction that changed the
// shape (offset: the transaction's last change for the shape), each entry its messages as JSON
// objects, each preceded by a comma (so that entries concatenate into a JSON array's inside). The entries live in a file under the storage directory, appended
// only; memory holds 32 bytes per entry (offset, LSN, position, length). A request after an offset
// costs a binary search and one read of what it returns, however many changes of other shapes
// (or of the same table) the server's log holds since then.
#pragma once

#include "changelog/log_offset.h"

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace pgsync::serve::electric {

class ShapeLog {
public:
    // Creates (or empties) the file at path; throws pgsync::Error naming it on failure.
    explicit ShapeLog(std::string path);
    ~ShapeLog(); // closes and removes the file
    ShapeLog(const ShapeLog&) = delete;
    ShapeLog& operator=(const ShapeLog&) = delete;

    // Appends one entry, ",{...},{...}" (offset above every earlier one; lsn 0 for a snapshot
    // chunk). One
    // writer at a time; readers may read meanwhile. Throws pgsync::Error on a failed write.
    void append(LogOffset offset, Lsn lsn, std::string_view messages);

    struct Slice {
        std::string messages; // the entries' messages joined by commas (empty: none)
        LogOffset end;        // the last entry's offset (the `after` given when none)
        Lsn last_lsn;         // the last entry's LSN (0 for snapshot chunks or none)
        size_t entries = 0;
        bool at_end = false; // nothing after `end` (as of the read)
    };
    // The entries after `after`: a snapshot chunk alone, or transactions until their size
    // passes max_bytes (at least one). Any thread. Throws pgsync::Error on a failed read.
    Slice read_after(LogOffset after, size_t max_bytes) const;

    // The first entry alone (a snapshot's first chunk): what offset=-1 returns.
    Slice read_first() const;
    // The last entry's offset (zero when empty), and whether there is any entry after `after`.
    LogOffset end() const;
    bool has_after(LogOffset after) const;
    uint64_t bytes() const;
    size_t entries() const;

private:
    struct Entry {
        LogOffset offset;
        Lsn lsn;
        uint64_t position = 0;
        uint64_t length = 0;
    };
    size_t first_after(LogOffset after) const; // locked
    Slice read_range(size_t first, size_t max_bytes, bool alone) const;

    std::string m_path;
    int m_fd = -1;
    mutable std::mutex m_mutex; // m_entries and m_size
    std::vector<Entry> m_entries;
    uint64_t m_size = 0;
};

} // namespace pgsync::serve::electric
