// TxnBuffer: the raw messages of streamed in-progress transactions (protocol 2+, streaming on),
// kept until Stream Commit or Stream Abort, in bounded memory with spill to unlinked temp files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

namespace pgsync::decode {

class TxnBuffer {
public:
    static constexpr size_t kDefaultMemoryBudget = size_t{16} << 20;

    // `memory_budget`: bytes of buffered messages kept in memory across all transactions; past
    // it the transaction holding the most is spilled to a file in `spill_directory` (empty:
    // $TMPDIR, else /tmp), and later appends to it go there through a small write buffer.
    explicit TxnBuffer(size_t memory_budget = kDefaultMemoryBudget,
                       std::string spill_directory = {});
    ~TxnBuffer();
    TxnBuffer(const TxnBuffer&) = delete;
    TxnBuffer& operator=(const TxnBuffer&) = delete;

    // Buffers one message of transaction `top_xid` (the Stream Start xid). `sub_xid` is the xid
    // the message carried: top_xid for top-level changes, else its subtransaction's. Messages of
    // a subtransaction already aborted are dropped. Throws pgsync::Error when a spill file
    // cannot be created or written.
    void append(uint32_t top_xid, uint32_t sub_xid, std::string_view message_bytes);

    // Stream Abort. sub_xid == top_xid drops the whole transaction. Otherwise drops the messages
    // of that subtransaction and of every subtransaction first seen after it (the ones nested in
    // it, cdc-hard-cases R7); earlier subtransactions and the top level keep theirs.
    void abort(uint32_t top_xid, uint32_t sub_xid);

    // Calls `fn` with each buffered message of the transaction, in append order. A view is valid
    // only during its call; `fn` must not modify this buffer. No messages: no calls.
    void replay(uint32_t top_xid, const std::function<void(std::string_view message_bytes)>& fn);
    // Forgets a transaction (after replay at Stream Commit), closing its spill file.
    void erase(uint32_t top_xid);
    // Forgets everything (on reconnect the server streams in-progress transactions again).
    void clear();

    // Bytes allocated for buffered messages in memory (in-memory transactions and the write
    // buffers of spilled ones). After append() returns it is at most the budget.
    size_t memory_bytes() const { return m_memory_bytes; }
    bool empty() const { return m_transactions.empty(); }
    size_t transaction_count() const { return m_transactions.size(); }
    bool spilled(uint32_t top_xid) const;
    const std::string& spill_directory() const { return m_spill_directory; }

private:
    struct Transaction;

    Transaction* find(uint32_t top_xid);
    Transaction& get(uint32_t top_xid);
    void reserve(Transaction& txn, size_t capacity);
    void release_buffer(Transaction& txn);
    void spill(Transaction& txn);
    void flush(Transaction& txn);
    void enforce_budget();
    void drop_aborted_in_memory(Transaction& txn);

    size_t m_budget;
    size_t m_write_buffer_bytes;
    std::string m_spill_directory;
    size_t m_memory_bytes = 0;
    std::unordered_map<uint32_t, std::unique_ptr<Transaction>> m_transactions;
    // The transaction of the previous append: consecutive changes mostly share it.
    uint32_t m_last_xid = 0;
    Transaction* m_last = nullptr;
};

} // namespace pgsync::decode
