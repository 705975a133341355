// Progress on stderr for a terminal: per table rows, rows/s, percent of pg_class.reltuples, ETA.
// Counters are atomics the workers bump; a background thread redraws one status line.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace pgsync::snapshot {

class Progress {
public:
    struct Table {
        std::string name;
        double estimated_rows = -1;
        std::atomic<uint64_t> rows{0};
        std::atomic<int> items_left{0};
        std::chrono::steady_clock::time_point started{};
        std::atomic<bool> started_flag{false};
    };

    Progress(std::vector<std::unique_ptr<Table>>& tables, bool enabled);
    ~Progress(); // stops the redraw thread

    void table_started(size_t table);
    // Called when one work item of the table ends; prints the table's summary when it was the last.
    void item_finished(size_t table);

private:
    void draw(bool final_line);
    std::string format_table(const Table& t, std::chrono::steady_clock::time_point now) const;

    std::vector<std::unique_ptr<Table>>& m_tables;
    bool m_enabled;
    std::mutex m_mutex;
    std::condition_variable m_wake;
    bool m_done = false;
    std::thread m_thread;
};

} // namespace pgsync::snapshot
