// TxnBuffer: records of (u32 length, u32 sub_xid, message bytes), the same layout in memory and in
// a transaction's spill file, so spilling is one write and replay one sequential read.
#include "decode/txn_buffer.h"

#include "util/error.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <limits>
#include <unistd.h>
#include <unordered_set>
#include <utility>
#include <vector>

namespace pgsync::decode {
namespace {

constexpr size_t kHeaderBytes = 8; // u32 length, u32 sub_xid, host byte order (a private file)
constexpr size_t kMinBufferBytes = 256;
constexpr size_t kMaxWriteBufferBytes = 64 * 1024;
constexpr size_t kMinWriteBufferBytes = 64;
constexpr size_t kReadChunkBytes = 64 * 1024;

// Owns a file descriptor; closing it also frees an unlinked spill file's disk space.
class UniqueFd {
public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) : m_fd(fd) {}
    UniqueFd(UniqueFd&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}
    UniqueFd& operator=(UniqueFd&& other) noexcept {
        if (this != &other) {
            reset();
            m_fd = std::exchange(other.m_fd, -1);
        }
        return *this;
    }
    ~UniqueFd() { reset(); }
    int get() const { return m_fd; }
    explicit operator bool() const { return m_fd >= 0; }
    void reset() {
        if (m_fd >= 0) ::close(m_fd);
        m_fd = -1;
    }

private:
    int m_fd = -1;
};

std::string default_spill_directory() {
    const char* tmpdir = std::getenv("TMPDIR");
    return tmpdir && *tmpdir ? tmpdir : "/tmp";
}

[[noreturn]] void fail_io(const std::string& what, const std::string& directory, int error) {
    throw Error("could not " + what + " in spill directory \"" + directory +
                    "\": " + std::strerror(error),
                error == ENOSPC || error == EDQUOT
                    ? "Streamed transactions larger than the memory budget are spilled there: "
                      "free space in it, or choose another spill directory or a larger budget."
                    : "Choose a spill directory that exists, is writable and is on a healthy "
                      "local file system.");
}

// An unlinked file in `directory`: O_TMPFILE where the file system supports it, else mkstemp
// and unlink at once, so nothing is left behind even after a crash.
UniqueFd open_spill_file(const std::string& directory) {
    int fd = ::open(directory.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0) return UniqueFd(fd);
    if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
        fail_io("create a spill file", directory, errno);
    std::string path = directory + "/pgsync-spill-XXXXXX";
    fd = ::mkostemp(path.data(), O_CLOEXEC);
    if (fd < 0) fail_io("create a spill file", directory, errno);
    UniqueFd file(fd);
    if (::unlink(path.c_str()) != 0)
        fail_io("unlink spill file \"" + path + "\"", directory, errno);
    return file;
}

void write_all(int fd, const char* data, size_t size, const std::string& directory) {
    while (size > 0) {
        ssize_t n = ::write(fd, data, size);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail_io("write to a spill file", directory, errno);
        }
        data += n;
        size -= static_cast<size_t>(n);
    }
}

// Reads up to `size` bytes at `offset`; fewer only at the end of the file.
size_t read_at(int fd, char* data, size_t size, uint64_t offset, const std::string& directory) {
    size_t done = 0;
    while (done < size) {
        ssize_t n = ::pread(fd, data + done, size - done, static_cast<off_t>(offset + done));
        if (n < 0) {
            if (errno == EINTR) continue;
            fail_io("read a spill file", directory, errno);
        }
        if (n == 0) break;
        done += static_cast<size_t>(n);
    }
    return done;
}

void put_header(char* at, uint32_t length, uint32_t sub_xid) {
    std::memcpy(at, &length, 4);
    std::memcpy(at + 4, &sub_xid, 4);
}

void get_header(const char* at, uint32_t& length, uint32_t& sub_xid) {
    std::memcpy(&length, at, 4);
    std::memcpy(&sub_xid, at + 4, 4);
}

} // namespace

struct TxnBuffer::Transaction {
    // Not spilled: every record. Spilled: the records not yet written to `file`.
    std::unique_ptr<char[]> buffer;
    size_t size = 0;
    size_t capacity = 0;
    UniqueFd file;
    uint64_t file_bytes = 0;
    // Subtransactions in order of their first message, for "nested after it" on abort.
    std::unordered_map<uint32_t, uint64_t> sub_order;
    uint64_t next_order = 0;
    uint32_t last_sub = 0; // the previous append's sub_xid, already in sub_order
    // Aborted subtransactions: their records are gone from memory, skipped in the file, and
    // their later messages (which the server never sends) dropped.
    std::unordered_set<uint32_t> aborted;

    bool is_aborted(uint32_t sub) const { return !aborted.empty() && aborted.count(sub); }
};

TxnBuffer::TxnBuffer(size_t memory_budget, std::string spill_directory)
    : m_budget(memory_budget), m_write_buffer_bytes(std::clamp(
                                   memory_budget / 8, kMinWriteBufferBytes, kMaxWriteBufferBytes)),
      m_spill_directory(spill_directory.empty() ? default_spill_directory()
                                                : std::move(spill_directory)) {}

TxnBuffer::~TxnBuffer() = default;

TxnBuffer::Transaction* TxnBuffer::find(uint32_t top_xid) {
    if (m_last && m_last_xid == top_xid) return m_last;
    auto it = m_transactions.find(top_xid);
    if (it == m_transactions.end()) return nullptr;
    m_last_xid = top_xid;
    m_last = it->second.get();
    return m_last;
}

TxnBuffer::Transaction& TxnBuffer::get(uint32_t top_xid) {
    if (Transaction* txn = find(top_xid)) return *txn;
    auto& slot = m_transactions[top_xid];
    slot = std::make_unique<Transaction>();
    m_last_xid = top_xid;
    m_last = slot.get();
    return *slot;
}

bool TxnBuffer::spilled(uint32_t top_xid) const {
    auto it = m_transactions.find(top_xid);
    return it != m_transactions.end() && it->second->file;
}

void TxnBuffer::reserve(Transaction& txn, size_t capacity) {
    auto grown = std::unique_ptr<char[]>(new char[capacity]);
    if (txn.size > 0) std::memcpy(grown.get(), txn.buffer.get(), txn.size);
    m_memory_bytes += capacity - txn.capacity;
    txn.buffer = std::move(grown);
    txn.capacity = capacity;
}

void TxnBuffer::release_buffer(Transaction& txn) {
    m_memory_bytes -= txn.capacity;
    txn.buffer.reset();
    txn.size = 0;
    txn.capacity = 0;
}

void TxnBuffer::flush(Transaction& txn) {
    if (txn.size == 0) return;
    write_all(txn.file.get(), txn.buffer.get(), txn.size, m_spill_directory);
    txn.file_bytes += txn.size;
    txn.size = 0;
}

void TxnBuffer::spill(Transaction& txn) {
    txn.file = open_spill_file(m_spill_directory);
    flush(txn);
    release_buffer(txn);
}

// Spills (or, if already spilled, flushes and frees the write buffer of) the transaction holding
// the most memory until the total is within budget.
void TxnBuffer::enforce_budget() {
    while (m_memory_bytes > m_budget) {
        Transaction* largest = nullptr;
        for (auto& [xid, txn] : m_transactions)
            if (!largest || txn->capacity > largest->capacity) largest = txn.get();
        if (!largest || largest->capacity == 0) return;
        if (largest->file) {
            flush(*largest);
            release_buffer(*largest);
        } else {
            spill(*largest);
        }
    }
}

void TxnBuffer::append(uint32_t top_xid, uint32_t sub_xid, std::string_view message_bytes) {
    if (message_bytes.size() > std::numeric_limits<uint32_t>::max() - kHeaderBytes)
        throw Error("could not buffer a streamed message of " +
                    std::to_string(message_bytes.size()) + " bytes: too large");
    Transaction& txn = get(top_xid);
    if (sub_xid != txn.last_sub) {
        if (sub_xid != top_xid) {
            if (txn.is_aborted(sub_xid)) return;
            if (txn.sub_order.try_emplace(sub_xid, txn.next_order).second) ++txn.next_order;
        }
        txn.last_sub = sub_xid;
    }
    const size_t record = kHeaderBytes + message_bytes.size();
    const auto length = static_cast<uint32_t>(message_bytes.size());

    if (txn.file) {
        if (txn.size + record > m_write_buffer_bytes) flush(txn);
        if (record > m_write_buffer_bytes) {
            char header[kHeaderBytes];
            put_header(header, length, sub_xid);
            write_all(txn.file.get(), header, kHeaderBytes, m_spill_directory);
            write_all(txn.file.get(), message_bytes.data(), message_bytes.size(),
                      m_spill_directory);
            txn.file_bytes += record;
            return;
        }
        if (txn.capacity == 0) reserve(txn, m_write_buffer_bytes);
    } else if (txn.size + record > txn.capacity) {
        reserve(txn, std::max({txn.size + record, txn.capacity * 2, kMinBufferBytes}));
    }
    char* at = txn.buffer.get() + txn.size;
    put_header(at, length, sub_xid);
    std::memcpy(at + kHeaderBytes, message_bytes.data(), message_bytes.size());
    txn.size += record;
    if (m_memory_bytes > m_budget) enforce_budget();
}

void TxnBuffer::abort(uint32_t top_xid, uint32_t sub_xid) {
    Transaction* txn = find(top_xid);
    if (!txn) return;
    if (sub_xid == top_xid) {
        erase(top_xid);
        return;
    }
    txn->aborted.insert(sub_xid);
    txn->last_sub = 0;
    auto it = txn->sub_order.find(sub_xid);
    if (it == txn->sub_order.end()) return; // nothing of it is buffered
    const uint64_t first = it->second;
    for (auto entry = txn->sub_order.begin(); entry != txn->sub_order.end();) {
        if (entry->second >= first) {
            txn->aborted.insert(entry->first);
            entry = txn->sub_order.erase(entry);
        } else {
            ++entry;
        }
    }
    // In memory the records go now; in a spill file they stay and replay skips them.
    if (!txn->file) drop_aborted_in_memory(*txn);
}

void TxnBuffer::drop_aborted_in_memory(Transaction& txn) {
    char* data = txn.buffer.get();
    size_t kept = 0;
    for (size_t at = 0; at < txn.size;) {
        uint32_t length, sub;
        get_header(data + at, length, sub);
        size_t record = kHeaderBytes + length;
        if (!txn.is_aborted(sub)) {
            if (kept != at) std::memmove(data + kept, data + at, record);
            kept += record;
        }
        at += record;
    }
    txn.size = kept;
}

void TxnBuffer::replay(uint32_t top_xid,
                       const std::function<void(std::string_view message_bytes)>& fn) {
    Transaction* found = find(top_xid);
    if (!found) return;
    Transaction& txn = *found;
    auto deliver = [&](const char* record) {
        uint32_t length, sub;
        get_header(record, length, sub);
        if (!txn.is_aborted(sub)) fn(std::string_view(record + kHeaderBytes, length));
        return kHeaderBytes + length;
    };
    if (txn.file) {
        flush(txn);
        // A window over the file, refilled as records are consumed; grown for a record larger
        // than the window.
        std::vector<char> window(kReadChunkBytes);
        uint64_t file_at = 0; // file offset of window[filled]
        size_t begin = 0, filled = 0;
        auto ensure = [&](size_t need) {
            if (filled - begin >= need) return true;
            std::memmove(window.data(), window.data() + begin, filled - begin);
            filled -= begin;
            begin = 0;
            if (window.size() < need) window.resize(need);
            uint64_t left = txn.file_bytes - file_at;
            size_t want = static_cast<size_t>(std::min<uint64_t>(window.size() - filled, left));
            size_t got =
                read_at(txn.file.get(), window.data() + filled, want, file_at, m_spill_directory);
            file_at += got;
            filled += got;
            return filled >= need;
        };
        while (ensure(kHeaderBytes)) {
            uint32_t length, sub;
            get_header(window.data() + begin, length, sub);
            if (!ensure(kHeaderBytes + length)) break;
            begin += deliver(window.data() + begin);
        }
        if (begin != filled || file_at != txn.file_bytes)
            throw Error("could not read a spill file in spill directory \"" + m_spill_directory +
                        "\": it ends inside a record");
    }
    for (size_t at = 0; at < txn.size;)
        at += deliver(txn.buffer.get() + at);
}

void TxnBuffer::erase(uint32_t top_xid) {
    auto it = m_transactions.find(top_xid);
    if (it == m_transactions.end()) return;
    m_memory_bytes -= it->second->capacity;
    if (m_last == it->second.get()) m_last = nullptr;
    m_transactions.erase(it);
}

void TxnBuffer::clear() {
    m_transactions.clear();
    m_memory_bytes = 0;
    m_last = nullptr;
}

} // namespace pgsync::decode
